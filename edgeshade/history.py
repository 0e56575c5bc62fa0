"""Read-side queries over the state store's run history: transitions, trends, details.

The store keeps every run's per-site states (tables ``runs`` / ``run_sites``)
for the last :data:`edgeshade.state.HISTORY_RUNS` runs of any task; older
runs are pruned when a run is recorded. So ``history`` and ``changes`` reach
back as far as those runs do: 200 runs of ``status`` every 10 minutes cover
about 33 hours. ``site_state`` (last-known state, consecutive failures, last
success) is never pruned.

A *transition* is a run in which a site's state differs from its previous
recorded state. ``cancelled`` and ``skipped`` say nothing about the site and
are ignored, as the store ignores them for the last-known state.

The last result's details per site (hint, per-service states, the task's
table columns) go to the store's ``cache`` table (kind ``site_detail``), so
``edgeshade report --cached`` can show them without contacting any site.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edgeshade.state import HISTORY_RUNS, StateStore

__all__ = [
    "HISTORY_RUNS",
    "IGNORED_STATES",
    "load_details",
    "parse_since",
    "record_details",
    "site_detail",
    "site_history",
    "site_rows",
    "transitions",
    "trends",
]

#: States that say nothing about the site itself (not transitions).
IGNORED_STATES = ("cancelled", "skipped")
_DETAIL_KIND = "site_detail"
#: site_state columns every store has; any other column (versions of deployments,
#: configuration baselines, images, added by later features) is shown as-is.
_BASE_COLUMNS = {"site", "cloud", "region", "state", "reason", "task", "at", "last_ok", "failures"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``24h``, ``90m``, ``7d``, ``1w`` or ``30s`` before now, as a UNIX timestamp."""
    now = time.time() if now is None else now
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else "s"
    number = raw[:-1] if raw[-1:] in _UNITS else raw
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"'{text}' is not a duration (e.g. 24h, 90m, 7d)") from None
    if value < 0:
        raise ValueError(f"'{text}' is negative")
    return now - value * _UNITS[unit]


def site_history(store: StateStore, site: str, *, every_run: bool = False) -> list[dict[str, Any]]:
    """A site's state per recorded run, oldest first; only transitions unless ``every_run``.

    Each row: ``run``, ``at`` (run start), ``task``, ``state``, ``previous``
    (``None`` for the first record), ``reason``, ``elapsed``.
    """
    store.index_history_by_site()
    rows = store.query(
        "SELECT rs.run_id, r.started, r.task, rs.state, rs.reason, rs.elapsed "
        "FROM run_sites rs JOIN runs r ON r.id = rs.run_id WHERE rs.site = ? ORDER BY rs.run_id",
        (site,),
    )
    out: list[dict[str, Any]] = []
    previous: str | None = None
    for run_id, started, task, state, reason, elapsed in rows:
        if state in IGNORED_STATES and not every_run:
            continue
        changed = state != previous
        if every_run or changed:
            out.append(
                {
                    "run": run_id,
                    "at": started,
                    "task": task,
                    "site": site,
                    "previous": previous,
                    "state": state,
                    "reason": reason or "",
                    "elapsed": elapsed,
                }
            )
        if state not in IGNORED_STATES:
            previous = state
    return out


def transitions(
    store: StateStore,
    since: float,
    *,
    sites: Iterable[str] | None = None,
    include_new: bool = False,
) -> list[dict[str, Any]]:
    """Every state change in runs started at or after ``since``, oldest first.

    A site's state before the window comes from its last run before it, so a
    change at the window's first run is found too. ``include_new`` also lists
    sites recorded for the first time (``previous`` is ``None``).
    """
    wanted = set(sites) if sites is not None else None
    ignored = ",".join(f"'{s}'" for s in IGNORED_STATES)
    first = store.query("SELECT MIN(id) FROM runs WHERE started >= ?", (since,))
    first_id = first[0][0] if first else None
    if first_id is None:
        return []
    store.index_history_by_site()
    # SQLite returns the bare columns of the row holding MAX(): the last state before the window.
    before = store.query(
        f"SELECT site, state, MAX(run_id) FROM run_sites WHERE run_id < ? "
        f"AND state NOT IN ({ignored}) GROUP BY site",
        (first_id,),
    )
    previous: dict[str, str] = {site: state for site, state, _ in before}
    rows = store.query(
        f"SELECT rs.run_id, r.started, r.task, rs.site, rs.state, rs.reason "
        f"FROM run_sites rs JOIN runs r ON r.id = rs.run_id "
        f"WHERE rs.run_id >= ? AND rs.state NOT IN ({ignored}) ORDER BY rs.run_id, rs.site",
        (first_id,),
    )
    out: list[dict[str, Any]] = []
    for run_id, started, task, site, state, reason in rows:
        if wanted is not None and site not in wanted:
            continue
        before_state = previous.get(site)
        previous[site] = state
        if before_state == state or (before_state is None and not include_new):
            continue
        out.append(
            {
                "run": run_id,
                "at": started,
                "task": task,
                "site": site,
                "previous": before_state,
                "state": state,
                "reason": reason or "",
            }
        )
    return out


