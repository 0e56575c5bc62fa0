"""Glance (``/v2``): version discovery and images.

The catalog URL is unversioned: ``GET /`` answers 300 and ``GET /versions``
200 with v2.0-v2.16. Image lists page as Glance does: a relative ``next``
link whenever a page is full (so a client walking pages makes one last call
that returns nothing). Base images carry the same checksums on every site. Lists filter
on attributes (``name``, ``os_hash_value``, ``checksum``...), ``tag`` and, as Glance
does, on any other key as an image property. Writes are in
:mod:`~edgeshade.sim.services.image_transfer`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edgeshade.sim.contents import Image
from edgeshade.sim.registry import AUTH_NONE, ApiError, Call, int_param, iso, reply, route

SERVICE = "image"
_MINORS = range(16, -1, -1)  # v2.16 (CURRENT) down to v2.0
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 500: "Internal Server Error", 503: "Service Unavailable"}
DEFAULT_LIMIT = 25
#: Query keys that filter on an attribute; any other key but these filters on a property.
_ATTR_FILTERS = ("name", "status", "visibility", "owner", "disk_format", "checksum",
                 "os_hash_value", "id")
_NOT_FILTERS = frozenset({"limit", "marker", "sort_key", "sort_dir", "sort", "tag",
                          "member_status", "os_hidden"})
MAX_LIMIT = 1000


def error_body(status: int, message: str) -> dict[str, Any]:
    """Glance (webob) error format when JSON is asked for."""
    title = _TITLES.get(status, "Error")
    return {"code": f"{status} {title}", "title": title, "message": message}


def _versions(call: Call) -> dict[str, Any]:
    return {"versions": [
        {"id": f"v2.{minor}", "status": "CURRENT" if minor == _MINORS[0] else "SUPPORTED",
         "links": [{"rel": "self", "href": f"{call.root}/v2/"}]}
        for minor in _MINORS
    ]}


@route(SERVICE, "GET", "", auth=AUTH_NONE)
def versions_root(call: Call) -> web.Response:
    return reply(_versions(call), status=300)


@route(SERVICE, "GET", "/versions", auth=AUTH_NONE)
def versions(call: Call) -> web.Response:
    return reply(_versions(call))


def image_view(img: Image) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": img.id,
        "name": img.name,
        "status": img.status,
        "visibility": img.visibility,
        "protected": img.protected,
        "os_hidden": img.os_hidden,
        "checksum": img.checksum,
        "os_hash_algo": img.os_hash_algo,
        "os_hash_value": img.os_hash_value,
        "owner": img.owner,
        "size": img.size,
        "virtual_size": img.virtual_size,
        "min_ram": img.min_ram,
        "min_disk": img.min_disk,
        "disk_format": img.disk_format,
        "container_format": img.container_format,
        "created_at": iso(img.created_at),
        "updated_at": iso(img.updated_at),
        "tags": list(img.tags),
        "self": f"/v2/images/{img.id}",
        "file": f"/v2/images/{img.id}/file",
        "schema": "/v2/schemas/image",
    }
    out.update(img.properties)
    return out


@route(SERVICE, "GET", "/v2/images")
def images(call: Call) -> web.Response:
    q = call.query
    props = {k: v for k, v in q.items() if k not in _NOT_FILTERS and k not in _ATTR_FILTERS}
    found = [
        img for img in call.contents.images
        if all(q.get(k) is None or str(getattr(img, k)) == q[k] for k in _ATTR_FILTERS)
        and ("tag" not in q or all(t in img.tags for t in q.getall("tag")))
        and all(img.properties.get(k) == v for k, v in props.items())
    ]
    start = 0
    marker = q.get("marker")
    if marker:
        ids = [img.id for img in found]
        if marker not in ids:
            raise ApiError(400, f"Invalid marker. Image {marker} could not be found.")
        start = ids.index(marker) + 1
    limit = min(int_param(q, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT, MAX_LIMIT)
    page = found[start : start + limit]
    body: dict[str, Any] = {"images": [image_view(img) for img in page],
                            "schema": "/v2/schemas/images", "first": "/v2/images"}
    if page and len(page) == limit:
        body["next"] = f"/v2/images?marker={page[-1].id}&limit={limit}"
    return reply(body)


@route(SERVICE, "GET", "/v2/images/{id}")
def image_show(call: Call) -> web.Response:
    for img in call.contents.images:
        if img.id == call.params["id"]:
            return reply(image_view(img))
    raise ApiError(404, f"No image found with ID {call.params['id']}")
