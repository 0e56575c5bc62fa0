"""Glance image property updates (``PATCH /v2/images/{id}``, JSON patch) for baselines.

Only the operations on free-form properties and tags a baseline makes:
``add``/``replace``/``remove`` of ``/<property>``. Core attributes that Glance
makes read-only (``id``, ``checksum``, ``size``...) answer 403 as in Glance.
"""

from __future__ import annotations

from aiohttp import web

from edgeshade.sim.registry import ApiError, Call, reply, route
from edgeshade.sim.services.image import image_view

SERVICE = "image"
_READ_ONLY = {"id", "checksum", "size", "virtual_size", "status", "created_at", "updated_at",
              "file", "self", "schema", "owner", "os_hash_algo", "os_hash_value", "direct_url"}
_CORE = {"name", "visibility", "protected", "os_hidden", "min_ram", "min_disk", "disk_format",
         "container_format", "tags"}


@route(SERVICE, "PATCH", "/v2/images/{id}")
async def image_patch(call: Call) -> web.Response:
    img = next((i for i in call.contents.images if i.id == call.params["id"]), None)
    if img is None:
        raise ApiError(404, f"No image found with ID {call.params['id']}")
    ops = await call.json()
    if not isinstance(ops, list):
        raise ApiError(400, "Request body must be a JSON array of operation objects.")
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise ApiError(400, f"Unable to find '{op}' in JSON Schema change")
        name = str(op.get("path", "")).lstrip("/")
        if not name or "/" in name:
            raise ApiError(400, f"Invalid JSON pointer for this resource: '{op.get('path')}'")
        if name in _READ_ONLY:
            raise ApiError(403, f"Attribute '{name}' is read-only.")
        if name in _CORE:
            if op["op"] == "remove":
                raise ApiError(403, f"Attribute '{name}' is required.")
            setattr(img, name, op.get("value"))
        elif op["op"] == "remove":
            if name not in img.properties:
                raise ApiError(409, f"Property {name} does not exist.")
            del img.properties[name]
        else:
            if op["op"] == "replace" and name not in img.properties:
                raise ApiError(409, f"Property {name} does not exist.")
            img.properties[name] = op.get("value")
    return reply(image_view(img))
