"""Cinder (``/v3/{project_id}``): version discovery and services.

Only sites with Cinder serve it (and list it in their catalog, as
``block-storage`` and ``volumev3``); elsewhere the path is a 404 like any
unknown URL. Microversions 3.0-3.71 via ``OpenStack-API-Version: volume X.Y``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edgeshade.sim.registry import (
    AUTH_NONE,
    ApiError,
    Call,
    iso,
    now_iso,
    parse_microversion,
    reply,
    route,
)
from edgeshade.sim.services.compute import error_body as _nova_style_error

SERVICE = "volume"
MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)


def error_body(status: int, message: str) -> dict[str, Any]:
    """Cinder shares Nova's fault format."""
    return _nova_style_error(status, message)


def _version(call: Call) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
        "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"href": "https://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
            {"href": f"{call.root}/v3/", "rel": "self"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


@route(SERVICE, "GET", "", auth=AUTH_NONE)
def versions(call: Call) -> web.Response:
    return reply({"versions": [_version(call)]}, status=300)


@route(SERVICE, "GET", "/v3", auth=AUTH_NONE)
def version(call: Call) -> web.Response:
    return reply({"versions": [_version(call)]})


def _mv(call: Call) -> tuple[tuple[int, int], dict[str, str]]:
    return parse_microversion(call, SERVICE, None, MIN_VERSION, MAX_VERSION)


def _services(call: Call) -> list[Any]:
    found = call.contents.volume_services
    if found is None:  # not in the catalog; the core 404s before this, but be safe
        raise ApiError(404, "The resource could not be found.")
    return found


@route(SERVICE, "GET", "/v3/{project_id}/os-services")
def services(call: Call) -> web.Response:
    mv, headers = _mv(call)
    binary, host = call.query.get("binary"), call.query.get("host")
    out = []
    for svc in _services(call):
        if (binary and svc.binary != binary) or (host and svc.host != host):
            continue
        item: dict[str, Any] = {
            "binary": svc.binary,
            "host": svc.host,
            "zone": svc.zone,
            "status": svc.status,
            "state": svc.state,
            "updated_at": iso(svc.updated_at, micro=True) if svc.updated_at else now_iso(),
            "disabled_reason": svc.disabled_reason,
        }
        if mv >= (3, 7):
            item["cluster"] = None
        if mv >= (3, 49) and svc.binary == "cinder-volume":
            item["backend_state"] = "up" if svc.state == "up" else "down"
        out.append(item)
    return reply({"services": out}, headers=headers)


def _volumes(call: Call) -> web.Response:
    _services(call)
    _mv_version, headers = _mv(call)
    return reply({"volumes": []}, headers=headers)  # no volumes yet: later work adds them


@route(SERVICE, "GET", "/v3/{project_id}/volumes")
def volumes(call: Call) -> web.Response:
    return _volumes(call)


@route(SERVICE, "GET", "/v3/{project_id}/volumes/detail")
def volumes_detail(call: Call) -> web.Response:
    return _volumes(call)
