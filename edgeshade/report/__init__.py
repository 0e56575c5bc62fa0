"""The self-contained HTML fleet report (``edgeshade report``).

One file, no network: the page (``template.html``, package data) carries its
CSS and JavaScript inline and the fleet as embedded JSON, so it opens on an
air-gapped laptop and can be mailed or archived. Its Content-Security-Policy
forbids every fetch, so a report cannot phone home even by mistake.

The page draws a heat map of tiles, one per site, grouped by configured group,
cloud or region and coloured by state; counts per state double as toggles; a
filter box matches site, cloud, region, group, state and reason; clicking a
tile shows the site's reason, hint, per-service results, last-seen, recorded
versions and its trend over the last runs in the state store.

Sites are sent as compact arrays (``[name, cloud, region, groups, state
index, reason, details]``) so 10,000 sites stay a few megabytes and the page
builds its tiles in one ``innerHTML`` assignment.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from edgeshade.history import TREND_CODES, load_details, site_detail, site_rows, trends
from edgeshade.results import SEVERITY, FleetResult, SiteResult
from edgeshade.state import StateStore

__all__ = ["UNKNOWN", "build_report", "report_data", "write_report"]

#: State of a selected site the store has never seen (``--cached``).
UNKNOWN = "unknown"
STATES: tuple[str, ...] = (*(str(s) for s in SEVERITY), UNKNOWN)
_INDEX = {s: i for i, s in enumerate(STATES)}
_SKIP_FACTS = {"Site", "State", "Reason", "Time s"}


def _template() -> str:
    return resources.files(__name__).joinpath("template.html").read_text(encoding="utf-8")


def _compact_checks(checks: Mapping[str, Any]) -> dict[str, Any]:
    """``{"compute": "ok"}`` when a check has no reason, else ``{state, reason}``."""
    out: dict[str, Any] = {}
    for name, check in checks.items():
        if not isinstance(check, Mapping):
            continue
        state, reason = str(check.get("state", "")), str(check.get("reason") or "")
        out[name] = {"state": state, "reason": reason} if reason else state
    return out


def _detail_from_result(
    r: SiteResult, columns: Mapping[str, Callable[[Any], Any]] | None
) -> dict[str, Any]:
    """A live result shown exactly as ``--cached`` would show it later, plus its time."""
    elapsed = round(float(r.get("elapsed") or 0.0), 2)
    return {"elapsed": elapsed, **_detail_from_store(site_detail(r, columns))}


def _detail_from_store(kept: Mapping[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if kept.get("hint"):
        detail["hint"] = kept["hint"]
    if isinstance(kept.get("checks"), Mapping):
        detail["checks"] = _compact_checks(kept["checks"])
    if isinstance(kept.get("services"), Mapping):
        services = {k: str(v) for k, v in kept["services"].items() if v != "ok"}
        if services:
            detail["services"] = services
    if isinstance(kept.get("facts"), Mapping):
        facts = {k: str(v) for k, v in kept["facts"].items() if k not in _SKIP_FACTS}
        if facts:
            detail["facts"] = facts
    if isinstance(kept.get("versions"), Mapping):
        detail["versions"] = {k: str(v) for k, v in kept["versions"].items()}
    return detail


def _pack_all(details: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Checks and facts as positional strings/arrays over names sent once (a third the size).

    ``checks`` becomes one letter per name in ``check_names`` (the trend letters;
    ``-``: not run) plus ``check_reasons`` for the checks that said why;
    ``facts`` becomes a list aligned with ``fact_names``.
    """
    checks: dict[str, int] = {}
    facts: dict[str, int] = {}
    for detail in details:
        for name in detail.get("checks") or ():
            checks.setdefault(name, len(checks))
        for name in detail.get("facts") or ():
            facts.setdefault(name, len(facts))
    for detail in details:
        found = detail.pop("checks", None)
        if found:
            letters = ["-"] * len(checks)
            reasons = {}
            for name, check in found.items():
                state = check if isinstance(check, str) else check["state"]
                letters[checks[name]] = TREND_CODES.get(state, "?")
                if not isinstance(check, str) and check.get("reason"):
                    reasons[name] = check["reason"]
            detail["checks"] = "".join(letters).rstrip("-")
            if reasons:
                detail["check_reasons"] = reasons
        values = detail.pop("facts", None)
        if values:
            row = [""] * len(facts)
            for name, value in values.items():
                row[facts[name]] = value
            while row and row[-1] == "":
                row.pop()
            detail["facts"] = row
    return list(checks), list(facts)


