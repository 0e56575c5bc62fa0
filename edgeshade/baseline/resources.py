"""Desired vs actual, per resource type: read a site, compare, converge.

Reads are plain JSON GETs issued **in parallel** (one round trip per site for
every type the baseline declares, plus one when quotas name a project);
changes go through openstacksdk (``conn.cloud`` proxies, with the ids the reads
already found, so no change costs an extra lookup round trip).

A :class:`Change` is one difference: ``create`` (missing), ``update`` of one
field (``old`` → ``new``), ``replace`` (a field the API cannot change in place:
delete and create), ``add``/``remove`` of an element of a set-like field
(security group rules, router interfaces), ``delete`` (extra, only with
``prune: true``) and ``error`` (cannot be fixed by edgeshade, e.g. an image
that does not exist). Only fields the baseline sets are compared: everything
else on the site stays the operator's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from edgeshade.baseline.schema import TYPES
from edgeshade.errors import MalformedResponse
from edgeshade.render import SecretRef

#: Resources prune never deletes: what the cloud itself or its operator's login needs.
PROTECTED = {
    "security_groups": {"default"},
    "projects": {"admin", "service", "workloads"},
    "users": {"admin"},
}
_COMPUTE_MV = {"OpenStack-API-Version": "compute 2.61"}  # extra_specs + description in lists


@dataclasses.dataclass
class Change:
    """One difference between desired and actual at a site."""

    type: str
    name: str
    action: str
    field: str | None = None
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        what = f"{self.type}/{self.name}"
        if self.action == "create":
            return f"{what}: missing"
        if self.action == "delete":
            return f"{what}: extra (prune)"
        if self.action == "error":
            return f"{what}: {self.new}"
        if self.action == "add":
            return f"{what}: {self.field} missing {self.new}"
        if self.action == "remove":
            return f"{what}: {self.field} extra {self.old}"
        verb = " (replace)" if self.action == "replace" else ""
        return f"{what}: {self.field} {_show(self.old)} → {_show(self.new)}{verb}"

    def to_dict(self) -> dict[str, Any]:
        out = {"type": self.type, "name": self.name, "action": self.action,
               "field": self.field, "old": _plain(self.old), "new": _plain(self.new)}
        out["text"] = self.describe()
        return out


def _show(value: Any) -> str:
    if isinstance(value, SecretRef):
        return repr(value)
    if value is None:
        return "(unset)"
    return str(value) if not isinstance(value, str) else f"'{value}'"


def _plain(value: Any) -> Any:
    """Output-safe data: a secret shows as ``secret('name')``, never as a value."""
    if isinstance(value, SecretRef):
        return repr(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- reading a site ------------------------------------------------------------------------

#: Type -> the reads it needs (keys of ``_CALLS``).
_READS: dict[str, tuple[str, ...]] = {
    "projects": ("projects",),
    "users": ("users", "projects"),
    "role_assignments": ("role_assignments", "roles", "users", "projects"),
    "quotas": ("projects",),
    "flavors": ("flavors",),
    "keypairs": ("keypairs",),
    "networks": ("networks",),
    "subnets": ("subnets", "networks"),
    "routers": ("routers", "router_ports", "subnets", "networks"),
    "security_groups": ("security_groups",),
    "image_properties": ("images",),
}
#: Read -> (service, path, query, headers, list field of the answer).
_CALLS: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, str] | None, str]] = {
    "projects": ("identity", "/v3/projects", None, None, "projects"),
    "users": ("identity", "/v3/users", None, None, "users"),
    "roles": ("identity", "/v3/roles", None, None, "roles"),
    "role_assignments": ("identity", "/v3/role_assignments", None, None, "role_assignments"),
    "flavors": ("compute", "/flavors/detail", {"is_public": "None"}, _COMPUTE_MV, "flavors"),
    "keypairs": ("compute", "/os-keypairs", None, None, "keypairs"),
    "networks": ("network", "/networks", None, None, "networks"),
    "subnets": ("network", "/subnets", None, None, "subnets"),
    "routers": ("network", "/routers", None, None, "routers"),
    "router_ports": ("network", "/ports", {"device_owner": "network:router_interface"}, None,
                     "ports"),
    "security_groups": ("network", "/security-groups", None, None, "security_groups"),
    "images": ("image", "/images", {"limit": 1000}, None, "images"),
}


def _get(conn: Any, key: str) -> Callable[[], Any]:
    service, path, params, headers, field = _CALLS[key]

    def call() -> Any:
        body = conn.request("GET", service, path, params=params, headers=headers)
        items = body.get(field) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise MalformedResponse(f"{service} {path}: no '{field}' list in the answer")
        if key == "keypairs":
            items = [i.get("keypair", i) for i in items]
        return items

    return call


class Actual:
    """What one site has, read once for every type of the baseline."""

    def __init__(self, conn: Any, types: list[str], quota_projects: set[str]) -> None:
        self.conn = conn
        self.project_id = conn.project_id
        wanted = sorted({k for t in types for k in _READS[t]})
        calls = {k: _get(conn, k) for k in wanted}
        if "quotas" in types:
            calls.update(self._quota_calls(self.project_id))
        results = conn.parallel(calls) if calls else {}
        for value in results.values():
            if isinstance(value, BaseException):
                raise value
        self.data: dict[str, Any] = results
        extra = {p for p in quota_projects if p} - {self.project_id}
        if extra:
            more: dict[str, Callable[[], Any]] = {}
            for name in sorted(extra):
                pid = self.project_ref(name)
                if pid:
                    more.update(self._quota_calls(pid))
            for key, value in (conn.parallel(more) if more else {}).items():
                if isinstance(value, BaseException):
                    raise value
                self.data[key] = value

    def _quota_calls(self, pid: str) -> dict[str, Callable[[], Any]]:
        conn = self.conn
        return {
            f"compute_quota:{pid}": lambda: (conn.get("compute", f"/os-quota-sets/{pid}")
                                            or {}).get("quota_set") or {},
            f"network_quota:{pid}": lambda: (conn.get("network", f"/quotas/{pid}")
                                            or {}).get("quota") or {},
        }

    def items(self, key: str) -> list[dict[str, Any]]:
        return self.data.get(key) or []

    def by_name(self, key: str) -> dict[str, dict[str, Any]]:
        return {i.get("name"): i for i in self.items(key)}

    def name_of(self, key: str, ident: str | None) -> str | None:
        for item in self.items(key):
            if item.get("id") == ident:
                return item.get("name")
        return None

    def project_ref(self, name: str | None) -> str | None:
        """Project id by name (or id); None (empty name): the login project."""
        if not name:
            return self.project_id
        for p in self.items("projects"):
            if p.get("name") == name or p.get("id") == name:
                return p["id"]
        return None


# -- comparing -------------------------------------------------------------------------------


def _rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    proto = rule.get("protocol")
    proto = None if proto in (None, "", "any") else str(proto).lower()
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    port = rule.get("port")
    if port is not None:
        text = str(port)
        if "-" in text:
            a, b = text.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(text)
    prefix = rule.get("remote_ip_prefix") or None
    return (rule.get("direction") or "ingress", rule.get("ethertype") or "IPv4", proto,
            None if lo is None else int(lo), None if hi is None else int(hi), prefix)


def rule_text(key: tuple[Any, ...]) -> str:
    direction, ethertype, proto, lo, hi, prefix = key
    ports = "" if lo is None else (f" {lo}" if lo == hi else f" {lo}-{hi}")
    where = f" {'from' if direction == 'ingress' else 'to'} {prefix}" if prefix else ""
    return f"{direction} {ethertype} {proto or 'any'}{ports}{where}"


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(want) == bool(have) if have is not None else want is None
    if isinstance(want, list) and isinstance(have, list):
        return sorted(map(str, want)) == sorted(map(str, have))
    if isinstance(want, dict) and isinstance(have, dict):
        return {k: str(v) for k, v in want.items()} == {k: str(v) for k, v in have.items()}
    if want is None or have is None:
        return want is None and have is None
    return str(want) == str(have)


def _fields(kind: str, want: dict[str, Any], have: dict[str, Any], mapping: dict[str, Any],
            replace: tuple[str, ...] = ()) -> list[Change]:
    out = []
    name = str(want.get("name"))
    for field, getter in mapping.items():
        if field not in want:
            continue
        value = getter(have) if callable(getter) else have.get(getter)
        if not _same(want[field], value):
            action = "replace" if field in replace else "update"
            out.append(Change(kind, name, action, field, value, want[field]))
    return out


def compare(kind: str, desired: list[dict[str, Any]], actual: Actual, prune: bool
            ) -> list[Change]:
    """Every difference of one type at one site, in baseline order."""
    return _COMPARE[kind](desired, actual, prune)


def _prune(kind: str, key: str, desired: list[dict[str, Any]], actual: Actual, prune: bool,
           field: str = "name") -> list[Change]:
    if not prune:
        return []
    wanted = {str(d.get(field)) for d in desired}
    keep = PROTECTED.get(kind, set())
    return [Change(kind, str(item.get(field)), "delete", old=item.get("id"))
            for item in actual.items(key)
            if str(item.get(field)) not in wanted and item.get(field) not in keep]


def _cmp_flavors(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("flavors")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("flavors", want["name"], "create", new=want))
            continue
        out += _fields("flavors", want, have, {
            "vcpus": "vcpus", "ram": "ram", "disk": "disk",
            "ephemeral": "OS-FLV-EXT-DATA:ephemeral",
            "swap": lambda h: h.get("swap") or 0, "is_public": "os-flavor-access:is_public",
            "description": "description", "extra_specs": lambda h: h.get("extra_specs") or {},
        }, replace=("vcpus", "ram", "disk", "ephemeral", "swap", "is_public"))
    return out + _prune("flavors", "flavors", desired, actual, prune)


def _cmp_keypairs(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("keypairs")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("keypairs", want["name"], "create", new=want))
        elif str(have.get("public_key", "")).strip() != str(want["public_key"]).strip():
            out.append(Change("keypairs", want["name"], "replace", "public_key",
                              _short(have.get("public_key")), _short(want["public_key"])))
    return out + _prune("keypairs", "keypairs", desired, actual, prune)


def _short(key: Any) -> str:
    text = str(key or "").strip()
    return text if len(text) <= 40 else f"{text[:20]}…{text[-12:]}"


def _cmp_networks(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("networks")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("networks", want["name"], "create", new=want))
            continue
        out += _fields("networks", want, have, {"mtu": "mtu", "shared": "shared",
                                                "description": "description",
                                                "admin_state_up": "admin_state_up",
                                                "port_security_enabled":
                                                    "port_security_enabled"})
    return out + _prune("networks", "networks", desired, actual, prune)


def _cmp_subnets(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("subnets")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("subnets", want["name"], "create", new=want))
            continue
        out += _fields("subnets", want, have, {
            "network": lambda h: actual.name_of("networks", h.get("network_id")),
            "cidr": "cidr", "ip_version": "ip_version", "gateway_ip": "gateway_ip",
            "enable_dhcp": "enable_dhcp", "dns_nameservers": "dns_nameservers",
            "description": "description",
        }, replace=("network", "cidr", "ip_version"))
    return out + _prune("subnets", "subnets", desired, actual, prune)


def _router_interfaces(actual: Actual, router_id: str) -> list[str]:
    names = []
    for port in actual.items("router_ports"):
        if port.get("device_id") == router_id:
            for ip in port.get("fixed_ips") or []:
                name = actual.name_of("subnets", ip.get("subnet_id"))
                if name:
                    names.append(name)
    return sorted(names)


def _cmp_routers(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("routers")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("routers", want["name"], "create", new=want))
            continue
        out += _fields("routers", want, have, {
            "external_network": lambda h: actual.name_of(
                "networks", (h.get("external_gateway_info") or {}).get("network_id")),
            "admin_state_up": "admin_state_up", "description": "description",
        })
        if "interfaces" in want:
            have_if = set(_router_interfaces(actual, have["id"]))
            want_if = {str(s) for s in want.get("interfaces") or []}
            for name in sorted(want_if - have_if):
                out.append(Change("routers", want["name"], "add", "interfaces", None, name))
            for name in sorted(have_if - want_if):
                out.append(Change("routers", want["name"], "remove", "interfaces", name, None))
    return out + _prune("routers", "routers", desired, actual, prune)


def _cmp_security_groups(desired: list[dict[str, Any]], actual: Actual, prune: bool
                         ) -> list[Change]:
    mine = [g for g in actual.items("security_groups")
            if g.get("project_id") in (None, actual.project_id)]
    found = {g.get("name"): g for g in mine}
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("security_groups", want["name"], "create", new=want))
            continue
        out += _fields("security_groups", want, have, {"description": "description"})
        if "rules" in want:
            have_rules = {_rule_key(r): r for r in have.get("security_group_rules") or []}
            want_rules = {_rule_key(r): r for r in want.get("rules") or []}
            for key in want_rules:
                if key not in have_rules:
                    out.append(Change("security_groups", want["name"], "add", "rules", None,
                                      rule_text(key)))
            if prune:
                for key, rule in have_rules.items():
                    if key not in want_rules:
                        out.append(Change("security_groups", want["name"], "remove", "rules",
                                          rule_text(key), rule.get("id")))
    if prune:
        keep = PROTECTED["security_groups"]
        wanted = {d["name"] for d in desired}
        out += [Change("security_groups", g["name"], "delete", old=g.get("id"))
                for g in mine if g.get("name") not in wanted and g.get("name") not in keep]
    return out


def _cmp_quotas(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    out: list[Change] = []
    for want in desired:
        label = str(want.get("project") or "(login project)")
        pid = actual.project_ref(want.get("project"))
        if pid is None:
            out.append(Change("quotas", label, "error", new=f"project '{label}' does not exist"))
            continue
        for section in ("compute", "network"):
            have = actual.data.get(f"{section}_quota:{pid}") or {}
            for key, value in sorted((want.get(section) or {}).items()):
                if not _same(value, have.get(key)):
                    out.append(Change("quotas", label, "update", f"{section}.{key}",
                                      have.get(key), value))
    return out


def _cmp_projects(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("projects")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("projects", want["name"], "create", new=want))
            continue
        out += _fields("projects", want, have, {"description": "description",
                                                "enabled": "enabled"})
    return out + _prune("projects", "projects", desired, actual, prune)


def _cmp_users(desired: list[dict[str, Any]], actual: Actual, prune: bool) -> list[Change]:
    found = actual.by_name("users")
    out: list[Change] = []
    for want in desired:
        have = found.get(want["name"])
        if have is None:
            out.append(Change("users", want["name"], "create", new=want))
            continue
        out += _fields("users", want, have, {
            "email": "email", "description": "description", "enabled": "enabled",
            "default_project": lambda h: actual.name_of("projects", h.get("default_project_id")),
        })
    return out + _prune("users", "users", desired, actual, prune)


def _assignment_name(want: dict[str, Any]) -> str:
    return f"{want['user']}@{want['project']}:{want['role']}"


def _cmp_role_assignments(desired: list[dict[str, Any]], actual: Actual, prune: bool
                          ) -> list[Change]:
    users = {u["id"]: u["name"] for u in actual.items("users")}
    projects = {p["id"]: p["name"] for p in actual.items("projects")}
    roles = {r["id"]: r["name"] for r in actual.items("roles")}
    have = set()
    for a in actual.items("role_assignments"):
        project = ((a.get("scope") or {}).get("project") or {}).get("id")
        user = (a.get("user") or {}).get("id")
        role = (a.get("role") or {}).get("id")
        if project and user and role:
            have.add((users.get(user), projects.get(project), roles.get(role)))
    out: list[Change] = []
    wanted = set()
    for want in desired:
        key = (want["user"], want["project"], want["role"])
        wanted.add(key)
        if key not in have:
            out.append(Change("role_assignments", _assignment_name(want), "create", new=want))
    if prune:
        managed = {w["user"] for w in desired}
        for key in sorted(k for k in have if k[0] in managed and k not in wanted):
            out.append(Change("role_assignments", f"{key[0]}@{key[1]}:{key[2]}", "delete",
                              old={"user": key[0], "project": key[1], "role": key[2]}))
    return out


def _cmp_image_properties(desired: list[dict[str, Any]], actual: Actual, prune: bool
                          ) -> list[Change]:
    images = {i.get("name"): i for i in actual.items("images")}
    out: list[Change] = []
    for want in desired:
        have = images.get(want["image"])
        if have is None:
            out.append(Change("image_properties", want["image"], "error",
                              new="image does not exist at this site"))
            continue
        for key, value in sorted((want.get("properties") or {}).items()):
            if not _same(value, have.get(key)):
                out.append(Change("image_properties", want["image"], "update", key,
                                  have.get(key), value))
    return out


_COMPARE: dict[str, Callable[[list[dict[str, Any]], Actual, bool], list[Change]]] = {
    "projects": _cmp_projects,
    "users": _cmp_users,
    "role_assignments": _cmp_role_assignments,
    "quotas": _cmp_quotas,
    "flavors": _cmp_flavors,
    "keypairs": _cmp_keypairs,
    "networks": _cmp_networks,
    "subnets": _cmp_subnets,
    "routers": _cmp_routers,
    "security_groups": _cmp_security_groups,
    "image_properties": _cmp_image_properties,
}
assert set(_COMPARE) == set(TYPES)


#: Keystone types: one Keystone serves every region of a cloud, so these are compared and
#: changed at one site per cloud only (its first selected region), never raced by regions.
IDENTITY_TYPES = frozenset({"projects", "users", "role_assignments"})


def site_types(types: list[str], identity_owner: bool) -> list[str]:
    """The types one site manages (Keystone types only at the cloud's owner site)."""
    return [t for t in types if identity_owner or t not in IDENTITY_TYPES]


def diff_site(resources: dict[str, list[dict[str, Any]]], actual: Actual, prune: bool,
              types: list[str] | None = None) -> list[Change]:
    """Every difference at one site, in dependency order."""
    out: list[Change] = []
    for kind in TYPES:
        if kind in resources and (types is None or kind in types):
            out += compare(kind, resources[kind], actual, prune)
    return out
