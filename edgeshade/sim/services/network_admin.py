"""Neutron calls a configuration baseline makes: networks, subnets, routers and their
interfaces, security groups and rules, quotas.

Lists take Neutron's equality filters and paging (the read side of
:mod:`edgeshade.sim.services.network`); security groups embed their rules; a
new group gets Neutron's two egress rules; a router interface is a port with
``device_owner=network:router_interface``. Deleting a network with subnets,
or a subnet a router uses, is a 409 as in Neutron.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from edgeshade.sim.config_state import NETWORK_QUOTAS, SiteState, new_id, site_state
from edgeshade.sim.contents import Network
from edgeshade.sim.registry import ApiError, Call, empty, now_iso, reply, route
from edgeshade.sim.services.network import _collection, network_view

SERVICE = "network"


def _state(call: Call) -> SiteState:
    return site_state(call.fleet, call.site.name)  # type: ignore[union-attr]


async def _body(call: Call, key: str) -> dict[str, Any]:
    body = (await call.json() or {}).get(key)
    if not isinstance(body, dict):
        raise ApiError(400, f"Resource body required: '{key}'")
    return body


def _network(call: Call, net_id: str) -> Network:
    for net in call.contents.networks:
        if net.id == net_id:
            return net
    raise ApiError(404, f"Network {net_id} could not be found.")


# -- networks ------------------------------------------------------------------------------


@route(SERVICE, "POST", "/v2.0/networks")
async def network_create(call: Call) -> web.Response:
    body = await _body(call, "network")
    from datetime import UTC, datetime

    net = Network(new_id("net"), str(body.get("name") or ""),
                  body.get("project_id") or call.project_id, bool(body.get("router:external")),
                  bool(body.get("shared", False)), "vxlan", 100 + len(call.contents.networks),
                  None, int(body.get("mtu") or 1450), [], datetime.now(UTC))
    call.contents.networks.append(net)
    return reply({"network": network_view(net)}, status=201)


@route(SERVICE, "PUT", "/v2.0/networks/{id}")
async def network_update(call: Call) -> web.Response:
    body = await _body(call, "network")
    net = _network(call, call.params["id"])
    if "name" in body:
        net.name = str(body["name"] or "")
    if "mtu" in body:
        net.mtu = int(body["mtu"])
    if "shared" in body:
        net.shared = bool(body["shared"])
    return reply({"network": network_view(net)})


@route(SERVICE, "DELETE", "/v2.0/networks/{id}")
def network_delete(call: Call) -> web.Response:
    net = _network(call, call.params["id"])
    if any(s["network_id"] == net.id for s in _state(call).subnets.values()):
        raise ApiError(409, f"Unable to complete operation on network {net.id}. There are one "
                            "or more ports still in use on the network.")
    call.contents.networks.remove(net)
    return empty()


# -- subnets -------------------------------------------------------------------------------


def _subnet(call: Call, subnet_id: str) -> dict[str, Any]:
    found = _state(call).subnets.get(subnet_id)
    if found is None:
        raise ApiError(404, f"Subnet {subnet_id} could not be found.")
    return found


@route(SERVICE, "GET", "/v2.0/subnets")
def subnets(call: Call) -> web.Response:
    return _collection(call, "subnets", list(_state(call).subnets.values()), dict)


@route(SERVICE, "GET", "/v2.0/subnets/{id}")
def subnet_show(call: Call) -> web.Response:
    return reply({"subnet": _subnet(call, call.params["id"])})


@route(SERVICE, "POST", "/v2.0/subnets")
async def subnet_create(call: Call) -> web.Response:
    body = await _body(call, "subnet")
    net = _network(call, str(body.get("network_id")))
    try:
        cidr = ipaddress.ip_network(str(body.get("cidr")), strict=False)
    except ValueError:
        raise ApiError(400, f"Invalid input for cidr. Reason: '{body.get('cidr')}' is not a "
                            "valid IP subnet.") from None
    hosts = cidr.hosts()
    gateway = body["gateway_ip"] if "gateway_ip" in body else str(next(hosts))
    now = now_iso()
    subnet = {
        "id": new_id("subnet"), "name": str(body.get("name") or ""), "network_id": net.id,
        "cidr": str(cidr), "ip_version": int(body.get("ip_version") or cidr.version),
        "gateway_ip": gateway, "enable_dhcp": bool(body.get("enable_dhcp", True)),
        "dns_nameservers": list(body.get("dns_nameservers") or []),
        "allocation_pools": [{"start": str(cidr.network_address + 2),
                              "end": str(cidr.broadcast_address - 1)}],
        "host_routes": [], "description": body.get("description") or "",
        "project_id": call.project_id, "tenant_id": call.project_id, "tags": [],
        "ipv6_ra_mode": None, "ipv6_address_mode": None, "subnetpool_id": None,
        "service_types": [], "created_at": now, "updated_at": now, "revision_number": 0,
    }
    _state(call).subnets[subnet["id"]] = subnet
    net.subnet_ids.append(subnet["id"])
    return reply({"subnet": subnet}, status=201)


@route(SERVICE, "PUT", "/v2.0/subnets/{id}")
async def subnet_update(call: Call) -> web.Response:
    body = await _body(call, "subnet")
    subnet = _subnet(call, call.params["id"])
    for key in ("name", "gateway_ip", "enable_dhcp", "dns_nameservers", "description"):
        if key in body:
            subnet[key] = body[key]
    if "cidr" in body and body["cidr"] != subnet["cidr"]:
        raise ApiError(400, "Cannot update read-only attribute cidr")
    subnet["updated_at"] = now_iso()
    subnet["revision_number"] += 1
    return reply({"subnet": subnet})


@route(SERVICE, "DELETE", "/v2.0/subnets/{id}")
def subnet_delete(call: Call) -> web.Response:
    state = _state(call)
    subnet = _subnet(call, call.params["id"])
    if any(ip["subnet_id"] == subnet["id"] for p in state.ports.values()
           for ip in p["fixed_ips"]):
        raise ApiError(409, f"Unable to complete operation on subnet {subnet['id']}: One or "
                            "more ports have an IP allocation from this subnet.")
    del state.subnets[subnet["id"]]
    for net in call.contents.networks:
        if subnet["id"] in net.subnet_ids:
            net.subnet_ids.remove(subnet["id"])
    return empty()


# -- routers and ports -------------------------------------------------------------------


def _router(call: Call, router_id: str) -> dict[str, Any]:
    found = _state(call).routers.get(router_id)
    if found is None:
        raise ApiError(404, f"Router {router_id} could not be found.")
    return found


def _gateway(call: Call, info: Any) -> dict[str, Any] | None:
    if not info or not info.get("network_id"):
        return None
    _network(call, info["network_id"])
    return {"network_id": info["network_id"], "enable_snat": info.get("enable_snat", True),
            "external_fixed_ips": []}


@route(SERVICE, "GET", "/v2.0/routers")
def routers(call: Call) -> web.Response:
    return _collection(call, "routers", list(_state(call).routers.values()), dict)


@route(SERVICE, "GET", "/v2.0/routers/{id}")
def router_show(call: Call) -> web.Response:
    return reply({"router": _router(call, call.params["id"])})


@route(SERVICE, "POST", "/v2.0/routers")
async def router_create(call: Call) -> web.Response:
    body = await _body(call, "router")
    now = now_iso()
    router = {
        "id": new_id("router"), "name": str(body.get("name") or ""),
        "admin_state_up": bool(body.get("admin_state_up", True)), "status": "ACTIVE",
        "external_gateway_info": _gateway(call, body.get("external_gateway_info")),
        "description": body.get("description") or "", "routes": [], "distributed": False,
        "ha": False, "availability_zone_hints": [], "availability_zones": ["nova"],
        "project_id": call.project_id, "tenant_id": call.project_id, "tags": [],
        "flavor_id": None, "created_at": now, "updated_at": now, "revision_number": 1,
    }
    _state(call).routers[router["id"]] = router
    return reply({"router": router}, status=201)


@route(SERVICE, "PUT", "/v2.0/routers/{id}")
async def router_update(call: Call) -> web.Response:
    body = await _body(call, "router")
    router = _router(call, call.params["id"])
    for key in ("name", "admin_state_up", "description"):
        if key in body:
            router[key] = body[key]
    if "external_gateway_info" in body:
        router["external_gateway_info"] = _gateway(call, body["external_gateway_info"])
    router["revision_number"] += 1
    return reply({"router": router})


@route(SERVICE, "DELETE", "/v2.0/routers/{id}")
def router_delete(call: Call) -> web.Response:
    state = _state(call)
    router = _router(call, call.params["id"])
    if any(p["device_id"] == router["id"] for p in state.ports.values()):
        raise ApiError(409, f"Router {router['id']} still has ports")
    del state.routers[router["id"]]
    return empty()


@route(SERVICE, "PUT", "/v2.0/routers/{id}/add_router_interface")
async def router_add_interface(call: Call) -> web.Response:
    body = await call.json() or {}
    router = _router(call, call.params["id"])
    subnet = _subnet(call, str(body.get("subnet_id")))
    state = _state(call)
    for port in state.ports.values():
        if port["device_id"] == router["id"] and any(
            ip["subnet_id"] == subnet["id"] for ip in port["fixed_ips"]
        ):
            raise ApiError(400, f"Router already has a port on subnet {subnet['id']}")
    port = {
        "id": new_id("port"), "name": "", "network_id": subnet["network_id"],
        "device_id": router["id"], "device_owner": "network:router_interface",
        "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}],
        "status": "ACTIVE", "admin_state_up": True, "mac_address": "fa:16:3e:00:00:01",
        "project_id": call.project_id, "tenant_id": call.project_id, "tags": [],
        "security_groups": [], "created_at": now_iso(), "updated_at": now_iso(),
    }
    state.ports[port["id"]] = port
    return reply({"id": router["id"], "subnet_id": subnet["id"], "subnet_ids": [subnet["id"]],
                  "port_id": port["id"], "network_id": subnet["network_id"],
                  "tenant_id": call.project_id, "project_id": call.project_id})


@route(SERVICE, "PUT", "/v2.0/routers/{id}/remove_router_interface")
async def router_remove_interface(call: Call) -> web.Response:
    body = await call.json() or {}
    router = _router(call, call.params["id"])
    state = _state(call)
    for port in list(state.ports.values()):
        if port["device_id"] == router["id"] and (
            port["id"] == body.get("port_id")
            or any(ip["subnet_id"] == body.get("subnet_id") for ip in port["fixed_ips"])
        ):
            del state.ports[port["id"]]
            return reply({"id": router["id"], "port_id": port["id"],
                          "subnet_id": port["fixed_ips"][0]["subnet_id"]})
    raise ApiError(404, f"Router {router['id']} does not have an interface with that subnet")


@route(SERVICE, "GET", "/v2.0/ports")
def ports(call: Call) -> web.Response:
    return _collection(call, "ports", list(_state(call).ports.values()), dict)


# -- security groups -----------------------------------------------------------------------


def _group_view(state: SiteState, sg: dict[str, Any]) -> dict[str, Any]:
    return dict(sg, security_group_rules=[dict(r) for r in state.rules_of(sg["id"])])


def _group(call: Call, sg_id: str) -> dict[str, Any]:
    found = _state(call).security_groups.get(sg_id)
    if found is None:
        raise ApiError(404, f"Security group {sg_id} does not exist")
    return found


@route(SERVICE, "GET", "/v2.0/security-groups")
def security_groups(call: Call) -> web.Response:
    state = _state(call)
    state.default_group(call.project_id)
    return _collection(call, "security_groups", list(state.security_groups.values()),
                       lambda sg: _group_view(state, sg))


@route(SERVICE, "GET", "/v2.0/security-groups/{id}")
def security_group_show(call: Call) -> web.Response:
    state = _state(call)
    return reply({"security_group": _group_view(state, _group(call, call.params["id"]))})


@route(SERVICE, "POST", "/v2.0/security-groups")
async def security_group_create(call: Call) -> web.Response:
    body = await _body(call, "security_group")
    state = _state(call)
    sg = state.add_group(str(body.get("name") or ""), str(body.get("description") or ""),
                         body.get("project_id") or call.project_id)
    return reply({"security_group": _group_view(state, sg)}, status=201)


@route(SERVICE, "PUT", "/v2.0/security-groups/{id}")
async def security_group_update(call: Call) -> web.Response:
    body = await _body(call, "security_group")
    sg = _group(call, call.params["id"])
    for key in ("name", "description"):
        if key in body:
            sg[key] = body[key]
    sg["revision_number"] += 1
    return reply({"security_group": _group_view(_state(call), sg)})


@route(SERVICE, "DELETE", "/v2.0/security-groups/{id}")
def security_group_delete(call: Call) -> web.Response:
    state = _state(call)
    sg = _group(call, call.params["id"])
    for rule in state.rules_of(sg["id"]):
        del state.rules[rule["id"]]
    del state.security_groups[sg["id"]]
    return empty()


_RULE_KEYS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
              "remote_ip_prefix", "remote_group_id")


@route(SERVICE, "GET", "/v2.0/security-group-rules")
def security_group_rules(call: Call) -> web.Response:
    return _collection(call, "security_group_rules", list(_state(call).rules.values()), dict)


@route(SERVICE, "POST", "/v2.0/security-group-rules")
async def security_group_rule_create(call: Call) -> web.Response:
    body = await _body(call, "security_group_rule")
    state = _state(call)
    _group(call, str(body.get("security_group_id")))
    wanted = {k: body.get(k) for k in _RULE_KEYS}
    wanted.setdefault("direction", "ingress")
    for rule in state.rules_of(body["security_group_id"]):
        if all(rule.get(k) == v for k, v in wanted.items()):
            raise ApiError(409, f"Security group rule already exists. Rule id is {rule['id']}.")
    rule = state.add_rule(body, call.project_id)
    return reply({"security_group_rule": rule}, status=201)


@route(SERVICE, "DELETE", "/v2.0/security-group-rules/{id}")
def security_group_rule_delete(call: Call) -> web.Response:
    if _state(call).rules.pop(call.params["id"], None) is None:
        raise ApiError(404, f"Security group rule {call.params['id']} does not exist")
    return empty()


# -- quotas --------------------------------------------------------------------------------


@route(SERVICE, "GET", "/v2.0/quotas/{project_id}")
def quota_show(call: Call) -> web.Response:
    quotas = _state(call).network_quotas.setdefault(call.params["project_id"],
                                                     dict(NETWORK_QUOTAS))
    return reply({"quota": dict(quotas)})


@route(SERVICE, "PUT", "/v2.0/quotas/{project_id}")
async def quota_update(call: Call) -> web.Response:
    body = await _body(call, "quota")
    quotas = _state(call).network_quotas.setdefault(call.params["project_id"],
                                                     dict(NETWORK_QUOTAS))
    for key, value in body.items():
        if key not in NETWORK_QUOTAS:
            raise ApiError(400, f"Unrecognized attribute(s) '{key}'")
        quotas[key] = int(value)
    return reply({"quota": dict(quotas)})
