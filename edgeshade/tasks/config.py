"""Configuration baseline tasks: diff and apply one site.

Each task reads the site once (every type of the baseline in parallel),
compares with the site's rendered config and, for ``config_apply``, converges
it. They know nothing about waves, other sites or pending work: that is
:mod:`edgeshade.baseline.api`. Site states: ``ok`` (in sync / converged),
``warning`` (differences found by a diff), ``critical`` (a change the site
refused, or a difference edgeshade cannot fix, such as a missing image).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from edgeshade.baseline.converge import Converger, ordered
from edgeshade.baseline.resources import Actual, Change, diff_site, site_types
from edgeshade.errors import SiteError
from edgeshade.render import Baseline, SiteConfig
from edgeshade.tasks import task

#: How many change lines a site's reason shows before "…".
REASON_CHANGES = 3


def _read(conn: Any, site: Any, baseline: Baseline, cfg: SiteConfig,
          identity_sites: Collection[str] | None
          ) -> tuple[dict[str, Any], list[Change], Actual]:
    resources = cfg.resources
    owner = identity_sites is None or site.name in identity_sites
    types = site_types(baseline.types, owner)
    quota_projects = {str(q.get("project") or "") for q in resources.get("quotas", [])}
    actual = Actual(conn, types, quota_projects)
    return resources, diff_site(resources, actual, baseline.prune, types), actual


def _summary(changes: list[Change]) -> str:
    texts = [c.describe() for c in changes[:REASON_CHANGES]]
    more = len(changes) - REASON_CHANGES
    return "; ".join(texts) + (f"; … {more} more" if more > 0 else "")


def _diff_text(changes: list[Change]) -> dict[str, str]:
    """Ansible-style before/after text of the changed fields."""
    before, after = [], []
    for c in changes:
        label = f"{c.type}/{c.name}" + (f".{c.field}" if c.field else "")
        before.append(f"{label}: {'(absent)' if c.action == 'create' else c.old}")
        after.append(f"{label}: {'(absent)' if c.action == 'delete' else c.new}")
    return {"before": "\n".join(before) + "\n" if before else "",
            "after": "\n".join(after) + "\n" if after else ""}


@task
def config_diff(conn: Any, site: Any, baseline: Baseline, configs: Mapping[str, SiteConfig],
                identity_sites: Collection[str] | None = None, **_: Any) -> dict[str, Any]:
    """What differs between the baseline and the site (changes nothing).

    ``identity_sites``: the sites that manage Keystone types for their cloud
    (default: every site).
    """
    cfg = configs[site.name]
    _resources, changes, _actual = _read(conn, site, baseline, cfg, identity_sites)
    return {
        "state": "warning" if changes else "ok",
        "reason": _summary(changes),
        "differences": len(changes),
        "changes": [c.to_dict() for c in changes],
        "version": baseline.version,
        "hash": cfg.hash,
    }


@task
def config_apply(
    conn: Any,
    site: Any,
    baseline: Baseline,
    configs: Mapping[str, SiteConfig],
    journal: Any = None,
    secrets: Callable[[Any], Mapping[str, str]] | None = None,
    applied: Mapping[str, Any] | None = None,
    identity_sites: Collection[str] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Converge the site to the baseline; ``dry_run``: the plan only.

    Every change is a journal step of ``baseline.op``; a site that ends in
    sync gets a ``complete`` step carrying the version and hash applied.
    """
    cfg = configs[site.name]
    resources, changes, actual = _read(conn, site, baseline, cfg, identity_sites)
    blocked = [c for c in changes if c.action == "error"]
    todo = ordered(changes)
    out: dict[str, Any] = {
        "version": baseline.version,
        "hash": cfg.hash,
        "differences": len(changes),
        "changes": [c.to_dict() for c in changes],
        "changed": bool(todo),
        "diff": _diff_text(todo),
    }
    if dry_run:
        out["reason"] = _summary(changes) if changes else ""
        return out
    converger = Converger(conn, actual, resources, secrets(site) if secrets else None)
    op, version = baseline.op, str(baseline.version)
    done = 0
    for change in todo:
        if journal is None:
            converger.apply(change)
        else:
            with journal.step(op, site.name, f"{change.action} {change.type}",
                              resource=f"{change.type}/{change.name}", version=version,
                              before={"field": change.field, "old": change.to_dict()["old"]}
                              ) as step:
                step.after = converger.apply(change)
        done += 1
    out["applied"] = done
    if blocked:
        raise SiteError(_summary(blocked), state="critical",
                        hint="fix the site or the baseline; edgeshade cannot create this")
    last = (applied or {}).get(site.name)
    fresh = last is None or last.version != version or (last.after or {}).get("hash") != cfg.hash
    if journal is not None and (todo or fresh):
        step_id = journal.begin(op, site.name, "complete", version=version)
        journal.end(step_id, after={"hash": cfg.hash, "changes": done})
    out["reason"] = f"{done} change(s) applied" if done else "in sync"
    return out
