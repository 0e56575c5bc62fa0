"""Configuration baselines over a fleet: diff, apply, status, sync, push.

The library calls behind ``edgeshade config ...`` and the ``config`` Ansible
module (results are FleetResults of munch SiteResults)::

    fleet = edgeshade.connect("edge-*")
    base = load("baseline.yaml", fleet)          # parse, render-once, version
    diff(fleet, base)                            # what differs, per site
    apply(fleet, base)                           # converge, in rollout waves
    status(fleet, base, cached=True)             # from the state store only
    sync(fleet)                                  # replay work deferred for offline sites

**Store-and-forward**: a site that cannot be reached during ``apply`` ends
``deferred`` and its work is queued in the journal (one entry per baseline and
site, holding the newest version only). ``sync`` — and any later ``apply`` —
replays it once the site answers: ``sync`` loads the baseline file again, so a
site that missed versions 3 and 4 gets version 4, never 3 then 4. Failed
replays back off exponentially per site (bounded attempts, see
:mod:`edgeshade.journal`). A site counts as **offline** only after
:data:`OFFLINE_AFTER` consecutive failed contacts; until then it is just
unreachable, and either way its last-known status is shown with its age.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from edgeshade.baseline import store as config_store
from edgeshade.errors import ConfigError
from edgeshade.journal import Journal
from edgeshade.render import Baseline, SiteConfig
from edgeshade.results import FleetResult, SiteResult, State
from edgeshade.rollout import Policy, Rollout
from edgeshade.state import StateStore

if TYPE_CHECKING:
    from edgeshade.config import FleetConfig, Site
    from edgeshade.fleet import Fleet, ProgressFn

#: Consecutive failed contacts after which a site is shown as offline.
OFFLINE_AFTER = 2
#: Live states meaning the site could not be asked.
_NO_CONTACT = {"unreachable", "timed_out", "auth_failed", "deferred", "cancelled", "skipped"}


# -- secrets ----------------------------------------------------------------------------


def secrets_for(config: FleetConfig) -> Callable[[Site], dict[str, str]]:
    """Per-site secrets from secure.yaml: ``clouds.<cloud>.edgeshade.secrets`` over the
    fleet-wide top-level ``edgeshade.secrets``. Values stay in memory only."""
    fleet_wide: dict[str, str] = {}
    if config.secure_path and os.path.exists(config.secure_path):
        with contextlib.suppress(OSError, yaml.YAMLError):
            with open(config.secure_path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
            section = doc.get("edgeshade") if isinstance(doc, dict) else None
            if isinstance(section, dict) and isinstance(section.get("secrets"), dict):
                fleet_wide = {str(k): str(v) for k, v in section["secrets"].items()}
    clouds = config.openstack_config.cloud_config.get("clouds", {})
    cache: dict[str, dict[str, str]] = {}

    def lookup(site: Site) -> dict[str, str]:
        found = cache.get(site.cloud)
        if found is None:
            extra = (clouds.get(site.cloud) or {}).get("edgeshade") or {}
            own = extra.get("secrets") if isinstance(extra, dict) else None
            found = dict(fleet_wide)
            if isinstance(own, dict):
                found.update({str(k): str(v) for k, v in own.items()})
            cache[site.cloud] = found
        return found

    return lookup


# -- loading and rendering ------------------------------------------------------------------


def load(path: str | os.PathLike[str] | Baseline, fleet: Fleet | None = None) -> Baseline:
    """Parse a baseline and give it its version (recorded in the fleet's state store)."""
    base = path if isinstance(path, Baseline) else Baseline.load(path)
    if fleet is not None and fleet.use_state and not base.version:
        with StateStore(fleet.state_dir) as store:
            base.version = config_store.register(store, base.name, base.file_hash,
                                                 os.path.abspath(base.path))
    return base


def render(base: Baseline, fleet: Fleet, sites: Iterable[Site] | None = None
           ) -> dict[str, SiteConfig]:
    """Every selected site's config; a bad baseline fails here, before any contact."""
    return base.render(fleet.sites if sites is None else sites, _secret_names(fleet))


def _secret_names(fleet: Fleet) -> Callable[[Site], Iterable[str]]:
    lookup = secrets_for(fleet.config)
    return lambda site: lookup(site).keys()


def identity_sites(fleet: Fleet) -> set[str]:
    """One site per cloud manages the cloud's Keystone types: its first selected region."""
    owners: dict[str, str] = {}
    for site in fleet.sites:
        owners.setdefault(site.cloud, site.name)
    return set(owners.values())


def _policy(base: Baseline) -> Policy:
    return Policy.from_mapping(base.rollout or None, where=f"{base.path}: rollout")


# -- diff and apply -------------------------------------------------------------------------


def diff(fleet: Fleet, baseline: str | Baseline, *, progress: ProgressFn | None = None
         ) -> FleetResult:
    """Per site, what differs from the baseline (nothing is changed)."""
    from edgeshade.tasks.config import config_diff

    base = load(baseline, fleet)
    configs = render(base, fleet)
    result = fleet.run(config_diff, progress=progress, baseline=base, configs=configs,
                       identity_sites=identity_sites(fleet))
    _record_checks(fleet, base, configs, result)
    return result


def apply(
    fleet: Fleet,
    baseline: str | Baseline,
    *,
    progress: ProgressFn | None = None,
    dry_run: bool = False,
    policy: Policy | None = None,
) -> FleetResult:
    """Converge every site in rollout waves; deferred sites are queued for :func:`sync`."""
    from edgeshade.tasks.config import config_apply

    base = load(baseline, fleet)
    configs = render(base, fleet)
    policy = policy or _policy(base)
    secrets = secrets_for(fleet.config)
    if dry_run:
        return fleet.run(config_apply, progress=progress, baseline=base, configs=configs,
                         identity_sites=identity_sites(fleet), dry_run=True)
    if not fleet.use_state:
        raise ConfigError("config apply needs the state store (journal, versions): "
                          "drop --no-state")
    with Journal.open(fleet.state_dir) as journal, journal.lock(base.op):
        close_interrupted(journal, base.op)
        applied = journal.site_versions(base.op)
        result = Rollout(fleet, policy).run(
            config_apply, progress=progress, baseline=base, configs=configs, journal=journal,
            secrets=secrets, applied=applied, identity_sites=identity_sites(fleet),
        )
        for r in result:
            if r.state == State.DEFERRED:
                journal.defer(base.op, r.site, str(base.version),
                              payload=_payload(base, configs[r.site]), error=r.reason)
            elif r.state == State.OK:
                journal.resolve(base.op, r.site)
        journal.store.record_run(result, health=False)  # drift is not sickness
        _record_checks(fleet, base, configs, result, store=journal.store, after_apply=True)
    return result


def close_interrupted(journal: Journal, op: str) -> int:
    """Close steps a crashed run left open (we hold the writer lock, so nobody runs them).

    Converging is a diff against what the site has now, so nothing needs undoing:
    the next apply or sync reads the site again and does only what is still missing.
    """
    stale = journal.open_steps(op)
    for step in stale:
        journal.end(step.id, error="interrupted: the run ended before this step finished; "
                                   "the site is read again on the next apply or sync")
    return len(stale)


def _payload(base: Baseline, cfg: SiteConfig) -> dict[str, Any]:
    return {"path": os.path.abspath(base.path), "baseline": base.name,
            "version": base.version, "hash": cfg.hash, "file_hash": base.file_hash}


def _record_checks(fleet: Fleet, base: Baseline, configs: Mapping[str, SiteConfig],
                   result: FleetResult, *, store: StateStore | None = None,
                   after_apply: bool = False) -> None:
    if not fleet.use_state:
        return
    rows = []
    for r in result:
        if r.state in _NO_CONTACT or "differences" not in r.data:
            continue
        if after_apply:  # only a site that ended converged is known to be in sync
            if r.state != State.OK:
                continue
            status, diffs = "in_sync", 0
        else:
            diffs = r.data.get("differences") or 0
            status = "in_sync" if not diffs else r.data.get("status") or "drifted"
        rows.append({"site": r.site, "status": status, "differences": diffs,
                     "hash": configs[r.site].hash, "version": base.version})
    if store is not None:
        config_store.record_status(store, base.name, rows)
        return
    with StateStore(fleet.state_dir) as own:
        config_store.record_status(own, base.name, rows)


# -- status ---------------------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def status(fleet: Fleet, baseline: str | Baseline, *, cached: bool = False,
           progress: ProgressFn | None = None) -> FleetResult:
    """Per site: in_sync / drifted (differences) / behind (applied < current) / unknown.

    Live (default): one read-only check per site. ``cached``: only the state
    store (journal, last checks, failed contacts); no site is contacted.
    """
    base = load(baseline, fleet)
    configs = render(base, fleet)
    if not fleet.use_state and cached:
        raise ConfigError("config status --cached reads the state store: drop --no-state")
    if cached:
        return _cached_status(fleet, base, configs)
    from edgeshade.tasks.config import config_diff

    applied: dict[str, Any] = {}
    if fleet.use_state:
        with Journal.open(fleet.state_dir) as journal:
            applied = journal.site_versions(base.op)
    result = fleet.run(config_diff, progress=progress, record=False,
                       baseline=base, configs=configs, identity_sites=identity_sites(fleet))
    if fleet.use_state:  # contacts count towards "offline"; drift is not the site's health
        with StateStore(fleet.state_dir) as store:
            store.record_run(result, health=False)
    for r in result:
        cfg = configs[r.site]
        last = applied.get(r.site)
        r.data.applied_version = int(last.version) if last and last.version else None
        r.data.current_version = base.version
        if r.state in (State.OK, State.WARNING) and "differences" in r.data:
            diffs = r.data.differences
            if not diffs:
                r.data.status = "in_sync"
            elif last is not None and (last.after or {}).get("hash") == cfg.hash:
                r.data.status = "drifted"
            else:
                r.data.status = "behind"
            r.data.contact = "online"
    _record_checks(fleet, base, configs, result)
    _fill_unknown(fleet, base, result)
    return result


