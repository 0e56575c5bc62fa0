"""Neutron (``/v2.0``): version discovery, agents, networks.

The catalog URL is unversioned, as in real clouds: ``GET /`` lists v2.0,
``GET /v2.0`` lists resources. Lists accept Neutron's equality filters on any
plain field (``?binary=neutron-l3-agent&alive=false``) and ``limit``/``marker``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from edgeshade.sim.contents import Agent, Network
from edgeshade.sim.registry import (
    AUTH_NONE,
    ApiError,
    Call,
    iso,
    now_neutron,
    paginate,
    reply,
    route,
)

SERVICE = "network"
_TYPES = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden",
          404: "HTTPNotFound", 409: "HTTPConflict", 500: "HTTPInternalServerError",
          503: "HTTPServiceUnavailable"}
_RESOURCES = ("subnet", "network", "port", "router", "floatingip", "security_group", "agent")
_NOT_FILTERS = frozenset(("limit", "marker", "fields", "sort_key", "sort_dir", "page_reverse"))


def error_body(status: int, message: str) -> dict[str, Any]:
    """Neutron's fault format."""
    return {"NeutronError": {"type": _TYPES.get(status, "HTTPError"), "message": message,
                             "detail": ""}}


@route(SERVICE, "GET", "", auth=AUTH_NONE)
def versions(call: Call) -> web.Response:
    return reply({"versions": [{"id": "v2.0", "status": "CURRENT",
                                "links": [{"href": f"{call.root}/v2.0/", "rel": "self"}]}]})


@route(SERVICE, "GET", "/v2.0", auth=AUTH_NONE)
def resources(call: Call) -> web.Response:
    return reply({"resources": [
        {"name": name, "collection": f"{name}s",
         "links": [{"href": f"{call.root}/v2.0/{name}s", "rel": "self"}]}
        for name in _RESOURCES
    ]})


def _matches(item: dict[str, Any], filters: Sequence[tuple[str, str]]) -> bool:
    for key, want in filters:
        have = item.get(key, want)  # unknown fields do not filter, as in Neutron
        if isinstance(have, bool):
            if have != (want.lower() in ("true", "1")):
                return False
        elif have is None or str(have) != want:
            return False
    return True


def _collection(call: Call, key: str, items: Sequence[Any],
                view: Callable[[Any], dict[str, Any]]) -> web.Response:
    filters = [(k, v) for k, v in call.query.items() if k not in _NOT_FILTERS]
    rendered = [view(item) for item in items]
    if filters:
        rendered = [r for r in rendered if _matches(r, filters)]

    page, next_marker = paginate(rendered, call.query)
    body: dict[str, Any] = {key: page}
    if next_marker:
        body[f"{key}_links"] = [{"rel": "next", "href": call.link(
            f"/v2.0/{key}", limit=call.query.get("limit"), marker=next_marker)}]
    return reply(body)


def agent_view(agent: Agent) -> dict[str, Any]:
    created = agent.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return {
        "id": agent.id,
        "agent_type": agent.agent_type,
        "binary": agent.binary,
        "host": agent.host,
        "topic": agent.topic,
        "alive": agent.alive,
        "admin_state_up": agent.admin_state_up,
        "availability_zone": agent.availability_zone,
        "configurations": dict(agent.configurations),
        "created_at": created,
        "started_at": created,
        "heartbeat_timestamp": now_neutron() if agent.alive else created,
        "description": None,
        "resources_synced": None,
    }


@route(SERVICE, "GET", "/v2.0/agents")
def agents(call: Call) -> web.Response:
    return _collection(call, "agents", call.contents.agents, agent_view)


@route(SERVICE, "GET", "/v2.0/agents/{id}")
def agent_show(call: Call) -> web.Response:
    for agent in call.contents.agents:
        if agent.id == call.params["id"]:
            return reply({"agent": agent_view(agent)})
    raise ApiError(404, f"Agent {call.params['id']} could not be found.")


def network_view(net: Network) -> dict[str, Any]:
    created = iso(net.created_at)
    return {
        "id": net.id,
        "name": net.name,
        "tenant_id": net.project_id,
        "project_id": net.project_id,
        "admin_state_up": True,
        "status": "ACTIVE",
        "subnets": list(net.subnet_ids),
        "shared": net.shared,
        "router:external": net.external,
        "is_default": net.external,
        "mtu": net.mtu,
        "provider:network_type": net.network_type,
        "provider:physical_network": net.physical_network,
        "provider:segmentation_id": net.segmentation_id,
        "port_security_enabled": True,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "qos_policy_id": None,
        "l2_adjacency": True,
        "dns_domain": "",
        "description": "",
        "tags": [],
        "created_at": created,
        "updated_at": created,
        "revision_number": 1,
    }


@route(SERVICE, "GET", "/v2.0/networks")
def networks(call: Call) -> web.Response:
    return _collection(call, "networks", call.contents.networks, network_view)


@route(SERVICE, "GET", "/v2.0/networks/{id}")
def network_show(call: Call) -> web.Response:
    for net in call.contents.networks:
        if net.id == call.params["id"]:
            return reply({"network": network_view(net)})
    raise ApiError(404, f"Network {call.params['id']} could not be found.")
