"""Converge one site: apply a diff's changes through openstacksdk, in dependency order.

Order: first what goes away (``delete`` and ``remove``, reverse dependency
order: router interfaces before subnets before networks), then everything
else in dependency order (projects → users → grants → quotas; networks →
subnets → routers; security groups then their rules). A ``replace`` is a
delete and a create of the same name. Every change is one journal step
(begun before the call, ended after), so a crash leaves the step it was in.

Calls use the ids the reads found (and record ids of what they create), so a
change is one API call, not a lookup and a call. Secret values are fetched
from ``secrets`` at the moment a call needs them and go nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeshade.baseline.resources import Actual, Change, _rule_key
from edgeshade.baseline.schema import TYPES
from edgeshade.errors import SiteError
from edgeshade.render import SecretRef

_ORDER = {kind: i for i, kind in enumerate(TYPES)}


def ordered(changes: list[Change]) -> list[Change]:
    """Removals in reverse dependency order, then the rest in dependency order."""
    removals = [c for c in changes if c.action in ("delete", "remove")]
    rest = [c for c in changes if c.action not in ("delete", "remove", "error")]
    removals.sort(key=lambda c: -_ORDER[c.type])
    rest.sort(key=lambda c: _ORDER[c.type])
    return removals + rest


class Converger:
    """Applies changes at one site; ``desired`` is the site's rendered resources."""

    def __init__(self, conn: Any, actual: Actual, desired: Mapping[str, list[dict[str, Any]]],
                 secrets: Mapping[str, str] | None = None) -> None:
        self.conn = conn
        self.sdk = conn.cloud
        self.actual = actual
        self.desired = desired
        self._secrets = secrets or {}

    # -- lookups --------------------------------------------------------------------------

    def want(self, kind: str, name: str) -> dict[str, Any]:
        key = TYPES[kind].key[0]
        for item in self.desired.get(kind, []):
            if str(item.get(key)) == name:
                return item
        raise KeyError(f"{kind}/{name}")

    def _id(self, key: str, name: str | None) -> str | None:
        if name is None:
            return None
        for item in self.actual.items(key):
            if item.get("name") == name or item.get("id") == name:
                return item.get("id")
        return None

    def _need(self, key: str, name: str, what: str) -> str:
        found = self._id(key, name)
        if found is None:
            raise SiteError(f"{what}: {key[:-1]} '{name}' does not exist at this site")
        return found

    def _remember(self, key: str, obj: Any) -> None:
        data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        self.actual.data.setdefault(key, []).append(data)

    def _forget(self, key: str, ident: str) -> None:
        self.actual.data[key] = [i for i in self.actual.items(key) if i.get("id") != ident]

    def secret(self, value: Any) -> Any:
        if isinstance(value, SecretRef):
            if value.name not in self._secrets:
                raise SiteError(f"secret '{value.name}' is not defined for this site")
            return self._secrets[value.name]
        return value

    # -- dispatch ------------------------------------------------------------------------

    def apply(self, change: Change) -> Any:
        """Make one change; returns what to journal as ``after`` (never a secret)."""
        handler = getattr(self, f"_{change.type}")
        return handler(change)

    # -- compute ----------------------------------------------------------------------------

    def _flavors(self, c: Change) -> Any:
        compute = self.sdk.compute
        if c.action in ("delete", "replace"):
            fid = c.old if c.action == "delete" else self._id("flavors", c.name)
            if fid:
                compute.delete_flavor(fid, ignore_missing=True)
                self._forget("flavors", fid)
            if c.action == "delete":
                return None
        if c.action in ("create", "replace"):
            want = self.want("flavors", c.name)
            flavor = compute.create_flavor(
                name=want["name"], vcpus=int(want["vcpus"]), ram=int(want["ram"]),
                disk=int(want["disk"]), ephemeral=int(want.get("ephemeral") or 0),
                swap=int(want.get("swap") or 0), is_public=bool(want.get("is_public", True)),
                description=want.get("description"),
            )
            if want.get("extra_specs"):
                compute.create_flavor_extra_specs(
                    flavor, {k: str(v) for k, v in want["extra_specs"].items()})
            self._remember("flavors", {"id": flavor.id, "name": flavor.name})
            return {"id": flavor.id}
        fid = self._need("flavors", c.name, "flavor")
        if c.field == "description":
            compute.update_flavor(fid, description=c.new)
        elif c.field == "extra_specs":
            old = dict(c.old or {})
            new = {k: str(v) for k, v in (c.new or {}).items()}
            for key in old:
                if key not in new:
                    compute.delete_flavor_extra_specs_property(fid, key)
            changed = {k: v for k, v in new.items() if str(old.get(k)) != v}
            if changed:
                compute.create_flavor_extra_specs(fid, changed)
        return {"id": fid, c.field or "": c.new}

    def _keypairs(self, c: Change) -> Any:
        compute = self.sdk.compute
        if c.action in ("delete", "replace"):
            compute.delete_keypair(c.name, ignore_missing=True)
            if c.action == "delete":
                return None
        want = self.want("keypairs", c.name)
        compute.create_keypair(name=want["name"], public_key=str(want["public_key"]).strip())
        return {"name": c.name}

    # -- network ----------------------------------------------------------------------------

    def _networks(self, c: Change) -> Any:
        net = self.sdk.network
        if c.action == "delete":
            net.delete_network(c.old, ignore_missing=True)
            self._forget("networks", c.old)
            return None
        want = self.want("networks", c.name)
        attrs = {k: want[k] for k in ("mtu", "shared", "description", "admin_state_up",
                                      "port_security_enabled") if k in want}
        if c.action == "create":
            made = net.create_network(name=want["name"], **attrs)
            self._remember("networks", {"id": made.id, "name": made.name})
            return {"id": made.id}
        nid = self._need("networks", c.name, "network")
        net.update_network(nid, **{c.field: c.new})  # type: ignore[misc]
        return {"id": nid, c.field or "": c.new}

    def _subnets(self, c: Change) -> Any:
        net = self.sdk.network
        if c.action in ("delete", "replace"):
            sid = c.old if c.action == "delete" else self._id("subnets", c.name)
            if sid:
                net.delete_subnet(sid, ignore_missing=True)
                self._forget("subnets", sid)
            if c.action == "delete":
                return None
        want = self.want("subnets", c.name)
        if c.action in ("create", "replace"):
            attrs = {k: want[k] for k in ("gateway_ip", "enable_dhcp", "dns_nameservers",
                                          "description") if k in want}
            made = net.create_subnet(
                name=want["name"], cidr=want["cidr"], ip_version=int(want.get("ip_version", 4)),
                network_id=self._need("networks", want["network"], f"subnet {c.name}"),
                **attrs,
            )
            self._remember("subnets", {"id": made.id, "name": made.name})
            return {"id": made.id}
        sid = self._need("subnets", c.name, "subnet")
        net.update_subnet(sid, **{c.field: c.new})  # type: ignore[misc]
        return {"id": sid, c.field or "": c.new}

    def _routers(self, c: Change) -> Any:
        net = self.sdk.network
        if c.action == "delete":
            for port in self.actual.items("router_ports"):
                if port.get("device_id") == c.old:
                    net.remove_interface_from_router(c.old, port_id=port["id"])
            net.delete_router(c.old, ignore_missing=True)
            return None
        want = self.want("routers", c.name)
        if c.action == "create":
            attrs: dict[str, Any] = {k: want[k] for k in ("admin_state_up", "description")
                                     if k in want}
            if want.get("external_network"):
                attrs["external_gateway_info"] = {"network_id": self._need(
                    "networks", want["external_network"], f"router {c.name}")}
            made = net.create_router(name=want["name"], **attrs)
            self._remember("routers", {"id": made.id, "name": made.name})
            for subnet in want.get("interfaces") or []:
                net.add_interface_to_router(
                    made.id, subnet_id=self._need("subnets", str(subnet), f"router {c.name}"))
            return {"id": made.id}
        rid = self._need("routers", c.name, "router")
        if c.action == "add":
            net.add_interface_to_router(
                rid, subnet_id=self._need("subnets", str(c.new), f"router {c.name}"))
        elif c.action == "remove":
            net.remove_interface_from_router(
                rid, subnet_id=self._need("subnets", str(c.old), f"router {c.name}"))
        elif c.field == "external_network":
            gateway = ({"network_id": self._need("networks", c.new, f"router {c.name}")}
                       if c.new else None)
            net.update_router(rid, external_gateway_info=gateway)
        else:
            net.update_router(rid, **{c.field: c.new})  # type: ignore[misc]
        return {"id": rid, c.field or "": c.new if c.action != "remove" else None}

    def _security_groups(self, c: Change) -> Any:
        net = self.sdk.network
        if c.action == "delete":
            net.delete_security_group(c.old, ignore_missing=True)
            return None
        want = self.want("security_groups", c.name)
        if c.action == "create":
            sg = net.create_security_group(name=want["name"],
                                           description=want.get("description") or "")
            self._remember("security_groups", {"id": sg.id, "name": sg.name})
            for rule in want.get("rules") or []:
                self._create_rule(sg.id, rule)
            return {"id": sg.id}
        sid = self._need("security_groups", c.name, "security group")
        if c.action == "add":
            rule = next(r for r in want.get("rules") or [] if _rule_text_of(r) == c.new)
            made = self._create_rule(sid, rule)
            return {"id": sid, "rule": made}
        if c.action == "remove":
            net.delete_security_group_rule(c.new, ignore_missing=True)
            return {"id": sid, "removed": c.old}
        net.update_security_group(sid, **{c.field: c.new})  # type: ignore[misc]
        return {"id": sid, c.field or "": c.new}

    def _create_rule(self, sg_id: str, rule: dict[str, Any]) -> str:
        direction, ethertype, proto, lo, hi, prefix = _rule_key(rule)
        attrs = {"security_group_id": sg_id, "direction": direction, "ethertype": ethertype}
        if proto is not None:
            attrs["protocol"] = proto
        if lo is not None:
            attrs["port_range_min"], attrs["port_range_max"] = lo, hi
        if prefix:
            attrs["remote_ip_prefix"] = prefix
        if rule.get("description"):
            attrs["description"] = rule["description"]
        return str(self.sdk.network.create_security_group_rule(**attrs).id)

    def _quotas(self, c: Change) -> Any:
        pid = self.actual.project_ref(None if c.name == "(login project)" else c.name)
        if pid is None:
            raise SiteError(f"quotas: project '{c.name}' does not exist at this site")
        section, _, key = str(c.field).partition(".")
        if section == "compute":
            self.sdk.compute.update_quota_set(pid, **{key: int(c.new)})
        else:
            self.sdk.network.update_quota(pid, **{key: int(c.new)})
        return {"project": pid, str(c.field): c.new}

    # -- identity ----------------------------------------------------------------------------

    def _projects(self, c: Change) -> Any:
        identity = self.sdk.identity
        if c.action == "delete":
            identity.delete_project(c.old, ignore_missing=True)
            self._forget("projects", c.old)
            return None
        want = self.want("projects", c.name)
        if c.action == "create":
            made = identity.create_project(
                name=want["name"], domain_id=want.get("domain") or "default",
                description=want.get("description") or "",
                is_enabled=bool(want.get("enabled", True)),
            )
            self._remember("projects", {"id": made.id, "name": made.name})
            return {"id": made.id}
        pid = self._need("projects", c.name, "project")
        field = "is_enabled" if c.field == "enabled" else c.field
        identity.update_project(pid, **{field: c.new})  # type: ignore[misc]
        return {"id": pid, c.field or "": c.new}

    def _users(self, c: Change) -> Any:
        identity = self.sdk.identity
        if c.action == "delete":
            identity.delete_user(c.old, ignore_missing=True)
            self._forget("users", c.old)
            return None
        want = self.want("users", c.name)
        if c.action == "create":
            attrs: dict[str, Any] = {k: want[k] for k in ("email", "description") if k in want}
            if want.get("default_project"):
                attrs["default_project_id"] = self._need(
                    "projects", want["default_project"], f"user {c.name}")
            if want.get("password") is not None:
                attrs["password"] = self.secret(want["password"])
            made = identity.create_user(name=want["name"],
                                        domain_id=want.get("domain") or "default",
                                        is_enabled=bool(want.get("enabled", True)), **attrs)
            self._remember("users", {"id": made.id, "name": made.name})
            return {"id": made.id}
        uid = self._need("users", c.name, "user")
        if c.field == "default_project":
            identity.update_user(uid, default_project_id=self._need(
                "projects", c.new, f"user {c.name}"))
        else:
            field = "is_enabled" if c.field == "enabled" else c.field
            identity.update_user(uid, **{field: c.new})  # type: ignore[misc]
        return {"id": uid, c.field or "": c.new}

    def _role_assignments(self, c: Change) -> Any:
        identity = self.sdk.identity
        ref = c.new if c.action == "create" else c.old
        what = f"role assignment {c.name}"
        project = self._need("projects", ref["project"], what)
        user = self._need("users", ref["user"], what)
        role = self._need("roles", ref["role"], what)
        if c.action == "create":
            identity.assign_project_role_to_user(project, user, role)
        else:
            identity.unassign_project_role_from_user(project, user, role)
        return {"project": project, "user": user, "role": role}

    def _image_properties(self, c: Change) -> Any:
        iid = self._need("images", c.name, "image properties")
        self.sdk.image.update_image(iid, **{str(c.field): c.new})
        return {"id": iid, str(c.field): c.new}


def _rule_text_of(rule: dict[str, Any]) -> str:
    from edgeshade.baseline.resources import rule_text

    return rule_text(_rule_key(rule))
