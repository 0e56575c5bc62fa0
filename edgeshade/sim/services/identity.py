"""Keystone v3, one per cloud: version discovery, tokens, catalog.

Shapes follow Keystone's API reference closely enough for keystoneauth's
password, application-credential and token plugins: ``GET /`` answers 300
with ``versions.values``; ``POST /v3/auth/tokens`` answers 201 with the token
in ``X-Subject-Token`` and a body whose catalog lists every region of the
cloud (only sites with Cinder list ``block-storage`` and its ``volumev3``
alias). Users and projects: ``admin`` in domain ``Default`` (password from
the fleet), projects ``admin`` and ``workloads``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from edgeshade.sim.model import DOMAIN, PROJECT_NAME, USER_NAME, Cloud, SimFleet
from edgeshade.sim.registry import AUTH_CREDENTIALS, AUTH_NONE, ApiError, Call, reply, route
from edgeshade.sim.tokens import TokenInfo

SERVICE = "identity"
VERSION = "v3.14"
_UPDATED = "2020-04-07T00:00:00Z"
WORKLOADS_PROJECT = "workloads"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}
_ROLES = [{"id": hashlib.md5(n.encode(), usedforsecurity=False).hexdigest(), "name": n}
          for n in ("admin", "member", "reader")]

#: (service type, name, URL kind) of each catalog entry of a site.
_CATALOG = (
    ("compute", "nova", "compute"),
    ("network", "neutron", "network"),
    ("block-storage", "cinder", "volume"),
    ("volumev3", "cinderv3", "volume"),
    ("image", "glance", "image"),
    ("object-store", "swift", "object-store"),
    ("orchestration", "heat", "orchestration"),
)


def error_body(status: int, message: str) -> dict[str, Any]:
    """Keystone's (and keystonemiddleware's) error format."""
    return {"error": {"code": status, "title": _TITLES.get(status, "Error"), "message": message}}


def unauthorized(fleet: SimFleet, cloud: str) -> web.Response:
    """The 401 keystonemiddleware and Keystone answer, pointing at the auth URL."""
    return reply(
        error_body(401, "The request you have made requires authentication."),
        status=401,
        headers={"WWW-Authenticate": f'Keystone uri="{fleet.auth_url(cloud)}"'},
    )


def _version(call: Call) -> dict[str, Any]:
    return {
        "id": VERSION,
        "status": "stable",
        "updated": _UPDATED,
        "links": [{"rel": "self", "href": f"{call.root}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@route(SERVICE, "GET", "", auth=AUTH_NONE)
def versions(call: Call) -> web.Response:
    return reply({"versions": {"values": [_version(call)]}}, status=300)


@route(SERVICE, "GET", "/v3", auth=AUTH_NONE)
def version(call: Call) -> web.Response:
    return reply({"version": _version(call)})


# -- tokens -------------------------------------------------------------------------------


def catalog(fleet: SimFleet, cloud: Cloud, project_id: str) -> list[dict[str, Any]]:
    """The cloud's service catalog (every region), as in a token."""
    entries = []
    sites = fleet.sites_of(cloud.name)
    for service_type, name, kind in (("identity", "keystone", "identity"), *_CATALOG):
        endpoints = [
            {
                "id": hashlib.md5(f"{site.name}:{service_type}".encode(),
                                  usedforsecurity=False).hexdigest(),
                "interface": "public",
                "region_id": site.region,
                "region": site.region,
                "url": fleet.endpoint(site, kind, project_id),
            }
            for site in sites
            if kind != "volume" or site.has_volume
        ]
        if endpoints:
            entries.append({
                "endpoints": endpoints,
                "id": hashlib.md5(f"{cloud.name}:{service_type}".encode(),
                                  usedforsecurity=False).hexdigest(),
                "type": service_type,
                "name": name,
            })
    return entries


def _project(cloud: Cloud, project_id: str | None) -> dict[str, Any] | None:
    if project_id is None:
        return None
    name = PROJECT_NAME if project_id == cloud.project_id else WORKLOADS_PROJECT
    return {"domain": dict(DOMAIN), "id": project_id, "name": name}