#: One letter per state in trend strings (``.``: the site was not in that run).
TREND_CODES = {
    "ok": "o",
    "warning": "w",
    "critical": "c",
    "unreachable": "u",
    "auth_failed": "a",
    "timed_out": "t",
    "error": "e",
    "cancelled": "x",
    "skipped": "s",
    "deferred": "d",
}


def trends(
    store: StateStore, sites: Iterable[str], *, runs: int = 30, task: str | None = None
) -> tuple[list[float], dict[str, str]]:
    """The last ``runs`` runs (of ``task``): their start times and one letter per site per run.

    Returns ``(started, {site: "oooowwc."})``, oldest first; sites with no
    record in any of those runs are left out.
    """
    if task is None:
        recent = store.query("SELECT id, started FROM runs ORDER BY id DESC LIMIT ?", (runs,))
    else:
        recent = store.query(
            "SELECT id, started FROM runs WHERE task = ? ORDER BY id DESC LIMIT ?",
            (task, runs),
        )
    recent.reverse()
    if not recent:
        return [], {}
    width = len(recent)
    ids = [run_id for run_id, _started in recent]
    position = {run_id: i for i, run_id in enumerate(ids)}
    cases = " ".join(f"WHEN '{state}' THEN '{code}'" for state, code in TREND_CODES.items())
    marks = ",".join("?" * width)
    # One row per site with its letters in run order: Python only touches sites, not rows.
    rows = store.query(
        f"SELECT site, group_concat(run_id, ','), group_concat(code, '') FROM ("
        f"  SELECT site, run_id, CASE state {cases} ELSE '?' END AS code FROM run_sites"
        f"  WHERE run_id IN ({marks}) ORDER BY site, run_id"
        f") GROUP BY site",
        ids,
    )
    wanted = set(sites)
    strips: dict[str, str] = {}
    for site, run_ids, codes in rows:
        if site not in wanted:
            continue
        if len(codes) == width:  # in every run: the letters are the strip
            strips[site] = codes
            continue
        strip = ["."] * width
        for run_id, code in zip(run_ids.split(","), codes, strict=True):
            strip[position[int(run_id)]] = code
        strips[site] = "".join(strip)
    return [started for _id, started in recent], strips


def site_rows(store: StateStore, sites: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """``site_state`` rows with every column the store has (versions included, when present)."""
    columns = [row[1] for row in store.query("PRAGMA table_info(site_state)")]
    if not columns:
        return {}
    rows = store.query(f"SELECT {', '.join(columns)} FROM site_state")
    known = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    for row in known.values():
        extra = {k: row.pop(k) for k in list(row) if k not in _BASE_COLUMNS}
        row["extra"] = {k: v for k, v in extra.items() if v is not None}
    if sites is None:
        return known
    return {s: known[s] for s in sites if s in known}


def site_detail(r: Any, columns: Mapping[str, Callable[[Any], Any]] | None) -> dict[str, Any]:
    """One answered site's hint, per-service results, checks, versions and table columns."""
    skip = {"Site", "State", "Reason"}
    data = r.get("data") or {}
    facts: dict[str, str] = {}
    for header, fn in (columns or {}).items():
        if header in skip:
            continue
        try:
            value = fn(r)
        except Exception:  # noqa: BLE001 - a column that does not fit this result
            continue
        if value not in (None, ""):
            facts[header] = str(value)
    detail: dict[str, Any] = {"hint": r.get("hint"), "facts": facts}
    if isinstance(data.get("services"), Mapping):
        detail["services"] = dict(data["services"])
    if isinstance(data.get("checks"), Mapping):
        detail["checks"] = {
            k: dict(v) for k, v in data["checks"].items() if isinstance(v, Mapping)
        }
    if isinstance(data.get("versions"), Mapping):
        detail["versions"] = {k: str(v) for k, v in data["versions"].items()}
    return detail


def record_details(
    store: StateStore, results: Iterable[Any], columns: Mapping[str, Callable[[Any], Any]] | None
) -> None:
    """Keep each answered site's :func:`site_detail` for ``--cached`` views."""
    items = {r.site: site_detail(r, columns) for r in results if r.state not in IGNORED_STATES}
    if items:
        store.cache_put(_DETAIL_KIND, items)


def load_details(store: StateStore) -> dict[str, dict[str, Any]]:
    """The details :func:`record_details` kept, per site."""
    return store.cache_get(_DETAIL_KIND)
