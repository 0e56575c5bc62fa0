"""What a baseline may declare: resource types, their fields, keys and order.

Checked once per baseline file (not per site), before any site is contacted:
an unknown type or field, a missing required field or a duplicate key is a
one-line error naming the file and line.

:data:`TYPES` is also the **dependency order** of changes: projects before
the users and role assignments that name them, networks before subnets before
routers; pruning goes the other way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeshade.errors import ConfigError


@dataclass(frozen=True)
class TypeSpec:
    """A resource type: identity key fields, required and optional fields."""

    key: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    doc: str

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


TYPES: dict[str, TypeSpec] = {
    "projects": TypeSpec(("name",), ("name",), ("description", "enabled", "domain"),
                         "Keystone projects"),
    "users": TypeSpec(("name",), ("name",),
                      ("password", "email", "description", "enabled", "default_project",
                       "domain"), "Keystone users (password: a secret, set on create)"),
    "role_assignments": TypeSpec(("user", "project", "role"), ("user", "project", "role"), (),
                                 "a role for a user on a project"),
    "quotas": TypeSpec(("project",), (), ("project", "compute", "network"),
                       "Nova and Neutron quotas of a project (default: the login project)"),
    "flavors": TypeSpec(("name",), ("name", "vcpus", "ram", "disk"),
                        ("ephemeral", "swap", "is_public", "description", "extra_specs"),
                        "Nova flavors"),
    "keypairs": TypeSpec(("name",), ("name", "public_key"), (), "Nova key pairs"),
    "networks": TypeSpec(("name",), ("name",),
                         ("description", "mtu", "shared", "admin_state_up",
                          "port_security_enabled"), "Neutron networks"),
    "subnets": TypeSpec(("name",), ("name", "network", "cidr"),
                        ("ip_version", "gateway_ip", "enable_dhcp", "dns_nameservers",
                         "description"), "Neutron subnets (network by name)"),
    "routers": TypeSpec(("name",), ("name",),
                        ("external_network", "interfaces", "admin_state_up", "description"),
                        "Neutron routers (interfaces: subnet names)"),
    "security_groups": TypeSpec(("name",), ("name",), ("description", "rules"),
                                "Neutron security groups and their rules"),
    "image_properties": TypeSpec(("image",), ("image", "properties"), (),
                                 "properties of existing Glance images"),
}

RULE_FIELDS = ("direction", "ethertype", "protocol", "port", "port_range_min", "port_range_max",
               "remote_ip_prefix", "description")


def check_resources(path: str, resources: Any, types: Mapping[str, TypeSpec] = TYPES) -> None:
    """Raise a one-line ConfigError for the first problem in a ``resources:`` section."""
    if not isinstance(resources, dict):
        raise ConfigError(f"{path}: field 'resources' must be a mapping of resource types")
    for kind, items in resources.items():
        if kind == "__line__":
            continue
        line = resources.get("__line__", "?")
        if kind not in types:
            raise ConfigError(
                f"{path}:{_line_of(items, line)}: unknown resource type '{kind}' "
                f"(known: {', '.join(types)})"
            )
        if not isinstance(items, list):
            raise ConfigError(f"{path}:{line}: resources.{kind} must be a list")
        spec = types[kind]
        seen: dict[tuple[Any, ...], int] = {}
        for i, item in enumerate(items):
            where = f"{path}:{_line_of(item, line)}: resources.{kind}[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(f"{where}: must be a mapping")
            for name in item:
                if name != "__line__" and name not in spec.fields:
                    raise ConfigError(
                        f"{where}: unknown field '{name}' (known: {', '.join(spec.fields)})"
                    )
            for name in spec.required:
                if name not in item:
                    raise ConfigError(f"{where}: missing field '{name}'")
            if kind == "security_groups":
                _check_rules(where, item.get("rules"))
            key = tuple(_plain_key(item.get(k)) for k in spec.key)
            if all(isinstance(k, str | type(None)) for k in key):
                if key in seen:
                    raise ConfigError(f"{where}: duplicate {kind} {'/'.join(map(str, key))}")
                seen[key] = i


def _check_rules(where: str, rules: Any) -> None:
    if rules is None:
        return
    if not isinstance(rules, list):
        raise ConfigError(f"{where}.rules: must be a list")
    for j, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}.rules[{j}]: must be a mapping")
        for name in rule:
            if name != "__line__" and name not in RULE_FIELDS:
                raise ConfigError(
                    f"{where}.rules[{j}]: unknown field '{name}' (known: {', '.join(RULE_FIELDS)})"
                )


def _plain_key(value: Any) -> Any:
    return value if isinstance(value, str | type(None)) else object()


def _line_of(node: Any, default: Any) -> Any:
    if isinstance(node, dict) and "__line__" in node:
        return node["__line__"]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return node[0].get("__line__", default)
    return getattr(node, "line", default)
