"""Glance v2 writes: image create/update/delete, streamed upload, ``web-download`` import.

Why a module of its own: :mod:`~edgeshade.sim.services.image` answers the reads every
``status`` run makes; this one models what moving image *data* costs, which is what
image distribution is about:

* ``PUT /v2/images/{id}/file`` reads the body as a stream, hashes it (md5 ``checksum``,
  sha512 ``os_hash_value``, as Glance does) and keeps only the digests. Each site has a
  WAN link of :attr:`SimFleet.bandwidth_mbps` (0: unlimited) shared by every upload to
  that site: the handler reads no faster than the link, so TCP back-pressure slows the
  client exactly as a thin link would. Status ``queued -> saving -> active``.
* ``POST /v2/images/{id}/import`` with ``web-download`` fetches the URI (a mirror near
  the site: not limited by the site's WAN link) in the background: ``queued ->
  importing -> active``, or back to ``queued`` with ``os_glance_failed_import`` when the
  fetch fails, as Glance reports it. ``GET /v2/images/{id}/tasks`` lists the import tasks.
* ``GET /v2/info/import`` lists the import methods (``noimport`` sites lack
  ``web-download``).
* Faults: ``cut[:N]`` cuts the first N uploads to a site off halfway (the connection is
  dropped, the image stays ``saving``: the leftover a real interrupted upload leaves).

:func:`snapshot` feeds ``GET /_sim/stats`` under ``images``: bytes received per site
(uploads) and fetched per site (imports), uploads/imports started and finished, and
the most uploads in flight at once across the whole fleet.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from edgeshade.sim.contents import Image
from edgeshade.sim.registry import ApiError, Call, empty, now_iso, reply, route
from edgeshade.sim.services.image import SERVICE, image_view

if TYPE_CHECKING:
    from edgeshade.sim.model import SimFleet

#: Read size of upload bodies and mirror downloads.
CHUNK = 256 * 1024
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")
#: Attributes a create or PATCH may set directly (everything else is a property).
_SETTABLE = {"name", "visibility", "protected", "os_hidden", "min_disk", "min_ram",
             "disk_format", "container_format", "tags"}
_READ_ONLY = {"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
              "virtual_size", "owner", "created_at", "updated_at", "self", "file", "schema",
              "locations", "direct_url"}


class _Link:
    """One site's WAN link: bytes leave it no faster than ``rate`` (bytes/s), all uploads shared."""

    __slots__ = ("rate", "free_at")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = 0.0

    async def carry(self, size: int) -> None:
        if self.rate <= 0:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.free_at = max(now, self.free_at) + size / self.rate
        delay = self.free_at - now
        if delay > 0.001:
            await asyncio.sleep(delay)


class TransferStats:
    """Per fleet: what crossed each site's link, and upload concurrency."""

    def __init__(self) -> None:
        self.links: dict[str, _Link] = {}
        self.cuts: dict[str, int] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.import_tasks: dict[str, list[dict[str, Any]]] = {}
        self.reset()

    def reset(self) -> None:
        self.received: dict[str, int] = {}
        self.imported: dict[str, int] = {}
        self.uploads_started = 0
        self.uploads_done = 0
        self.uploads_cut = 0
        self.imports_started = 0
        self.imports_done = 0
        self.imports_failed = 0
        self.active = 0
        self.max_active = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "bytes_received": sum(self.received.values()),
            "received_by_site": dict(self.received),
            "bytes_imported": sum(self.imported.values()),
            "imported_by_site": dict(self.imported),
            "uploads_started": self.uploads_started,
            "uploads_done": self.uploads_done,
            "uploads_cut": self.uploads_cut,
            "uploads_in_flight": self.active,
            "max_concurrent_uploads": self.max_active,
            "imports_started": self.imports_started,
            "imports_done": self.imports_done,
            "imports_failed": self.imports_failed,
        }


_STATS: weakref.WeakKeyDictionary[SimFleet, TransferStats] = weakref.WeakKeyDictionary()


def stats_of(fleet: SimFleet) -> TransferStats:
    found = _STATS.get(fleet)
    if found is None:
        found = _STATS[fleet] = TransferStats()
    return found


def snapshot(fleet: SimFleet) -> dict[str, Any]:
    return stats_of(fleet).snapshot()


def reset(fleet: SimFleet) -> None:
    stats_of(fleet).reset()


# -- helpers --------------------------------------------------------------------------


