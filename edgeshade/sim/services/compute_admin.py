"""Nova admin calls a configuration baseline makes: flavors, extra specs, key pairs, quotas.

Shapes follow the compute API reference (flavor create/delete/description
update at 2.55+, ``os-extra_specs``, ``os-keypairs`` wrapped per item,
``os-quota-sets/{project_id}``); errors are Nova's (409 on a duplicate name).
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from edgeshade.sim.config_state import COMPUTE_QUOTAS, new_id, site_state
from edgeshade.sim.contents import Flavor, SiteContents
from edgeshade.sim.registry import ApiError, Call, empty, now_iso, reply, route
from edgeshade.sim.services.compute import _mv, flavor_view

SERVICE = "compute"


def _own_flavors(c: SiteContents) -> list[Flavor]:
    """The site's own flavor list (the seeded default tuple is shared by every site)."""
    if isinstance(c.flavors, tuple):
        c.flavors = [
            Flavor(f.id, f.name, f.vcpus, f.ram, f.disk, f.ephemeral, f.swap, f.is_public,
                   f.description, dict(f.extra_specs))
            for f in c.flavors
        ]
    return c.flavors


def _flavor(call: Call) -> Flavor:
    for f in _own_flavors(call.contents):
        if f.id == call.params["id"]:
            return f
    raise ApiError(404, f"Flavor {call.params['id']} could not be found.")


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None or value == "":
        if default is None:
            raise ApiError(400, f"Invalid input for field/attribute flavor. '{key}' is required")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid input for field/attribute {key}.") from None


@route(SERVICE, "POST", "/v2.1/flavors")
async def flavor_create(call: Call) -> web.Response:
    mv, headers = _mv(call)
    body = (await call.json() or {}).get("flavor")
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(400, "Invalid input for field/attribute flavor.")
    flavors = _own_flavors(call.contents)
    if any(f.name == body["name"] for f in flavors):
        raise ApiError(409, f"Flavor with name {body['name']} already exists.")
    fid = body.get("id")
    if not fid or fid == "auto":
        fid = new_id("flavor", body["name"])
    flavor = Flavor(str(fid), body["name"], _int(body, "vcpus"), _int(body, "ram"),
                    _int(body, "disk"), _int(body, "OS-FLV-EXT-DATA:ephemeral", 0),
                    _int(body, "swap", 0), bool(body.get("os-flavor-access:is_public", True)),
                    body.get("description"))
    flavors.append(flavor)
    return reply({"flavor": flavor_view(call, flavor, mv, True)}, headers=headers)


@route(SERVICE, "PUT", "/v2.1/flavors/{id}")
async def flavor_update(call: Call) -> web.Response:
    mv, headers = _mv(call)
    if mv < (2, 55):
        raise ApiError(404, "The resource could not be found.")
    body = (await call.json() or {}).get("flavor") or {}
    flavor = _flavor(call)
    flavor.description = body.get("description")
    return reply({"flavor": flavor_view(call, flavor, mv, True)}, headers=headers)


@route(SERVICE, "DELETE", "/v2.1/flavors/{id}")
def flavor_delete(call: Call) -> web.Response:
    flavor = _flavor(call)
    _own_flavors(call.contents).remove(flavor)
    return empty(202)


@route(SERVICE, "GET", "/v2.1/flavors/{id}/os-extra_specs")
def extra_specs(call: Call) -> web.Response:
    return reply({"extra_specs": dict(_flavor(call).extra_specs)})


@route(SERVICE, "POST", "/v2.1/flavors/{id}/os-extra_specs")
async def extra_specs_set(call: Call) -> web.Response:
    body = (await call.json() or {}).get("extra_specs")
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input for field/attribute extra_specs.")
    flavor = _flavor(call)
    flavor.extra_specs.update({str(k): str(v) for k, v in body.items()})
    return reply({"extra_specs": dict(flavor.extra_specs)})


@route(SERVICE, "GET", "/v2.1/flavors/{id}/os-extra_specs/{key}")
def extra_spec_show(call: Call) -> web.Response:
    flavor = _flavor(call)
    key = call.params["key"]
    if key not in flavor.extra_specs:
        raise ApiError(404, f"Flavor {flavor.id} has no extra specs with key {key}.")
    return reply({key: flavor.extra_specs[key]})


@route(SERVICE, "PUT", "/v2.1/flavors/{id}/os-extra_specs/{key}")
async def extra_spec_put(call: Call) -> web.Response:
    body = await call.json() or {}
    key = call.params["key"]
    if key not in body:
        raise ApiError(400, "Request body and URI mismatch")
    _flavor(call).extra_specs[key] = str(body[key])
    return reply({key: str(body[key])})


