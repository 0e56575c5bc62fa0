"""Nova server changes: create, rebuild, delete, metadata (BUILD -> ACTIVE on a timer).

Reads (list, show) stay in :mod:`edgeshade.sim.services.compute`; this module
adds what a deployment does. Requests are validated as Nova does where a
client would notice (unknown image, flavor or network: 400; unknown server:
404; rebuild of a server in BUILD: 409). Build outcomes follow
:mod:`edgeshade.sim.workloads`: ``build_seconds`` until ``ACTIVE``, or
``ERROR`` with a fault at sites where builds are made to fail.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from edgeshade.sim.contents import Server, SiteContents
from edgeshade.sim.registry import ApiError, Call, empty, reply, route
from edgeshade.sim.services.compute import SERVICE, _mv, server_view
from edgeshade.sim.services.floating_ips import add_server_port, remove_server_ports
from edgeshade.sim.workloads import workloads

#: Nova's default ``maxServerMeta``.
MAX_METADATA = 128


def _find(call: Call) -> Server:
    for server in call.contents.servers:
        if server.id == call.params["id"]:
            return server
    raise ApiError(404, f"Instance {call.params['id']} could not be found.")


def _image_id(call: Call, ref: Any) -> str:
    ref = str(ref or "").rsplit("/", 1)[-1]
    if not any(img.id == ref for img in call.contents.images):
        raise ApiError(400, f"Image {ref} could not be found.")
    return ref


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise ApiError(400, "Invalid metadata: expected at most 128 string items")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 255 or len(item) > 255:
            raise ApiError(400, f"Invalid metadata item {key!r}: strings of at most 255")
    return dict(value)


def _settle(call: Call, server: Server) -> None:
    """Schedule the end of a build: ACTIVE, or ERROR where builds fail."""
    fleet, site = call.fleet, call.contents.site.name
    w = workloads(fleet)

    def done() -> None:
        if server.status not in ("BUILD", "REBUILD"):
            return
        if w.build_fails(site):
            server.status = "ERROR"
            server.fault = {"code": 500, "created": datetime.now(UTC),
                            "message": "Build of instance aborted: simulated failure"}
        else:
            server.status = "ACTIVE"
            server.fault = None

    if w.build_seconds <= 0:
        done()
    else:
        asyncio.get_running_loop().call_later(w.build_seconds, done)


def _address(contents: SiteContents) -> tuple[str, str]:
    used = {s.ip for s in contents.servers}
    for n in range(2, 64000):
        ip = f"192.168.{100 + n // 250}.{n % 250 + 2}"
        if ip not in used:
            rng = random.Random(ip)
            mac = "fa:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
            return ip, mac
    raise ApiError(409, "No more IP addresses available on network private")


@route(SERVICE, "POST", "/v2.1/servers")
async def create_server(call: Call) -> web.Response:
    mv, headers = _mv(call)
    body = await call.json()
    spec = (body or {}).get("server")
    if not isinstance(spec, dict) or not spec.get("name"):
        raise ApiError(400, "Invalid input for field/attribute server: 'name' is required")
    contents = call.contents
    image_id = _image_id(call, spec.get("imageRef"))
    flavor_ref = str(spec.get("flavorRef") or "").rsplit("/", 1)[-1]
    flavor = contents.flavor(flavor_ref)
    if flavor is None:
        raise ApiError(400, f"Flavor {flavor_ref} could not be found.")
    networks = spec.get("networks", "auto")
    if networks in ("auto", None, []):
        network = next((n for n in contents.networks if not n.external), contents.networks[0])
    elif networks == "none":
        network = None
    else:
        wanted = networks[0].get("uuid") if isinstance(networks[0], dict) else None
        network = next((n for n in contents.networks if n.id == wanted), None)
        if network is None:
            raise ApiError(400, f"Network {wanted} could not be found.")
    if int(spec.get("min_count", 1)) != 1 or int(spec.get("max_count", 1)) != 1:
        raise ApiError(400, "The simulator creates one server per request")
    hosts = [h for h in contents.hypervisors if h.service.state == "up"] or contents.hypervisors
    ip, mac = _address(contents) if network is not None else ("", "")
    server = Server(
        str(uuid.uuid4()), str(spec["name"]), "BUILD", call.project_id,
        call.cloud.user_id,
        random.choice(hosts) if hosts else None, flavor, image_id, datetime.now(UTC),
        ip, mac, network.name if network else "", f"instance-{random.randrange(1, 1 << 24):08x}",
    )
    server.metadata = _metadata(spec.get("metadata"))
    server.key_name = spec.get("key_name")
    if mv >= (2, 19):
        server.description = spec.get("description")
    contents.servers.append(server)
    if network is not None:
        add_server_port(call, server, network)
    workloads(call.fleet).user_data[server.id] = spec.get("user_data")
    _settle(call, server)
    answer = {"id": server.id, "links": server_view(call, server, mv)["links"],
              "OS-DCF:diskConfig": "MANUAL", "adminPass": uuid.uuid4().hex[:12],
              "security_groups": spec.get("security_groups") or [{"name": "default"}]}
    return reply({"server": answer}, status=202, headers=headers)


@route(SERVICE, "DELETE", "/v2.1/servers/{id}")
def delete_server(call: Call) -> web.Response:
    server = _find(call)
    contents = call.contents
    w = workloads(call.fleet)

    def gone() -> None:
        if server in contents.servers:
            contents.servers.remove(server)
        w.user_data.pop(server.id, None)
        remove_server_ports(call.fleet, contents.site.name, server.id)

    if w.delete_seconds <= 0:
        gone()
    else:
        asyncio.get_running_loop().call_later(w.delete_seconds, gone)
    return empty(204)


@route(SERVICE, "POST", "/v2.1/servers/{id}/action")
async def server_action(call: Call) -> web.Response:
    mv, headers = _mv(call)
    server = _find(call)
    body = await call.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise ApiError(400, "Invalid server action")
    action, args = next(iter(body.items()))
    if action == "rebuild":
        if server.status in ("BUILD", "REBUILD"):
            raise ApiError(409, f"Cannot 'rebuild' instance {server.id} while it is in "
                                "task_state rebuilding")
        args = args or {}
        server.image_id = _image_id(call, args.get("imageRef"))
        if "metadata" in args:
            server.metadata = _metadata(args["metadata"])
        if args.get("name"):
            server.name = str(args["name"])
        if "user_data" in args and mv >= (2, 57):
            workloads(call.fleet).user_data[server.id] = args["user_data"]
        server.status = "REBUILD"
        server.fault = None
        _settle(call, server)
        return reply({"server": server_view(call, server, mv)}, status=202, headers=headers)
    if action in ("os-start", "os-stop", "reboot"):
        return empty(202)
    raise ApiError(400, f"The simulator does not implement the '{action}' action")


@route(SERVICE, "GET", "/v2.1/servers/{id}/metadata")
def get_metadata(call: Call) -> web.Response:
    return reply({"metadata": dict(_find(call).metadata)})


@route(SERVICE, "POST", "/v2.1/servers/{id}/metadata")
async def update_metadata(call: Call) -> web.Response:
    server = _find(call)
    body = await call.json()
    merged = {**server.metadata, **_metadata((body or {}).get("metadata"))}
    server.metadata = _metadata(merged)
    return reply({"metadata": dict(server.metadata)})


@route(SERVICE, "PUT", "/v2.1/servers/{id}/metadata")
async def replace_metadata(call: Call) -> web.Response:
    server = _find(call)
    body = await call.json()
    server.metadata = _metadata((body or {}).get("metadata"))
    return reply({"metadata": dict(server.metadata)})


@route(SERVICE, "DELETE", "/v2.1/servers/{id}/metadata/{key}")
def delete_metadata_item(call: Call) -> web.Response:
    server = _find(call)
    if call.params["key"] not in server.metadata:
        raise ApiError(404, f"Metadata item was not found: {call.params['key']}")
    del server.metadata[call.params["key"]]
    return empty(204)