def _find(call: Call) -> Image:
    for img in call.contents.images:
        if img.id == call.params["id"]:
            return img
    raise ApiError(404, f"No image found with ID {call.params['id']}")


def _has_fault(call: Call, kind: str) -> Any:
    assert call.site is not None
    for fault in call.fleet.faults_of(call.site.name):
        if fault.kind == kind and fault.applies_to(SERVICE):
            return fault
    return None


def _set(img: Image, key: str, value: Any) -> None:
    if key in _READ_ONLY:
        raise ApiError(403, f"Attribute '{key}' is read-only.")
    if key in _SETTABLE:
        setattr(img, key, list(value) if key == "tags" else value)
    elif value is None:
        img.properties.pop(key, None)
    else:
        if not isinstance(value, str):
            raise ApiError(400, f"Invalid value for property '{key}': must be a string")
        img.properties[key] = value


def _touch(img: Image) -> None:
    img.updated_at = datetime.now(UTC)


def new_image(call: Call, body: dict[str, Any]) -> Image:
    """A ``queued`` image with no data, as ``POST /v2/images`` makes it."""
    img = Image(str(body.get("id") or uuid.uuid4()), str(body.get("name") or ""),
                call.project_id, 0, str(body.get("disk_format") or "raw"),
                datetime.now(UTC), "", "")
    img.status = "queued"
    img.size = img.virtual_size = None  # type: ignore[assignment]
    img.checksum = img.os_hash_algo = img.os_hash_value = None  # type: ignore[assignment]
    img.visibility = "shared"
    for key, value in body.items():
        if key not in ("id", "disk_format"):
            _set(img, key, value)
    return img


# -- routes -----------------------------------------------------------------------------


@route(SERVICE, "GET", "/v2/info/import")
def info_import(call: Call) -> web.Response:
    methods = [m for m in IMPORT_METHODS
               if not (m == "web-download" and _has_fault(call, "noimport"))]
    return reply({"import-methods": {"description": "Import methods available.",
                                     "type": "array", "value": methods}})


@route(SERVICE, "POST", "/v2/images")
async def create(call: Call) -> web.Response:
    body = await call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "Image create expects a JSON object")
    if any(img.id == body.get("id") for img in call.contents.images):
        raise ApiError(409, f"Image with identifier {body['id']} already exists!")
    img = new_image(call, body)
    call.contents.images.append(img)
    return reply(image_view(img), status=201,
                 headers={"Location": call.link(f"/v2/images/{img.id}")})


@route(SERVICE, "PATCH", "/v2/images/{id}")
async def update(call: Call) -> web.Response:
    img = _find(call)
    ops = await call.json()
    if not isinstance(ops, list):
        raise ApiError(400, "Expected a JSON patch (a list of operations)")
    for op in ops:
        kind, path = op.get("op"), str(op.get("path", "")).lstrip("/")
        if kind in ("add", "replace"):
            _set(img, path, op.get("value"))
        elif kind == "remove":
            if path in _SETTABLE or path in _READ_ONLY:
                raise ApiError(403, f"Attribute '{path}' cannot be removed.")
            if path not in img.properties:
                raise ApiError(409, f"Property {path} does not exist.")
            del img.properties[path]
        else:
            raise ApiError(400, f"Unsupported patch operation '{kind}'")
    _touch(img)
    return reply(image_view(img))


@route(SERVICE, "DELETE", "/v2/images/{id}")
def delete(call: Call) -> web.Response:
    img = _find(call)
    if img.protected:
        raise ApiError(403, f"Image {img.id} is protected and cannot be deleted.")
    call.contents.images.remove(img)
    img.status = "deleted"
    return empty()


@route(SERVICE, "PUT", "/v2/images/{id}/tags/{tag}")
def add_tag(call: Call) -> web.Response:
    img = _find(call)
    if call.params["tag"] not in img.tags:
        img.tags.append(call.params["tag"])
        _touch(img)
    return empty()


