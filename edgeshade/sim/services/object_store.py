"""Swift (``/v1/AUTH_{project}``): containers and objects with ETag and metadata.

Enough of the object-store API for configuration bundles: ``GET /info``,
account and container listings, container create/HEAD, object PUT/HEAD/GET/
DELETE. The ETag is the MD5 of the content, as in Swift; ``X-Object-Meta-*``
headers are kept and returned. Content bytes received by object PUTs are
counted (``object_bytes_in`` in ``/_sim/stats``) so a test can prove that an
unchanged bundle was not sent again. Object names are one path segment.
"""

from __future__ import annotations

import hashlib
import time
from email.utils import formatdate
from typing import Any

from aiohttp import web

from edgeshade.sim.config_state import SiteState, count_object_bytes, site_state
from edgeshade.sim.registry import AUTH_NONE, ApiError, Call, reply, route

SERVICE = "object-store"


def error_body(status: int, message: str) -> dict[str, Any]:
    """Swift answers errors as short HTML/text; JSON keeps the sim's clients simple."""
    return {"error": {"code": status, "message": message}}


def _state(call: Call) -> SiteState:
    return site_state(call.fleet, call.site.name)  # type: ignore[union-attr]


def _account_ok(call: Call) -> None:
    if call.params.get("account") != f"AUTH_{call.project_id}":
        raise ApiError(403, "Forbidden")


def _meta(headers: Any, prefix: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith(prefix)}


@route(SERVICE, "GET", "/info", auth=AUTH_NONE)
def info(call: Call) -> web.Response:
    return reply({"swift": {"version": "2.33.0", "max_file_size": 5368709122,
                            "container_listing_limit": 10000},
                  "slo": {"max_manifest_segments": 1000, "min_segment_size": 1}})


@route(SERVICE, "GET", "/v1/{account}")
def account(call: Call) -> web.Response:
    _account_ok(call)
    state = _state(call)
    listing = [{"name": name, "count": len(state.objects.get(name, {})),
                "bytes": sum(len(o["data"]) for o in state.objects.get(name, {}).values())}
               for name in sorted(state.containers)]
    return reply(listing)


@route(SERVICE, "PUT", "/v1/{account}/{container}")
def container_put(call: Call) -> web.Response:
    _account_ok(call)
    state = _state(call)
    name = call.params["container"]
    created = name not in state.containers
    state.containers.setdefault(name, {"meta": {}, "created": time.time()})
    state.objects.setdefault(name, {})
    state.containers[name]["meta"].update(_meta(call.request.headers, "x-container-meta-"))
    return web.Response(status=201 if created else 202)


@route(SERVICE, "HEAD", "/v1/{account}/{container}")
def container_head(call: Call) -> web.Response:
    _account_ok(call)
    state = _state(call)
    found = state.containers.get(call.params["container"])
    if found is None:
        raise ApiError(404, "Not Found")
    objects = state.objects.get(call.params["container"], {})
    headers = {"X-Container-Object-Count": str(len(objects)),
               "X-Container-Bytes-Used": str(sum(len(o["data"]) for o in objects.values())),
               **found["meta"]}
    return web.Response(status=204, headers=headers)


@route(SERVICE, "GET", "/v1/{account}/{container}")
def container_list(call: Call) -> web.Response:
    _account_ok(call)
    state = _state(call)
    if call.params["container"] not in state.containers:
        raise ApiError(404, "Not Found")
    objects = state.objects.get(call.params["container"], {})
    return reply([{"name": n, "hash": o["etag"], "bytes": len(o["data"]),
                   "content_type": o["type"], "last_modified": o["iso"]}
                  for n, o in sorted(objects.items())])


def _object(call: Call) -> dict[str, Any]:
    _account_ok(call)
    objects = _state(call).objects.get(call.params["container"])
    if objects is None or call.params["object"] not in objects:
        raise ApiError(404, "Not Found")
    return objects[call.params["object"]]


def _object_headers(obj: dict[str, Any]) -> dict[str, str]:
    return {"ETag": obj["etag"], "Content-Type": obj["type"],
            "Last-Modified": obj["last_modified"], "X-Timestamp": f"{obj['ts']:.5f}",
            **obj["meta"]}


@route(SERVICE, "PUT", "/v1/{account}/{container}/{object}")
async def object_put(call: Call) -> web.Response:
    _account_ok(call)
    state = _state(call)
    container = call.params["container"]
    if container not in state.containers:
        raise ApiError(404, "Not Found")
    data = await call.request.read()
    count_object_bytes(call.fleet, len(data))
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    expected = call.request.headers.get("ETag")
    if expected and expected.strip('"') != etag:
        raise ApiError(422, "Unprocessable Entity")
    now = time.time()
    state.objects[container][call.params["object"]] = {
        "data": data, "etag": etag, "ts": now,
        "type": call.request.headers.get("Content-Type") or "application/octet-stream",
        "meta": _meta(call.request.headers, "x-object-meta-"),
        "last_modified": formatdate(now, usegmt=True),
        "iso": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)),
    }
    return web.Response(status=201, headers={"ETag": etag, "Last-Modified":
                                             formatdate(now, usegmt=True)})


@route(SERVICE, "HEAD", "/v1/{account}/{container}/{object}")
def object_head(call: Call) -> web.Response:
    obj = _object(call)
    return web.Response(status=200, headers={**_object_headers(obj),
                                             "Content-Length": str(len(obj["data"]))})


@route(SERVICE, "GET", "/v1/{account}/{container}/{object}")
def object_get(call: Call) -> web.Response:
    obj = _object(call)
    return web.Response(body=obj["data"], headers=_object_headers(obj))


@route(SERVICE, "DELETE", "/v1/{account}/{container}/{object}")
def object_delete(call: Call) -> web.Response:
    _object(call)
    del _state(call).objects[call.params["container"]][call.params["object"]]
    return web.Response(status=204)