def _fill_unknown(fleet: Fleet, base: Baseline, result: FleetResult) -> None:
    """Sites not answering: status unknown, offline after N failures, last-known + age."""
    if not fleet.use_state:
        for r in result:
            if "status" not in r.data:
                r.data.status = "unknown"
        return
    with StateStore(fleet.state_dir) as store:
        known = store.last_known([r.site for r in result])
        last = config_store.last_status(store, base.name)
    now = time.time()
    for r in result:
        if "status" in r.data:
            continue
        failures = int((known.get(r.site) or {}).get("failures") or 0)
        r.data.status = "unknown"
        r.data.contact = "offline" if failures >= OFFLINE_AFTER else "unreachable"
        r.data.failures = failures
        seen = last.get(r.site)
        if seen is not None:
            r.data.last_known = seen.status
            r.data.last_checked = seen.at
            r.data.age = _age(now - seen.at)


def _cached_status(fleet: Fleet, base: Baseline, configs: Mapping[str, SiteConfig]
                   ) -> FleetResult:
    t0 = time.monotonic()
    with Journal.open(fleet.state_dir) as journal:
        applied = journal.site_versions(base.op)
        pending = {p.site: p for p in journal.pending(base.op)}
        known = journal.store.last_known()
        last = config_store.last_status(journal.store, base.name)
    now = time.time()
    results = []
    for site in fleet.sites:
        cfg = configs[site.name]
        app = applied.get(site.name)
        seen = last.get(site.name)
        contact = known.get(site.name) or {}
        failures = int(contact.get("failures") or 0)
        data: dict[str, Any] = {
            "applied_version": int(app.version) if app and app.version else None,
            "current_version": base.version,
            "failures": failures,
            "contact": ("offline" if failures >= OFFLINE_AFTER
                        else "unreachable" if failures else "online" if contact else "never"),
            "pending": site.name in pending,
        }
        applied_hash = (app.after or {}).get("hash") if app else None
        if seen is not None:
            data.update(last_known=seen.status, last_checked=seen.at,
                        age=_age(now - seen.at), differences=seen.differences)
        queued = pending.get(site.name)
        if queued is not None and applied_hash != cfg.hash:
            status_, state = "behind", State.WARNING
            reason = f"version {queued.version} queued (deferred: site not reachable)"
        elif seen is None and app is None:
            status_, state, reason = "unknown", State.SKIPPED, "never checked"
        elif seen is not None and seen.hash == cfg.hash:
            status_ = seen.status
            state = State.OK if status_ == "in_sync" else State.WARNING
            reason = f"last checked {data['age']} ago"
        elif applied_hash == cfg.hash:
            status_, state, reason = "in_sync", State.OK, "applied (not checked since)"
        else:
            status_, state = "behind", State.WARNING
            reason = "the baseline changed since the last check"
        if failures >= 1 and status_ != "behind":
            reason = f"{data['contact']}: {reason}"
        data["status"] = status_
        results.append(SiteResult.make(site, state, reason, data=data))
    return FleetResult("config_status", results, elapsed=time.monotonic() - t0)