@route(SERVICE, "PUT", "/v2/images/{id}/file")
async def upload(call: Call) -> web.StreamResponse:
    img = _find(call)
    if img.status != "queued":
        raise ApiError(409, f"Image status transition from {img.status} to saving is not allowed")
    assert call.site is not None
    site = call.site.name
    stats = stats_of(call.fleet)
    link = stats.links.get(site)
    if link is None:
        link = stats.links[site] = _Link(call.fleet.bandwidth_mbps * 1e6 / 8)
    length = call.request.content_length
    cut_at = None
    fault = _has_fault(call, "cut")
    if fault is not None and stats.cuts.get(site, 0) < int(fault.arg or 1):
        stats.cuts[site] = stats.cuts.get(site, 0) + 1
        cut_at = max(1, (length or 2 * CHUNK) // 2)
    img.status = "saving"
    _touch(img)
    stats.uploads_started += 1
    stats.active += 1
    stats.max_active = max(stats.max_active, stats.active)
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    got = 0
    try:
        async for chunk in call.request.content.iter_chunked(CHUNK):
            if cut_at is not None and got + len(chunk) >= cut_at:
                part = cut_at - got
                stats.received[site] = stats.received.get(site, 0) + part
                stats.uploads_cut += 1
                if call.request.transport is not None:
                    call.request.transport.abort()
                raise asyncio.CancelledError  # the client sees its connection dropped
            md5.update(chunk)
            sha512.update(chunk)
            got += len(chunk)
            stats.received[site] = stats.received.get(site, 0) + len(chunk)
            await link.carry(len(chunk))
    finally:
        stats.active -= 1
    if length is not None and got != length:
        img.status = "queued"
        raise ApiError(400, f"Image upload got {got} of {length} bytes")
    if img.status != "saving":  # deleted while uploading
        raise ApiError(410, "Image was deleted during the upload")
    img.size, img.virtual_size = got, got
    img.checksum, img.os_hash_algo, img.os_hash_value = md5.hexdigest(), "sha512", \
        sha512.hexdigest()
    img.status = "active"
    _touch(img)
    stats.uploads_done += 1
    return empty()


@route(SERVICE, "POST", "/v2/images/{id}/import")
async def import_image(call: Call) -> web.Response:
    img = _find(call)
    body = await call.json() or {}
    method = (body.get("method") or {}) if isinstance(body, dict) else {}
    name = method.get("name")
    if name != "web-download" or _has_fault(call, "noimport"):
        raise ApiError(400, f"Import method {name!r} is not available at this site")
    uri = method.get("uri")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise ApiError(400, "web-download needs an http(s) 'uri'")
    if img.status != "queued":
        raise ApiError(409, f"Image {img.id} is {img.status}, not queued")
    assert call.site is not None
    stats = stats_of(call.fleet)
    stats.imports_started += 1
    img.status = "importing"
    img.properties.pop("os_glance_failed_import", None)
    _touch(img)
    task = {"id": str(uuid.uuid4()), "type": "api_image_import", "status": "processing",
            "message": "", "image_id": img.id, "created_at": now_iso(),
            "updated_at": now_iso()}
    stats.import_tasks.setdefault(img.id, []).append(task)
    job = asyncio.get_running_loop().create_task(_fetch(stats, call.site.name, img, uri, task))
    stats.tasks.add(job)
    job.add_done_callback(stats.tasks.discard)
    return empty(202)


async def _fetch(stats: TransferStats, site: str, img: Image, uri: str,
                 task: dict[str, Any]) -> None:
    """web-download: the site pulls the image from ``uri`` (a mirror near it)."""
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    got = 0
    try:
        async with ClientSession(timeout=ClientTimeout(total=3600, sock_read=60)) as http, \
                http.get(uri) as resp:
            if resp.status != 200:
                raise ClientError(f"HTTP {resp.status} from {uri}")
            async for chunk in resp.content.iter_chunked(CHUNK):
                if img.status != "importing":
                    return  # deleted meanwhile
                md5.update(chunk)
                sha512.update(chunk)
                got += len(chunk)
                stats.imported[site] = stats.imported.get(site, 0) + len(chunk)
    except (TimeoutError, ClientError, OSError) as exc:
        stats.imports_failed += 1
        if img.status == "importing":
            img.status = "queued"
            img.properties["os_glance_failed_import"] = "local"
            _touch(img)
        task.update(status="failure", message=f"web-download failed: {exc}"[:255],
                    updated_at=now_iso())
        return
    if img.status != "importing":
        return
    img.size, img.virtual_size = got, got
    img.checksum, img.os_hash_algo, img.os_hash_value = md5.hexdigest(), "sha512", \
        sha512.hexdigest()
    img.status = "active"
    _touch(img)
    stats.imports_done += 1
    task.update(status="success", updated_at=now_iso())


@route(SERVICE, "GET", "/v2/images/{id}/tasks")
def image_tasks(call: Call) -> web.Response:
    img = _find(call)
    return reply({"tasks": list(stats_of(call.fleet).import_tasks.get(img.id, []))})
