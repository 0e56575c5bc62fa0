"""Nova (``/v2.1``): version discovery, hypervisors, services, servers, limits, flavors.

Microversions 2.1-2.96 are negotiated as Nova does (``OpenStack-API-Version:
compute X.Y``; none means 2.1) and change the shapes where openstacksdk
notices: integer ids before 2.53 and UUIDs after, no capacity fields on
hypervisors from 2.88 (so plain-JSON clients that want ``vcpus`` should not
ask for a microversion), embedded flavors from 2.47.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aiohttp import web

from edgeshade.sim.contents import Flavor, Hypervisor, Server, Service
from edgeshade.sim.registry import (
    AUTH_NONE,
    ApiError,
    Call,
    iso,
    now_iso,
    paginate,
    parse_microversion,
    reply,
    route,
    truthy,
)

SERVICE = "compute"
MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
_LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest",
                413: "overLimit", 429: "overLimit", 501: "notImplemented",
                503: "serviceUnavailable"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Nova's fault format: ``{"itemNotFound": {"code": 404, "message": ...}}``."""
    return {_FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}}


def _mv(call: Call) -> tuple[tuple[int, int], dict[str, str]]:
    return parse_microversion(call, SERVICE, _LEGACY_HEADER, MIN_VERSION, MAX_VERSION)


# -- discovery ---------------------------------------------------------------------------


def _version(call: Call) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
        "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{call.root}/v2.1/"}],
    }


@route(SERVICE, "GET", "", auth=AUTH_NONE)
def versions(call: Call) -> web.Response:
    return reply({"versions": [_version(call)]})