@route(SERVICE, "DELETE", "/v2.1/flavors/{id}/os-extra_specs/{key}")
def extra_spec_delete(call: Call) -> web.Response:
    flavor = _flavor(call)
    if flavor.extra_specs.pop(call.params["key"], None) is None:
        raise ApiError(404, f"Flavor {flavor.id} has no extra specs with key "
                            f"{call.params['key']}.")
    return empty(202)


# -- key pairs ---------------------------------------------------------------------------


def _keypair_view(kp: dict[str, Any], detail: bool) -> dict[str, Any]:
    out = {"name": kp["name"], "public_key": kp["public_key"], "fingerprint": kp["fingerprint"],
           "type": kp["type"]}
    if detail:
        out.update({"user_id": kp["user_id"], "created_at": kp["created_at"], "deleted": False,
                    "deleted_at": None, "updated_at": None, "id": kp["id"]})
    return out


@route(SERVICE, "GET", "/v2.1/os-keypairs")
def keypairs(call: Call) -> web.Response:
    found = site_state(call.fleet, call.site.name).keypairs  # type: ignore[union-attr]
    return reply({"keypairs": [{"keypair": _keypair_view(k, False)} for k in found.values()]})


@route(SERVICE, "POST", "/v2.1/os-keypairs")
async def keypair_create(call: Call) -> web.Response:
    body = (await call.json() or {}).get("keypair") or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field/attribute keypair.")
    found = site_state(call.fleet, call.site.name).keypairs  # type: ignore[union-attr]
    if name in found:
        raise ApiError(409, f"Key pair '{name}' already exists.")
    public_key = body.get("public_key")
    if not public_key:
        raise ApiError(400, "Generating key pairs is not simulated; give public_key")
    digest = hashlib.md5(public_key.encode(), usedforsecurity=False).hexdigest()
    kp = {"id": len(found) + 1, "name": name, "public_key": public_key,
          "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2)),
          "type": body.get("type", "ssh"), "user_id": call.cloud.user_id,
          "created_at": now_iso()}
    found[name] = kp
    return reply({"keypair": _keypair_view(kp, True)})


@route(SERVICE, "GET", "/v2.1/os-keypairs/{name}")
def keypair_show(call: Call) -> web.Response:
    found = site_state(call.fleet, call.site.name).keypairs  # type: ignore[union-attr]
    kp = found.get(call.params["name"])
    if kp is None:
        raise ApiError(404, f"Keypair {call.params['name']} not found for user "
                            f"{call.cloud.user_id}")
    return reply({"keypair": _keypair_view(kp, True)})


@route(SERVICE, "DELETE", "/v2.1/os-keypairs/{name}")
def keypair_delete(call: Call) -> web.Response:
    found = site_state(call.fleet, call.site.name).keypairs  # type: ignore[union-attr]
    if found.pop(call.params["name"], None) is None:
        raise ApiError(404, f"Keypair {call.params['name']} not found for user "
                            f"{call.cloud.user_id}")
    return empty(202)


# -- quotas ------------------------------------------------------------------------------


def compute_quotas(call: Call, project_id: str) -> dict[str, int]:
    """The admin project's quotas are the seeded ones (/limits reads them too)."""
    if project_id == call.cloud.project_id:
        return call.contents.quotas
    state = site_state(call.fleet, call.site.name)  # type: ignore[union-attr]
    return state.compute_quotas.setdefault(project_id, dict(COMPUTE_QUOTAS))


@route(SERVICE, "GET", "/v2.1/os-quota-sets/{project_id}")
def quota_show(call: Call) -> web.Response:
    quotas = compute_quotas(call, call.params["project_id"])
    return reply({"quota_set": {"id": call.params["project_id"], **quotas}})


@route(SERVICE, "PUT", "/v2.1/os-quota-sets/{project_id}")
async def quota_update(call: Call) -> web.Response:
    body = (await call.json() or {}).get("quota_set")
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input for field/attribute quota_set.")
    quotas = compute_quotas(call, call.params["project_id"])
    for key, value in body.items():
        if key in ("id", "force"):
            continue
        if key not in quotas and key not in COMPUTE_QUOTAS:
            raise ApiError(400, f"Bad key(s) {key} in quota_set")
        try:
            quotas[key] = int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid input for field/attribute {key}.") from None
    return reply({"quota_set": dict(quotas)})