# -- store-and-forward replay -------------------------------------------------------------


def sync(fleet: Fleet, *, force: bool = False, progress: ProgressFn | None = None
         ) -> FleetResult:
    """Replay pending configuration work for the selected sites that are due.

    ``force``: ignore backoff and the attempt limit (the operator knows the
    site is back). Each baseline is loaded from its file again, so a site
    gets the newest version only.
    """
    from edgeshade.tasks.config import config_apply

    if not fleet.use_state:
        raise ConfigError("sync replays work queued in the state store: drop --no-state")
    t0 = time.monotonic()
    selected = {s.name: s for s in fleet.sites}
    results: list[SiteResult] = []
    with Journal.open(fleet.state_dir) as journal:
        entries = journal.pending() if force else journal.due()
        entries = [e for e in entries if e.op.startswith("config:") and e.site in selected
                   and (force or not e.stuck)]
        groups: dict[str, list[Any]] = {}
        for entry in entries:
            groups.setdefault(entry.op, []).append(entry)
        for op, items in groups.items():
            sites = [selected[e.site] for e in items]
            path = (items[-1].payload or {}).get("path")
            try:
                base = load(str(path), fleet)
                if base.op != op:
                    raise ConfigError(f"{path}: now holds baseline '{base.name}', not '{op}'")
                sub = fleet.with_sites(sites, processes=1)
                configs = render(base, sub)
            except ConfigError as exc:
                for site, entry in zip(sites, items, strict=True):
                    journal.retry_later(op, entry.site, str(exc))
                    results.append(SiteResult.make(site, State.ERROR, str(exc)))
                continue
            with journal.lock(op):
                close_interrupted(journal, op)
                applied = journal.site_versions(op)
                run = sub.run(config_apply, progress=progress, record=False, baseline=base,
                              configs=configs, journal=journal,
                              secrets=secrets_for(fleet.config), applied=applied,
                              identity_sites=identity_sites(sub))
            for r in run:
                if r.state == State.OK:
                    journal.resolve(op, r.site)
                else:
                    journal.retry_later(op, r.site, r.reason or r.state)
                r.data.replayed = op
                results.append(r)
            _record_checks(sub, base, configs, run, store=journal.store, after_apply=True)
        done = FleetResult("sync", results, elapsed=time.monotonic() - t0)
        if results:
            journal.store.record_run(done, health=False)
    return done


def pending(fleet: Fleet) -> list[Any]:
    """Queued configuration work (for ``config status`` and scripts)."""
    with Journal.open(fleet.state_dir) as journal:
        return [p for p in journal.pending() if p.op.startswith("config:")]