def _summary_line(states: Iterable[str], elapsed: float | None) -> str:
    counts = Counter(states)
    total = sum(counts.values())
    order = ["ok", "warning", *[s for s in STATES if s not in ("ok", "warning")]]
    parts = ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))
    noun = "site" if total == 1 else "sites"
    tail = f" — {elapsed:.1f} s" if elapsed is not None else ""
    return f"{total} {noun}: {parts or 'none'}{tail}"


def _journal_versions(store: StateStore) -> dict[str, dict[str, str]]:
    """Deployment, baseline and image versions each site completed (the journal's view)."""
    from edgeshade.journal import Journal

    return Journal(store).completed_versions()


def report_data(
    sites: Sequence[Any],
    *,
    result: FleetResult | None = None,
    store: StateStore | None = None,
    columns: Mapping[str, Callable[[Any], Any]] | None = None,
    title: str | None = None,
    task: str = "status",
    trend_runs: int = 30,
    now: float | None = None,
) -> dict[str, Any]:
    """The report's data: live ``result`` where given, else the store's last-known state."""
    now = time.time() if now is None else now
    names = [s.name for s in sites]
    known = site_rows(store, names) if store is not None else {}
    by_name_live = (
        {r.site for r in result if r.state not in ("cancelled", "skipped")} if result else set()
    )
    # Kept details are only needed for sites without a live result (a --cached report).
    need_kept = store is not None and any(n not in by_name_live for n in names)
    kept = load_details(store) if need_kept else {}
    runs, strips = trends(store, names, runs=trend_runs, task=task) if store else ([], {})
    by_name = {r.site: r for r in result} if result is not None else {}
    versions = _journal_versions(store) if store is not None else {}
    rows: list[list[Any]] = []
    states: list[str] = []
    for site in sites:
        r = by_name.get(site.name)
        row = known.get(site.name) or {}
        if r is not None and r.state not in ("cancelled", "skipped"):
            state, reason = r.state, r.reason or ""
            detail = _detail_from_result(r, columns)
        elif row:
            state, reason = row["state"], row.get("reason") or ""
            detail = _detail_from_store(kept.get(site.name) or {})
        else:
            state = r.state if r is not None else UNKNOWN
            reason = (r.reason or "") if r is not None else "no result recorded for this site yet"
            detail = {}
        for key in ("at", "last_ok", "failures"):
            if row.get(key):
                detail[key] = round(row[key])
        extra = {**versions.get(site.name, {}), **(row.get("extra") or {})}
        if extra:
            detail["versions"] = {**{k: str(v) for k, v in extra.items()},
                                  **detail.get("versions", {})}
        if site.name in strips:
            detail["trend"] = strips[site.name]
        states.append(state)
        rows.append(
            [
                site.name,
                site.cloud,
                site.region or "",
                ",".join(site.groups),
                _INDEX.get(state, _INDEX[UNKNOWN]),
                reason,
                detail,
            ]
        )
    check_names, fact_names = _pack_all([row[6] for row in rows])
    source = "live" if result is not None else "cached"
    return {
        "title": title or f"edgeshade fleet report — {len(rows)} sites",
        "generated": round(now, 3),
        "source": source,
        "task": task,
        "summary": _summary_line(states, result.elapsed if result is not None else None),
        "states": list(STATES),
        "trend_codes": TREND_CODES,
        "runs": [round(t, 1) for t in runs],
        "check_names": check_names,
        "fact_names": fact_names,
        "has_groups": any(s.groups for s in sites),
        "sites": rows,
    }


def _escape_html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def build_report(sites: Sequence[Any], **kwargs: Any) -> str:
    """The complete HTML page for ``sites`` (keywords as :func:`report_data`)."""
    data = report_data(sites, **kwargs)
    # '<' only occurs inside JSON strings, where \u003c means the same: no '</script>' escape.
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    page = _template().replace("{{TITLE}}", _escape_html(data["title"]))
    return page.replace("{{DATA}}", payload)


def write_report(path: str | os.PathLike[str], html: str) -> None:
    """Write atomically: a reader (or a web server) never sees half a report."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(html)
    os.replace(tmp, path)