def token_body(fleet: SimFleet, cloud: Cloud, info: TokenInfo, with_catalog: bool = True
               ) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": info.methods,
        "user": {"domain": dict(DOMAIN), "id": cloud.user_id, "name": USER_NAME,
                 "password_expires_at": None},
        "audit_ids": [info.audit_id],
        "expires_at": datetime.fromtimestamp(info.expires, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"),
        "issued_at": datetime.fromtimestamp(info.issued, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if info.project_id:
        token["project"] = _project(cloud, info.project_id)
        token["is_domain"] = False
        token["roles"] = _ROLES
        if with_catalog:
            token["catalog"] = catalog(fleet, cloud, info.project_id)
    if info.app_cred_id:
        token["application_credential"] = {"id": info.app_cred_id, "name": "edgeshade-sim",
                                           "restricted": True}
    return {"token": token}


def _domain_ok(domain: Any) -> bool:
    if not isinstance(domain, dict):
        return False
    return domain.get("id") == DOMAIN["id"] or domain.get("name") == DOMAIN["name"]


def _user_ok(cloud: Cloud, user: Any) -> bool:
    if not isinstance(user, dict):
        return False
    if user.get("id"):
        return user["id"] == cloud.user_id
    return user.get("name") == USER_NAME and _domain_ok(user.get("domain"))


def _scope(cloud: Cloud, scope: Any) -> str | None:
    """The project id a token request asks for (None: unscoped); 401 if not ours."""
    if not scope or scope == "unscoped":
        return None
    project = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(project, dict):
        raise ApiError(401, "The request you have made requires authentication.")
    ours = {cloud.project_id: PROJECT_NAME, cloud.workload_project_id: WORKLOADS_PROJECT}
    if project.get("id"):
        if project["id"] in ours:
            return project["id"]
    elif _domain_ok(project.get("domain")):
        for pid, name in ours.items():
            if project.get("name") == name:
                return pid
    raise ApiError(401, "The request you have made requires authentication.")


@route(SERVICE, "POST", "/v3/auth/tokens", auth=AUTH_CREDENTIALS)
async def issue_token(call: Call) -> web.Response:
    body = await call.json()
    try:
        identity = body["auth"]["identity"]
        methods = list(identity["methods"])
    except (KeyError, TypeError):
        raise ApiError(400, "Invalid input for field 'identity': 'methods' is required") from None
    cloud = call.cloud
    app_cred_id = None
    scope = body["auth"].get("scope")
    if "password" in methods:
        user = (identity.get("password") or {}).get("user")
        ok = _user_ok(cloud, user) and user.get("password") == cloud.password
    elif "application_credential" in methods:
        cred = identity.get("application_credential") or {}
        by_id = cred.get("id") and cred.get("id") == cloud.app_cred_id
        by_name = cred.get("name") == "edgeshade-sim" and _user_ok(cloud, cred.get("user"))
        ok = bool(cloud.app_cred_id and (by_id or by_name)
                  and cred.get("secret") == cloud.app_cred_secret)
        app_cred_id = cloud.app_cred_id
        scope = {"project": {"id": cloud.project_id}}  # fixed by the credential
    elif "token" in methods:
        old = (identity.get("token") or {}).get("id")
        ok = call.tokens.lookup(old, cloud.name) is not None
    else:
        ok = False
    if not ok:
        raise ApiError(401, "The request you have made requires authentication.")
    project_id = _scope(cloud, scope)
    token, info = call.tokens.issue(cloud.name, project_id, methods, app_cred_id)
    return reply(token_body(call.fleet, cloud, info, "nocatalog" not in call.query), status=201,
                 headers={"X-Subject-Token": token})


@route(SERVICE, "GET", "/v3/auth/tokens")
def validate_token(call: Call) -> web.Response:
    subject = call.request.headers.get("X-Subject-Token")
    info = call.tokens.lookup(subject, call.cloud.name)
    if info is None:
        raise ApiError(404, f"Could not find token: {subject}.")
    return reply(token_body(call.fleet, call.cloud, info, "nocatalog" not in call.query),
                 headers={"X-Subject-Token": subject})


@route(SERVICE, "GET", "/v3/auth/catalog")
def auth_catalog(call: Call) -> web.Response:
    return reply({
        "catalog": catalog(call.fleet, call.cloud, call.project_id),
        "links": {"self": call.link("/v3/auth/catalog"), "previous": None, "next": None},
    })


@route(SERVICE, "GET", "/v3/auth/projects")
def auth_projects(call: Call) -> web.Response:
    cloud = call.cloud
    projects = []
    for pid in (cloud.project_id, cloud.workload_project_id):
        project = _project(cloud, pid) or {}
        projects.append({
            "id": pid, "name": project["name"], "domain_id": DOMAIN["id"], "enabled": True,
            "is_domain": False, "parent_id": DOMAIN["id"], "description": "", "tags": [],
            "links": {"self": call.link(f"/v3/projects/{pid}")},
        })
    return reply({"projects": projects,
                  "links": {"self": call.link("/v3/auth/projects"), "previous": None,
                            "next": None}})
