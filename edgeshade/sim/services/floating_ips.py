"""Neutron floating IPs (``/v2.0/floatingips``) and the server ports they attach to.

A floating IP is allocated from the pool of an external network
(``router:external``, the seeded ``public`` network) and attached to a port.
Servers created through the simulator get one port per NIC
(``device_owner=compute:nova``, listed by ``GET /v2.0/ports?device_id=...``);
deleting the server deletes its ports, which detaches their floating IPs but
keeps them allocated, as Neutron does, so a client that never releases them
leaks them. Each site's pool holds ``Workloads.floating_pool_size`` addresses
(``Workloads.limit_floating_ips(glob, n)`` shrinks it; an empty pool answers
409 ``No more IP addresses available``, Neutron's ``IpAddressGenerationFailure``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edgeshade.sim.config_state import new_id, site_state
from edgeshade.sim.contents import Network, Server
from edgeshade.sim.registry import ApiError, Call, empty, now_iso, reply, route
from edgeshade.sim.services.network import _collection
from edgeshade.sim.workloads import FloatingIp, workloads

SERVICE = "network"
#: Floating addresses of every site's pool: 172.24.4.10 onwards (one cloud per site).
POOL_PREFIX, POOL_START = "172.24.4.", 10


def add_server_port(call: Call, server: Server, network: Network) -> dict[str, Any]:
    """The port Nova asks Neutron for when it plugs a new server into ``network``."""
    now = now_iso()
    port = {
        "id": new_id("port", server.id), "name": "", "network_id": network.id,
        "device_id": server.id, "device_owner": "compute:nova",
        "fixed_ips": [{"subnet_id": network.subnet_ids[0] if network.subnet_ids else "",
                       "ip_address": server.ip}],
        "status": "ACTIVE", "admin_state_up": True, "mac_address": server.mac,
        "project_id": server.project_id, "tenant_id": server.project_id, "tags": [],
        "security_groups": [], "created_at": now, "updated_at": now,
    }
    site_state(call.fleet, call.contents.site.name).ports[port["id"]] = port
    return port


def remove_server_ports(fleet: Any, site: str, server_id: str) -> None:
    """Delete a server's ports; floating IPs on them are detached, not released."""
    ports = site_state(fleet, site).ports
    gone = {pid for pid, p in ports.items() if p["device_id"] == server_id}
    for pid in gone:
        del ports[pid]
    for fip in workloads(fleet).floating_ips.get(site, ()):
        if fip.port_id in gone:
            fip.port_id = fip.fixed_ip = None


def _view(fip: FloatingIp) -> dict[str, Any]:
    return {
        "id": fip.id, "floating_ip_address": fip.address, "floating_network_id": fip.network_id,
        "port_id": fip.port_id, "fixed_ip_address": fip.fixed_ip,
        "status": "ACTIVE" if fip.port_id else "DOWN", "router_id": None,
        "project_id": fip.project_id, "tenant_id": fip.project_id,
        "description": fip.description, "tags": [], "port_details": None,
        "created_at": fip.created, "updated_at": fip.created, "revision_number": 1,
    }


def _pool(call: Call) -> list[FloatingIp]:
    return workloads(call.fleet).floating_ips.setdefault(call.contents.site.name, [])


def _find(call: Call) -> FloatingIp:
    for fip in _pool(call):
        if fip.id == call.params["id"]:
            return fip
    raise ApiError(404, f"Floating IP {call.params['id']} could not be found")


def _attach(call: Call, fip: FloatingIp, port_id: Any, fixed: Any) -> None:
    if port_id is None:
        fip.port_id = fip.fixed_ip = None
        return
    port = site_state(call.fleet, call.contents.site.name).ports.get(str(port_id))
    if port is None:
        raise ApiError(404, f"Port {port_id} could not be found.")
    addresses = [ip["ip_address"] for ip in port["fixed_ips"]]
    fixed = fixed or (addresses[0] if addresses else None)
    if fixed not in addresses:
        raise ApiError(400, f"Port {port_id} does not have fixed ip {fixed}")
    for other in _pool(call):
        if other is not fip and other.port_id == port["id"] and other.fixed_ip == fixed:
            raise ApiError(409, f"Cannot associate floating IP {fip.address} ({fip.id}) with "
                                f"port {port_id} using fixed IP {fixed}, as that fixed IP "
                                f"already has a floating IP on external network "
                                f"{other.network_id}.")
    fip.port_id, fip.fixed_ip = port["id"], fixed


@route(SERVICE, "GET", "/v2.0/floatingips")
def floating_ips(call: Call) -> web.Response:
    return _collection(call, "floatingips", list(_pool(call)), _view)


@route(SERVICE, "GET", "/v2.0/floatingips/{id}")
def floating_ip_show(call: Call) -> web.Response:
    return reply({"floatingip": _view(_find(call))})


@route(SERVICE, "POST", "/v2.0/floatingips")
async def floating_ip_create(call: Call) -> web.Response:
    body = (await call.json() or {}).get("floatingip")
    if not isinstance(body, dict) or not body.get("floating_network_id"):
        raise ApiError(400, "Invalid input for floating_network_id: required")
    net = next((n for n in call.contents.networks if n.id == body["floating_network_id"]), None)
    if net is None:
        raise ApiError(404, f"Network {body['floating_network_id']} could not be found.")
    if not net.external:
        raise ApiError(400, f"Bad floatingip request: Network {net.id} is not a valid "
                            "external network.")
    w = workloads(call.fleet)
    pool = _pool(call)
    with w.lock:
        used = {f.address for f in pool}
        size = w.floating_pool(call.contents.site.name)
        free = next((f"{POOL_PREFIX}{POOL_START + n}" for n in range(size)
                     if f"{POOL_PREFIX}{POOL_START + n}" not in used), None)
        if body.get("floating_ip_address"):
            free = str(body["floating_ip_address"])
            if free in used:
                raise ApiError(409, f"IP address {free} already allocated in subnet")
        if free is None:
            raise ApiError(409, f"No more IP addresses available on network {net.id}.")
        fip = FloatingIp(new_id("fip", free), free, net.id, call.project_id,
                         description=str(body.get("description") or ""), created=now_iso())
        _attach(call, fip, body.get("port_id"), body.get("fixed_ip_address"))
        pool.append(fip)
    return reply({"floatingip": _view(fip)}, status=201)


@route(SERVICE, "PUT", "/v2.0/floatingips/{id}")
async def floating_ip_update(call: Call) -> web.Response:
    body = (await call.json() or {}).get("floatingip")
    if not isinstance(body, dict):
        raise ApiError(400, "Resource body required: 'floatingip'")
    fip = _find(call)
    if "port_id" in body:
        _attach(call, fip, body["port_id"], body.get("fixed_ip_address"))
    if "description" in body:
        fip.description = str(body["description"] or "")
    return reply({"floatingip": _view(fip)})


@route(SERVICE, "DELETE", "/v2.0/floatingips/{id}")
def floating_ip_delete(call: Call) -> web.Response:
    fip = _find(call)
    _pool(call).remove(fip)
    return empty(204)
