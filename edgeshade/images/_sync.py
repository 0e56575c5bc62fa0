"""Image sync across a fleet: phases with the fleet settings each kind of work needs.

Why phases rather than one fleet run with a semaphore inside the task: a site
waiting for an upload slot would spend its deadline waiting, and an API call
and a 10 GB upload cannot share one deadline. So:

1. **plan** (every site; API concurrency, the fleet's ``timeout``): find the
   image by content, clean up leftovers, adopt copies under other names.
   Sites already in sync end here. ``dry_run`` stops here too.
2. **import** (sites needing the image, with ``mirror``; API concurrency,
   ``import_timeout`` per site): Glance ``web-download`` from the site's mirror,
   waiting for it to finish. Sites without the method (or whose import failed)
   go on to phase 3 when ``fallback`` allows.
3. **upload** (the rest; ``max_uploads`` sites at once, each with its own
   ``upload_timeout`` starting when *its* upload starts, an optional bandwidth
   cap shared by all): stream the file, verify Glance's hash.

Every site ends in one state of the returned FleetResult (task ``image_sync``),
in selection order. With the state store on, the run holds the writer lock of
operation ``image:<name>`` and journals create/upload/import/complete steps, so
a rerun knows the partial images an interrupted run left and removes (or
reuses) them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from munch import Munch

from edgeshade.config import Site
from edgeshade.errors import ConfigError
from edgeshade.fleet import Fleet
from edgeshade.images import _tasks as tasks
from edgeshade.images._source import ImageSource
from edgeshade.images._transfer import Bandwidth, Meter
from edgeshade.journal import Journal
from edgeshade.results import FleetResult, SiteResult, State

#: Uploads in flight at once unless told otherwise: a central link is shared.
DEFAULT_MAX_UPLOADS = 4
#: Per-site deadline of an import (the site downloads from its mirror).
DEFAULT_IMPORT_TIMEOUT = 1800.0
#: An upload's deadline when none is given: this much plus the size at MIN_RATE.
UPLOAD_BASE_SECONDS = 300.0
#: Slowest link rate (bytes/s) the default upload deadline allows for.
MIN_RATE = 256 * 1024

ProgressFn = Callable[[Munch], None]


def op_name(name: str) -> str:
    """Journal operation of image ``name``."""
    return f"image:{name}"


def upload_deadline(size: int, *, max_uploads: int, bandwidth_mbps: float | None) -> float:
    """Default per-upload deadline: a fixed allowance plus the size at the slowest rate.

    With a bandwidth cap, each of ``max_uploads`` uploads is sure of its share
    of it, so the allowance follows the cap when that is slower than MIN_RATE.
    """
    rate = float(MIN_RATE)
    if bandwidth_mbps:
        rate = min(rate, bandwidth_mbps * 1e6 / 8 / max(1, max_uploads))
    return UPLOAD_BASE_SECONDS + size / rate


def resolve_source(fleet: Fleet, *, file: str | None = None, url: str | None = None,
                   source: ImageSource | None = None,
                   disk_format: str | None = None) -> ImageSource:
    """The hashed image: ``source``, ``file`` (hash cached) or ``url`` (downloaded once)."""
    given = [x for x in (file, url, source) if x is not None]
    if len(given) != 1:
        raise ConfigError("image sync: give exactly one of file, url or source")
    if source is not None:
        return source
    store = fleet.store()
    try:
        if file is not None:
            return ImageSource.from_file(file, disk_format=disk_format, store=store)
        from edgeshade.state import default_state_dir

        directory = os.path.join(fleet.state_dir or str(default_state_dir()), "images")
        return ImageSource.from_url(url or "", directory, disk_format=disk_format)
    finally:
        if store is not None:
            store.close()


@contextlib.contextmanager
def _journal(fleet: Fleet, op: str, *, lock: bool) -> Iterator[Journal | None]:
    if not fleet.use_state:
        yield None
        return
    with Journal.open(fleet.state_dir) as journal:
        if lock:
            with journal.lock(op):
                yield journal
        else:
            yield journal


def _known_images(journal: Journal | None, op: str) -> dict[str, list[str]]:
    """Per site, image ids our earlier runs created (whatever became of them)."""
    known: dict[str, list[str]] = {}
    if journal is None:
        return known
    for step in journal.steps(op):
        if step.resource and step.action in ("create", "upload", "import"):
            known.setdefault(step.site, []).append(step.resource)
    return known


def sync(
    fleet: Fleet,
    name: str,
    *,
    file: str | None = None,
    url: str | None = None,
    source: ImageSource | None = None,
    disk_format: str | None = None,
    properties: Mapping[str, str] | None = None,
    visibility: str | None = None,
    adopt: str = "none",
    mirror: str | None = None,
    fallback: bool = True,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    bandwidth_mbps: float | None = None,
    upload_timeout: float | None = None,
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    stall_timeout: float = 120.0,
    stale_after: float = 3600.0,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> FleetResult:
    """Make every site of ``fleet`` hold image ``name`` with the content of the file.

    >>> result = edgeshade.images.sync(fleet, "ubuntu-24.04", file="noble.qcow2",
    ...                                max_uploads=8, bandwidth_mbps=500)
    >>> [r.data.action for r in result]   # in_sync, adopt, uploaded, imported

    Sites holding the same content (sha512 and md5) under any name are
    ``in_sync`` (with ``adopt="tag"`` they get our properties, ``"rename"`` also
    the name). ``mirror`` (``http://mirror-{{ site.vars.region_group }}/x.qcow2``)
    makes sites import from their mirror instead (``fallback``: upload where they
    cannot). ``max_uploads`` uploads run at once, sharing ``bandwidth_mbps``
    (None: no cap); each has ``upload_timeout`` seconds (default from the size,
    see :func:`upload_deadline`) and fails if its link moves no byte for
    ``stall_timeout``. ``progress(info)`` gets a Munch (``phase``, ``sites_done``,
    ``sites_total``, ``bytes_sent``, ``bytes_total``, ``result``) as sites finish
    and, during uploads, about four times a second.
    """
    if max_uploads < 1:
        raise ConfigError("max_uploads must be at least 1")
    if bandwidth_mbps is not None and bandwidth_mbps <= 0:
        raise ConfigError("bandwidth_mbps must be positive")
    options = tasks.SyncOptions(
        adopt=adopt, properties=dict(properties or {}), visibility=visibility, mirror=mirror,
        fallback=fallback, stale_after=stale_after, stall_timeout=stall_timeout,
    )
    src = resolve_source(fleet, file=file, url=url, source=source, disk_format=disk_format)
    op = op_name(name)
    base = fleet.with_sites(fleet.sites, processes=1)  # the journal and meter live here
    started = time.monotonic()
    final: dict[str, SiteResult] = {}
    total = len(base.sites)
    info = Munch(phase="plan", sites_done=0, sites_total=total, bytes_sent=0, bytes_total=0,
                 result=None)
    lock = threading.Lock()

    def report(result: SiteResult | None = None) -> None:
        if progress is None:
            return
        with lock:
            info.result = result
            progress(Munch(info))

    def site_done(result: SiteResult, _done: int = 0, _total: int = 0) -> None:
        final[result.site] = result
        info.sites_done += 1
        report(result)

    cancelled = False
    with _journal(base, op, lock=not dry_run) as journal:
        known = _known_images(journal, op)
        planned = base.run(
            tasks.plan, record=False, name=name, source=src, options=options, known=known,
            dry_run=dry_run,
            progress=lambda r, d, t: None if _needs_transfer(r, dry_run) else site_done(r),
        )
        cancelled = planned.cancelled
        plans = {r.site: dict(r.data) for r in planned}
        if journal is not None:
            _record_in_sync(journal, op, src, planned)
        pending = [r for r in planned if _needs_transfer(r, dry_run)]
        by_name = {s.name: s for s in base.sites}
        if cancelled:
            for r in pending:
                final[r.site] = SiteResult.make(by_name[r.site], State.CANCELLED,
                                                "cancelled before the transfer")
        to_upload: list[Site] = []
        if not (dry_run or cancelled) and pending:
            if mirror:
                info.phase = "import"
                imported = base.with_sites(
                    [by_name[r.site] for r in pending], timeout=import_timeout
                ).run(
                    tasks.web_download, record=False, name=name, source=src, options=options,
                    plans=plans, journal=journal, op=op,
                    progress=lambda r, d, t: None if r.data.get("action") == "fallback"
                    else site_done(r),
                )
                cancelled = imported.cancelled
                to_upload = [by_name[r.site] for r in imported
                             if r.data.get("action") == "fallback"]
                fallback_reason = {r.site: r.reason for r in imported}
            else:
                to_upload = [by_name[r.site] for r in pending]
                fallback_reason = {}
            if to_upload and not cancelled:
                info.phase = "upload"
                info.bytes_total = src.size * len(to_upload)
                meter = Meter(info.bytes_total, report=lambda sent, _t: _bytes(sent))

                def _bytes(sent: int) -> None:
                    info.bytes_sent = sent
                    report()

                transfer = tasks.Transfer(
                    bandwidth=Bandwidth.mbps(bandwidth_mbps) if bandwidth_mbps else None,
                    meter=meter,
                )
                deadline = upload_timeout or upload_deadline(
                    src.size, max_uploads=max_uploads, bandwidth_mbps=bandwidth_mbps)
                uploaded = base.with_sites(
                    to_upload, concurrency=max_uploads, timeout=deadline
                ).run(
                    tasks.upload, record=False, name=name, source=src, options=options,
                    plans=plans, transfer=transfer, journal=journal, op=op,
                    progress=site_done,
                )
                info.bytes_sent = meter.sent
                cancelled = cancelled or uploaded.cancelled
                for r in uploaded:
                    if r.site in fallback_reason and r.state == State.OK:
                        r.data["fallback"] = fallback_reason[r.site]
    results = []
    for site in base.sites:
        result = final.get(site.name)
        if result is None:
            result = SiteResult.make(site, State.CANCELLED, "not started: the run was cancelled")
        results.append(result)
    merged = FleetResult("image_sync", results, elapsed=time.monotonic() - started,
                         cancelled=cancelled)
    if fleet.use_state and not dry_run:
        store = fleet.store()
        if store is not None:
            with store:
                store.record_run(merged)
    return merged


def _needs_transfer(result: SiteResult, dry_run: bool) -> bool:
    return result.state == State.OK and result.data.get("action") == "transfer" and not dry_run


def _record_in_sync(journal: Journal, op: str, source: ImageSource, planned: FleetResult) -> None:
    """Journal sites found in sync, unless the journal already has them at this version."""
    known = journal.site_versions(op)
    for r in planned:
        same = r.data.get("image_id") == ((known.get(r.site) or {}).get("after") or {}).get(
            "image_id") and (known.get(r.site) or {}).get("version") == source.sha512
        if r.state == State.OK and r.data.get("action") in ("in_sync", "adopt") and not same:
            step = journal.begin(op, r.site, "complete", resource=r.data.get("image_id"),
                                 version=source.sha512)
            journal.end(step, after={"image_id": r.data.get("image_id"),
                                     "via": r.data.get("action")})


def status(fleet: Fleet, name: str, *, file: str | None = None, sha512: str | None = None,
           progress: Any = None) -> FleetResult:
    """Per site: the version of ``name`` held, missing sites, stale and partial copies.

    The wanted content is the file's hash (``file``), ``sha512``, or else the
    version the journal last synced; without any, each site's newest counts.
    """
    if file is not None:
        sha512 = resolve_source(fleet, file=file).sha512
    if sha512 is None and fleet.use_state:
        with Journal.open(fleet.state_dir) as journal:
            done = journal.site_versions(op_name(name))
        newest = max(done.values(), key=lambda v: v.at or 0, default=None)
        sha512 = newest.version if newest else None
    fleet = fleet.with_sites(fleet.sites, processes=1)
    result = fleet.run(tasks.status, progress=progress, name=name, sha512=sha512)
    result.task = "image_status"
    return result


def prune(fleet: Fleet, name: str, *, keep: int = 1, file: str | None = None,
          sha512: str | None = None, dry_run: bool = False, progress: Any = None) -> FleetResult:
    """Delete old versions of ``name`` beyond the newest ``keep`` that no server boots from."""
    if keep < 1:
        raise ConfigError("keep must be at least 1 (the current version always stays)")
    if file is not None:
        sha512 = resolve_source(fleet, file=file).sha512
    op = op_name(name)
    fleet = fleet.with_sites(fleet.sites, processes=1)
    with _journal(fleet, op, lock=not dry_run):
        result = fleet.run(tasks.prune, progress=progress, record=not dry_run, name=name,
                           keep=keep, sha512=sha512, dry_run=dry_run)
    result.task = "image_prune"
    return result


def ensure_image(
    fleet_or_sites: Fleet | Iterable[Site | str],
    spec: str | Mapping[str, Any],
    *,
    fleet: Fleet | None = None,
    **options: Any,
) -> FleetResult:
    """Make sure these sites hold the image before something uses it (a deployment wave).

    ``spec`` is the image name or the ``image: {sync: {...}}`` mapping of a
    deployment spec (``name`` plus any :func:`sync` keyword: ``file``, ``url``,
    ``mirror``, ``max_uploads``...); ``options`` override it. Sites may be a
    Fleet, or Site objects / site names of ``fleet``::

        ready = ensure_image(fleet, {"name": "app-2.3", "file": "app.qcow2"},
                             sites=wave_sites)
        ok = {r.site for r in ready if r.state == "ok"}
    """
    params = dict(spec) if isinstance(spec, Mapping) else {"name": spec}
    params.update(options)
    sites = params.pop("sites", None)
    unknown = set(params) - _SYNC_KEYS
    if unknown:
        raise ConfigError(f"image sync: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(_SYNC_KEYS))})")
    if "name" not in params or not isinstance(params["name"], str) or not params["name"]:
        raise ConfigError("image sync: 'name' is required")
    if isinstance(fleet_or_sites, Fleet):
        target = fleet_or_sites
    else:
        if fleet is None:
            raise ConfigError("ensure_image: give fleet= when passing sites")
        sites = fleet_or_sites
        target = fleet
    if sites is not None:
        wanted = {s.name if isinstance(s, Site) else str(s) for s in sites}
        missing = wanted - {s.name for s in target.sites}
        if missing:
            raise ConfigError(f"ensure_image: not in the fleet: {', '.join(sorted(missing))}")
        target = target.with_sites([s for s in target.sites if s.name in wanted])
    name = params.pop("name")
    return sync(target, name, **params)


_SYNC_KEYS = {
    "name", "file", "url", "source", "disk_format", "properties", "visibility", "adopt",
    "mirror", "fallback", "max_uploads", "bandwidth_mbps", "upload_timeout", "import_timeout",
    "stall_timeout", "stale_after", "dry_run", "progress",
}
