"""Mutable per-site (and per-cloud Keystone) state for the resources a baseline manages.

Why a side table rather than more fields on :class:`~edgeshade.sim.contents.SiteContents`:
the seeded contents are generated the same way for every site and are shared
by several simulated services; key pairs, subnets, routers, security groups,
network quotas, Swift objects and Keystone projects/users exist only once a
client creates them, so they live here, created empty on first use. Flavors,
networks, compute quotas and images stay in the contents (they are seeded).

:func:`site_state` and :func:`identity_state` are keyed by the fleet object, so
two simulated fleets in one process never share state.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from typing import TYPE_CHECKING, Any

from edgeshade.sim.registry import now_iso

if TYPE_CHECKING:
    from edgeshade.sim.model import Cloud, SimFleet

#: Default Neutron quotas of a project.
NETWORK_QUOTAS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
                  "security_group": 10, "security_group_rule": 100, "rbac_policy": 10,
                  "subnetpool": -1}
#: Default Nova quotas of a project other than the seeded admin project.
COMPUTE_QUOTAS = {"cores": 20, "ram": 51200, "instances": 10, "key_pairs": 100,
                  "server_groups": 10, "server_group_members": 10, "metadata_items": 128,
                  "injected_files": 5, "injected_file_content_bytes": 10240,
                  "injected_file_path_bytes": 255}


def new_id(*parts: Any) -> str:
    """A UUID-shaped id; unique per call (a counter), stable shape."""
    with _COUNTER_LOCK:
        _COUNTER[0] += 1
        n = _COUNTER[0]
    h = hashlib.md5(f"{n}:{parts}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


_COUNTER = [0]
_COUNTER_LOCK = threading.Lock()


class SiteState:
    """One site's key pairs, Neutron objects, quotas and Swift objects."""

    def __init__(self, project_id: str) -> None:
        self.keypairs: dict[str, dict[str, Any]] = {}
        self.compute_quotas: dict[str, dict[str, int]] = {}
        self.network_quotas: dict[str, dict[str, int]] = {}
        self.subnets: dict[str, dict[str, Any]] = {}
        self.routers: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.containers: dict[str, dict[str, Any]] = {}
        #: container -> object name -> {"data", "etag", "meta", "last_modified", "type"}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.default_group(project_id)

    def default_group(self, project_id: str) -> dict[str, Any]:
        """Neutron gives every project a ``default`` group with egress rules."""
        for sg in self.security_groups.values():
            if sg["name"] == "default" and sg["project_id"] == project_id:
                return sg
        return self.add_group("default", "Default security group", project_id)

    def add_group(self, name: str, description: str, project_id: str) -> dict[str, Any]:
        now = now_iso()
        sg = {"id": new_id("sg", name), "name": name, "description": description,
              "project_id": project_id, "tenant_id": project_id, "stateful": True,
              "tags": [], "created_at": now, "updated_at": now, "revision_number": 1}
        self.security_groups[sg["id"]] = sg
        for ethertype in ("IPv4", "IPv6"):  # as Neutron does on create
            self.add_rule({"security_group_id": sg["id"], "direction": "egress",
                           "ethertype": ethertype}, project_id)
        return sg

    def add_rule(self, body: dict[str, Any], project_id: str) -> dict[str, Any]:
        now = now_iso()
        rule = {
            "id": new_id("rule"),
            "security_group_id": body["security_group_id"],
            "direction": body.get("direction", "ingress"),
            "ethertype": body.get("ethertype", "IPv4"),
            "protocol": body.get("protocol"),
            "port_range_min": body.get("port_range_min"),
            "port_range_max": body.get("port_range_max"),
            "remote_ip_prefix": body.get("remote_ip_prefix"),
            "remote_group_id": body.get("remote_group_id"),
            "remote_address_group_id": None,
            "normalized_cidr": body.get("remote_ip_prefix"),
            "description": body.get("description") or "",
            "project_id": project_id,
            "tenant_id": project_id,
            "tags": [],
            "created_at": now,
            "updated_at": now,
            "revision_number": 0,
            "belongs_to_default_sg": False,
        }
        self.rules[rule["id"]] = rule
        return rule

    def rules_of(self, sg_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rules.values() if r["security_group_id"] == sg_id]


class IdentityState:
    """A cloud's Keystone: projects, users, roles, assignments (the seeded admin included)."""

    def __init__(self, cloud: Cloud) -> None:
        from edgeshade.sim.model import DOMAIN, PROJECT_NAME, USER_NAME
        from edgeshade.sim.services.identity import _ROLES, WORKLOADS_PROJECT

        self.projects: dict[str, dict[str, Any]] = {}
        for pid, name in ((cloud.project_id, PROJECT_NAME),
                          (cloud.workload_project_id, WORKLOADS_PROJECT)):
            self.projects[pid] = {"id": pid, "name": name, "domain_id": DOMAIN["id"],
                                  "description": "", "enabled": True, "is_domain": False,
                                  "parent_id": DOMAIN["id"], "tags": [], "options": {}}
        self.users: dict[str, dict[str, Any]] = {
            cloud.user_id: {"id": cloud.user_id, "name": USER_NAME, "domain_id": DOMAIN["id"],
                            "enabled": True, "email": None, "description": None,
                            "default_project_id": cloud.project_id,
                            "password_expires_at": None, "options": {}}
        }
        self.passwords: dict[str, str] = {}  # user id -> sha256 of the password
        self.roles = {r["id"]: dict(r, domain_id=None, description=None, options={})
                      for r in _ROLES}
        self.assignments: set[tuple[str, str, str]] = {
            (cloud.user_id, cloud.project_id, rid) for rid in self.roles
        }


_LOCK = threading.Lock()
_SITES: weakref.WeakKeyDictionary[SimFleet, dict[str, SiteState]] = weakref.WeakKeyDictionary()
_CLOUDS: weakref.WeakKeyDictionary[SimFleet, dict[str, IdentityState]] = (
    weakref.WeakKeyDictionary()
)
_BYTES: weakref.WeakKeyDictionary[SimFleet, list[int]] = weakref.WeakKeyDictionary()


def site_state(fleet: SimFleet, site: str) -> SiteState:
    with _LOCK:
        sites = _SITES.setdefault(fleet, {})
        found = sites.get(site)
        if found is None:
            cloud = fleet.clouds[fleet.site(site).cloud]
            found = sites[site] = SiteState(cloud.project_id)
        return found


def identity_state(fleet: SimFleet, cloud: str) -> IdentityState:
    with _LOCK:
        clouds = _CLOUDS.setdefault(fleet, {})
        found = clouds.get(cloud)
        if found is None:
            found = clouds[cloud] = IdentityState(fleet.clouds[cloud])
        return found


def count_object_bytes(fleet: SimFleet, n: int) -> None:
    """Content bytes received by Swift PUTs (``/_sim/stats`` ``object_bytes_in``)."""
    with _LOCK:
        _BYTES.setdefault(fleet, [0])[0] += n


def object_bytes(fleet: SimFleet) -> int:
    with _LOCK:
        return _BYTES.get(fleet, [0])[0]


def reset_object_bytes(fleet: SimFleet) -> None:
    with _LOCK:
        _BYTES[fleet] = [0]