@route(SERVICE, "GET", "/v2.1", auth=AUTH_NONE)
def version(call: Call) -> web.Response:
    doc = _version(call)
    doc["links"].append(
        {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
    )
    doc["media-types"] = [
        {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
    ]
    return reply({"version": doc})


# -- hypervisors and services ---------------------------------------------------------------


def _hypervisor(hyp: Hypervisor, mv: tuple[int, int], detail: bool, call: Call) -> dict[str, Any]:
    svc = hyp.service
    new_ids = mv >= (2, 53)
    out: dict[str, Any] = {
        "id": hyp.uuid if new_ids else hyp.id,
        "hypervisor_hostname": hyp.hostname,
        "state": svc.state,
        "status": svc.status,
    }
    if not detail:
        return out
    out.update({
        "hypervisor_type": hyp.hypervisor_type,
        "hypervisor_version": hyp.hypervisor_version,
        "host_ip": hyp.host_ip,
        "service": {"host": svc.host, "id": svc.uuid if new_ids else svc.id,
                    "disabled_reason": svc.disabled_reason},
    })
    if mv >= (2, 88):
        out["uptime"] = " 12:00:00 up 42 days,  3:14,  0 users,  load average: 0.50, 0.40, 0.30"
        return out
    vcpus_used = ram_used = disk_used = vms = 0
    for server in call.contents.servers:
        if server.host is hyp and server.status != "ERROR":
            vcpus_used += server.flavor.vcpus
            ram_used += server.flavor.ram
            disk_used += server.flavor.disk
            vms += 1
    ram_used += 512  # reserved_host_memory_mb
    cpu_info = {"arch": "x86_64", "model": "Cascadelake-Server", "vendor": "Intel",
                "topology": {"cells": 2, "sockets": 1, "cores": hyp.vcpus // 4, "threads": 2},
                "features": ["avx2", "vmx"]}
    out.update({
        "vcpus": hyp.vcpus,
        "vcpus_used": vcpus_used,
        "memory_mb": hyp.memory_mb,
        "memory_mb_used": ram_used,
        "free_ram_mb": hyp.memory_mb - ram_used,
        "local_gb": hyp.local_gb,
        "local_gb_used": disk_used,
        "free_disk_gb": hyp.local_gb - disk_used,
        "disk_available_least": hyp.local_gb - disk_used,
        "running_vms": vms,
        "current_workload": 0,
        "cpu_info": cpu_info if mv >= (2, 28) else json.dumps(cpu_info),
    })
    return out


def _hypervisors(call: Call, detail: bool) -> web.Response:
    mv, headers = _mv(call)
    hyps = call.contents.hypervisors
    pattern = call.query.get("hypervisor_hostname_pattern")
    if pattern:
        hyps = [h for h in hyps if pattern in h.hostname]
    body: dict[str, Any] = {}
    if mv >= (2, 33):
        hyps, next_marker = paginate(hyps, call.query, key="uuid" if mv >= (2, 53) else "id")
        if next_marker:
            path = "/v2.1/os-hypervisors" + ("/detail" if detail else "")
            body["hypervisors_links"] = [{"rel": "next", "href": call.link(
                path, limit=call.query.get("limit"), marker=next_marker)}]
    body["hypervisors"] = [_hypervisor(h, mv, detail, call) for h in hyps]
    return reply(body, headers=headers)


@route(SERVICE, "GET", "/v2.1/os-hypervisors")
def hypervisors(call: Call) -> web.Response:
    return _hypervisors(call, detail=False)


@route(SERVICE, "GET", "/v2.1/os-hypervisors/detail")
def hypervisors_detail(call: Call) -> web.Response:
    return _hypervisors(call, detail=True)


@route(SERVICE, "GET", "/v2.1/os-hypervisors/{id}")
def hypervisor_show(call: Call) -> web.Response:
    mv, headers = _mv(call)
    wanted = call.params["id"]
    for hyp in call.contents.hypervisors:
        if wanted in (hyp.uuid, str(hyp.id)):
            return reply({"hypervisor": _hypervisor(hyp, mv, True, call)}, headers=headers)
    raise ApiError(404, f"Hypervisor with ID {wanted} could not be found.")


def service_view(svc: Service, new_ids: bool, forced_down: bool) -> dict[str, Any]:
    out = {
        "id": svc.uuid if new_ids else svc.id,
        "binary": svc.binary,
        "host": svc.host,
        "zone": svc.zone,
        "status": svc.status,
        "state": svc.state,
        "updated_at": iso(svc.updated_at, micro=True) if svc.updated_at else now_iso(),
        "disabled_reason": svc.disabled_reason,
    }
    if forced_down:
        out["forced_down"] = svc.forced_down
    return out


@route(SERVICE, "GET", "/v2.1/os-services")
def services(call: Call) -> web.Response:
    mv, headers = _mv(call)
    binary, host = call.query.get("binary"), call.query.get("host")
    found = [
        service_view(s, mv >= (2, 53), mv >= (2, 11))
        for s in call.contents.compute_services
        if (binary is None or s.binary == binary) and (host is None or s.host == host)
    ]
    return reply({"services": found}, headers=headers)


# -- servers -----------------------------------------------------------------------------

_VM_STATE = {"ACTIVE": ("active", 1), "SHUTOFF": ("stopped", 4), "ERROR": ("error", 0),
             "BUILD": ("building", 0), "PAUSED": ("paused", 3), "SUSPENDED": ("suspended", 7)}


def _server_links(call: Call, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{call.root}/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{call.root}/{kind}/{ident}"}]


def _flavor_ref(call: Call, flavor: Flavor, mv: tuple[int, int]) -> dict[str, Any]:
    if mv >= (2, 47):
        return {"vcpus": flavor.vcpus, "ram": flavor.ram, "disk": flavor.disk,
                "ephemeral": flavor.ephemeral, "swap": flavor.swap,
                "original_name": flavor.name, "extra_specs": dict(flavor.extra_specs)}
    return {"id": flavor.id, "links": [{"rel": "bookmark",
                                        "href": f"{call.root}/flavors/{flavor.id}"}]}


def server_view(call: Call, server: Server, mv: tuple[int, int]) -> dict[str, Any]:
    vm_state, power = _VM_STATE.get(server.status, ("active", 1))
    host = server.host
    created = iso(server.created)
    addresses = {}
    if server.ip:
        addresses[server.network] = [{"version": 4, "addr": server.ip, "OS-EXT-IPS:type": "fixed",
                                      "OS-EXT-IPS-MAC:mac_addr": server.mac}]
    host_id = ""
    if host is not None:
        host_id = hashlib.sha224(f"{server.project_id}{host.hostname}".encode()).hexdigest()
    out: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": dict(server.metadata),
        "hostId": host_id,
        "image": {"id": server.image_id, "links": [
            {"rel": "bookmark", "href": f"{call.root}/images/{server.image_id}"}]},
        "flavor": _flavor_ref(call, server.flavor, mv),
        "created": created,
        "updated": created,
        "addresses": addresses,
        "accessIPv4": "",
        "accessIPv6": "",
        "links": _server_links(call, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "",
        "key_name": server.key_name,
        "OS-SRV-USG:launched_at": None if server.status == "ERROR" else created,
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-SRV-ATTR:host": host.service.host if host else None,
        "OS-EXT-SRV-ATTR:instance_name": server.instance_name,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": host.hostname if host else None,
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}] if server.ip else [],
    }
    if server.fault is not None:
        out["fault"] = {"code": server.fault["code"], "message": server.fault["message"],
                        "created": iso(server.fault["created"])}
    if mv >= (2, 9):
        out["locked"] = server.locked
    if mv >= (2, 16):
        out["host_status"] = (host.service.state.upper() if host else "")
    if mv >= (2, 19):
        out["description"] = server.description
    if mv >= (2, 26):
        out["tags"] = list(server.tags)
    if mv >= (2, 73):
        out["locked_reason"] = None
    return out


def _list_servers(call: Call, detail: bool) -> web.Response:
    mv, headers = _mv(call)
    q = call.query
    everyone = truthy(q.get("all_tenants")) if "all_tenants" in q else False
    project = (q.get("project_id") or q.get("tenant_id")) if everyone else call.project_id
    status = (q.get("status") or "").upper() or None
    host = q.get("host") if everyone else None
    name = q.get("name")
    try:
        name_re = re.compile(name) if name else None
    except re.error:
        raise ApiError(400, f"Invalid regular expression for name: {name}") from None
    found = [
        s for s in call.contents.servers
        if (project is None or s.project_id == project)
        and (status is None or s.status == status)
        and (host is None or (s.host is not None and s.host.service.host == host))
        and (name_re is None or name_re.search(s.name))
    ]
    page, next_marker = paginate(found, q)
    path = "/v2.1/servers/detail" if detail else "/v2.1/servers"
    if detail:
        body: dict[str, Any] = {"servers": [server_view(call, s, mv) for s in page]}
    else:
        body = {"servers": [{"id": s.id, "name": s.name,
                             "links": _server_links(call, "servers", s.id)} for s in page]}
    if next_marker:
        params = {k: v for k, v in q.items() if k != "marker"}
        params["marker"] = next_marker
        body["servers_links"] = [{"rel": "next", "href": call.link(path, **params)}]
    return reply(body, headers=headers)


@route(SERVICE, "GET", "/v2.1/servers")
def servers(call: Call) -> web.Response:
    return _list_servers(call, detail=False)


@route(SERVICE, "GET", "/v2.1/servers/detail")
def servers_detail(call: Call) -> web.Response:
    return _list_servers(call, detail=True)


@route(SERVICE, "GET", "/v2.1/servers/{id}")
def server_show(call: Call) -> web.Response:
    mv, headers = _mv(call)
    for server in call.contents.servers:
        if server.id == call.params["id"]:
            return reply({"server": server_view(call, server, mv)}, headers=headers)
    raise ApiError(404, f"Instance {call.params['id']} could not be found.")


# -- limits and flavors ----------------------------------------------------------------


@route(SERVICE, "GET", "/v2.1/limits")
def limits(call: Call) -> web.Response:
    mv, headers = _mv(call)
    contents = call.contents
    project = call.query.get("tenant_id") or call.project_id
    quotas = contents.quotas
    used = contents.usage(project)
    absolute: dict[str, Any] = {
        "maxServerMeta": quotas["metadata_items"],
        "maxImageMeta": quotas["metadata_items"],
        "maxTotalKeypairs": quotas["key_pairs"],
        "maxServerGroups": quotas["server_groups"],
        "maxServerGroupMembers": quotas["server_group_members"],
        "maxTotalCores": quotas["cores"],
        "maxTotalRAMSize": quotas["ram"],
        "maxTotalInstances": quotas["instances"],
        "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"],
        "totalInstancesUsed": used["instances"],
        "totalServerGroupsUsed": 0,
    }
    if mv < (2, 57):
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240})
    if mv < (2, 36):
        absolute.update({
            "maxSecurityGroups": quotas["security_groups"],
            "maxSecurityGroupRules": quotas["security_group_rules"],
            "maxTotalFloatingIps": quotas["floating_ips"],
            "totalSecurityGroupsUsed": 1,
            "totalFloatingIpsUsed": 0,
        })
    return reply({"limits": {"rate": [], "absolute": absolute}}, headers=headers)


