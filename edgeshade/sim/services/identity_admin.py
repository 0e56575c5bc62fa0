"""Keystone v3 admin calls a configuration baseline makes: projects, users, roles, grants.

One Keystone per cloud (its regions share it), seeded with the cloud's
``admin`` and ``workloads`` projects, the ``admin`` user and the roles
``admin``, ``member``, ``reader``. Passwords are kept only as a digest and are
never returned. Lists accept Keystone's ``name`` and ``domain_id`` filters.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from edgeshade.sim.config_state import IdentityState, identity_state, new_id
from edgeshade.sim.model import DOMAIN
from edgeshade.sim.registry import ApiError, Call, empty, reply, route

SERVICE = "identity"


def _ks(call: Call) -> IdentityState:
    return identity_state(call.fleet, call.cloud.name)


def _links(call: Call, path: str) -> dict[str, Any]:
    return {"self": call.link(path), "previous": None, "next": None}


def _filtered(call: Call, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = items
    for key in ("name", "domain_id"):
        want = call.query.get(key)
        if want is not None:
            out = [i for i in out if i.get(key) == want]
    return out


def _hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


# -- projects ------------------------------------------------------------------------------


def _project(call: Call, pid: str) -> dict[str, Any]:
    found = _ks(call).projects.get(pid)
    if found is None:
        raise ApiError(404, f"Could not find project: {pid}.")
    return found


def _project_view(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return dict(p, links={"self": call.link(f"/v3/projects/{p['id']}")})


@route(SERVICE, "GET", "/v3/projects")
def projects(call: Call) -> web.Response:
    found = _filtered(call, list(_ks(call).projects.values()))
    return reply({"projects": [_project_view(call, p) for p in found],
                  "links": _links(call, "/v3/projects")})


@route(SERVICE, "GET", "/v3/projects/{id}")
def project_show(call: Call) -> web.Response:
    return reply({"project": _project_view(call, _project(call, call.params["id"]))})


@route(SERVICE, "POST", "/v3/projects")
async def project_create(call: Call) -> web.Response:
    body = (await call.json() or {}).get("project") or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
    ks = _ks(call)
    domain = body.get("domain_id") or DOMAIN["id"]
    if any(p["name"] == name and p["domain_id"] == domain for p in ks.projects.values()):
        raise ApiError(409, f"Conflict occurred attempting to store project - it is not "
                            f"permitted to have two projects with the same name in the same "
                            f"domain : {name}.")
    project = {"id": new_id("project").replace("-", ""), "name": name, "domain_id": domain,
               "description": body.get("description") or "",
               "enabled": bool(body.get("enabled", True)), "is_domain": False,
               "parent_id": domain, "tags": [], "options": {}}
    ks.projects[project["id"]] = project
    return reply({"project": _project_view(call, project)}, status=201)


@route(SERVICE, "PATCH", "/v3/projects/{id}")
async def project_update(call: Call) -> web.Response:
    body = (await call.json() or {}).get("project") or {}
    project = _project(call, call.params["id"])
    for key in ("name", "description", "enabled"):
        if key in body:
            project[key] = body[key]
    return reply({"project": _project_view(call, project)})


@route(SERVICE, "DELETE", "/v3/projects/{id}")
def project_delete(call: Call) -> web.Response:
    ks = _ks(call)
    project = _project(call, call.params["id"])
    del ks.projects[project["id"]]
    ks.assignments = {a for a in ks.assignments if a[1] != project["id"]}
    return empty()


# -- users ---------------------------------------------------------------------------------


def _user(call: Call, uid: str) -> dict[str, Any]:
    found = _ks(call).users.get(uid)
    if found is None:
        raise ApiError(404, f"Could not find user: {uid}.")
    return found


def _user_view(call: Call, u: dict[str, Any]) -> dict[str, Any]:
    return dict(u, links={"self": call.link(f"/v3/users/{u['id']}")})


@route(SERVICE, "GET", "/v3/users")
def users(call: Call) -> web.Response:
    found = _filtered(call, list(_ks(call).users.values()))
    return reply({"users": [_user_view(call, u) for u in found],
                  "links": _links(call, "/v3/users")})


@route(SERVICE, "GET", "/v3/users/{id}")
def user_show(call: Call) -> web.Response:
    return reply({"user": _user_view(call, _user(call, call.params["id"]))})


@route(SERVICE, "POST", "/v3/users")
async def user_create(call: Call) -> web.Response:
    body = (await call.json() or {}).get("user") or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
    ks = _ks(call)
    domain = body.get("domain_id") or DOMAIN["id"]
    if any(u["name"] == name and u["domain_id"] == domain for u in ks.users.values()):
        raise ApiError(409, f"Conflict occurred attempting to store user - Duplicate entry "
                            f"found with name {name} at domain ID {domain}.")
    if body.get("default_project_id"):
        _project(call, body["default_project_id"])
    user = {"id": new_id("user").replace("-", ""), "name": name, "domain_id": domain,
            "enabled": bool(body.get("enabled", True)), "email": body.get("email"),
            "description": body.get("description"),
            "default_project_id": body.get("default_project_id"),
            "password_expires_at": None, "options": {}}
    ks.users[user["id"]] = user
    if body.get("password"):
        ks.passwords[user["id"]] = _hash(str(body["password"]))
    return reply({"user": _user_view(call, user)}, status=201)


@route(SERVICE, "PATCH", "/v3/users/{id}")
async def user_update(call: Call) -> web.Response:
    body = (await call.json() or {}).get("user") or {}
    ks = _ks(call)
    user = _user(call, call.params["id"])
    for key in ("name", "enabled", "email", "description", "default_project_id"):
        if key in body:
            user[key] = body[key]
    if body.get("password"):
        ks.passwords[user["id"]] = _hash(str(body["password"]))
    return reply({"user": _user_view(call, user)})


@route(SERVICE, "DELETE", "/v3/users/{id}")
def user_delete(call: Call) -> web.Response:
    ks = _ks(call)
    user = _user(call, call.params["id"])
    del ks.users[user["id"]]
    ks.passwords.pop(user["id"], None)
    ks.assignments = {a for a in ks.assignments if a[0] != user["id"]}
    return empty()


# -- roles and grants --------------------------------------------------------------------


@route(SERVICE, "GET", "/v3/roles")
def roles(call: Call) -> web.Response:
    found = _filtered(call, list(_ks(call).roles.values()))
    return reply({"roles": [dict(r, links={"self": call.link(f"/v3/roles/{r['id']}")})
                            for r in found], "links": _links(call, "/v3/roles")})


@route(SERVICE, "GET", "/v3/roles/{id}")
def role_show(call: Call) -> web.Response:
    role = _ks(call).roles.get(call.params["id"])
    if role is None:
        raise ApiError(404, f"Could not find role: {call.params['id']}.")
    return reply({"role": dict(role, links={"self": call.link(f"/v3/roles/{role['id']}")})})


@route(SERVICE, "GET", "/v3/role_assignments")
def role_assignments(call: Call) -> web.Response:
    q = call.query
    out = []
    for user_id, project_id, role_id in sorted(_ks(call).assignments):
        if q.get("user.id") and q["user.id"] != user_id:
            continue
        if q.get("scope.project.id") and q["scope.project.id"] != project_id:
            continue
        if q.get("role.id") and q["role.id"] != role_id:
            continue
        out.append({
            "role": {"id": role_id}, "user": {"id": user_id},
            "scope": {"project": {"id": project_id}},
            "links": {"assignment": call.link(
                f"/v3/projects/{project_id}/users/{user_id}/roles/{role_id}")},
        })
    return reply({"role_assignments": out, "links": _links(call, "/v3/role_assignments")})


def _grant(call: Call) -> tuple[str, str, str]:
    ks = _ks(call)
    p, u, r = call.params["project"], call.params["user"], call.params["role"]
    _project(call, p)
    _user(call, u)
    if r not in ks.roles:
        raise ApiError(404, f"Could not find role: {r}.")
    return u, p, r


@route(SERVICE, "PUT", "/v3/projects/{project}/users/{user}/roles/{role}")
def grant(call: Call) -> web.Response:
    _ks(call).assignments.add(_grant(call))
    return empty()


@route(SERVICE, "GET", "/v3/projects/{project}/users/{user}/roles/{role}")
def grant_check(call: Call) -> web.Response:
    if _grant(call) not in _ks(call).assignments:
        raise ApiError(404, "Could not find role assignment.")
    return empty()


@route(SERVICE, "DELETE", "/v3/projects/{project}/users/{user}/roles/{role}")
def revoke(call: Call) -> web.Response:
    key = _grant(call)
    ks = _ks(call)
    if key not in ks.assignments:
        raise ApiError(404, "Could not find role assignment.")
    ks.assignments.discard(key)
    return empty()