def flavor_view(call: Call, flavor: Flavor, mv: tuple[int, int], detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": flavor.id, "name": flavor.name,
                           "links": _server_links(call, "flavors", flavor.id)}
    if mv >= (2, 55):
        out["description"] = flavor.description
    if not detail:
        return out
    out.update({
        "ram": flavor.ram,
        "disk": flavor.disk,
        "vcpus": flavor.vcpus,
        "swap": flavor.swap if (flavor.swap or mv >= (2, 75)) else "",
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": flavor.is_public,
        "rxtx_factor": 1.0,
    })
    if mv >= (2, 61):
        out["extra_specs"] = dict(flavor.extra_specs)
    return out


def _flavors(call: Call, detail: bool) -> web.Response:
    mv, headers = _mv(call)
    page, next_marker = paginate(list(call.contents.flavors), call.query)
    body: dict[str, Any] = {"flavors": [flavor_view(call, f, mv, detail) for f in page]}
    if next_marker:
        path = "/v2.1/flavors/detail" if detail else "/v2.1/flavors"
        body["flavors_links"] = [{"rel": "next", "href": call.link(
            path, limit=call.query.get("limit"), marker=next_marker)}]
    return reply(body, headers=headers)


@route(SERVICE, "GET", "/v2.1/flavors")
def flavors(call: Call) -> web.Response:
    return _flavors(call, detail=False)


@route(SERVICE, "GET", "/v2.1/flavors/detail")
def flavors_detail(call: Call) -> web.Response:
    return _flavors(call, detail=True)


@route(SERVICE, "GET", "/v2.1/flavors/{id}")
def flavor_show(call: Call) -> web.Response:
    mv, headers = _mv(call)
    flavor = call.contents.flavor(call.params["id"])
    if flavor is None:
        raise ApiError(404, f"Flavor {call.params['id']} could not be found.")
    return reply({"flavor": flavor_view(call, flavor, mv, True)}, headers=headers)
