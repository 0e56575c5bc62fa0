"""Desired vs actual without a site: comparisons, rule identity, prune, change order."""

from __future__ import annotations

from typing import Any

from edgeshade.baseline.converge import ordered
from edgeshade.baseline.resources import Actual, Change, _rule_key, diff_site, rule_text


def actual(**data: Any) -> Actual:
    """An Actual as a site's reads would fill it (no connection needed to compare)."""
    found = Actual.__new__(Actual)
    found.conn = None
    found.project_id = "p-admin"
    found.data = data
    return found


FLAVOR = {"id": "f1", "name": "e1.small", "vcpus": 1, "ram": 2048, "disk": 20,
          "OS-FLV-EXT-DATA:ephemeral": 0, "swap": "", "os-flavor-access:is_public": True,
          "description": None, "extra_specs": {"hw:cpu_policy": "shared"}}


def test_only_fields_the_baseline_sets_are_compared() -> None:
    want = {"flavors": [{"name": "e1.small", "vcpus": 1, "ram": 2048, "disk": 20}]}
    assert diff_site(want, actual(flavors=[FLAVOR]), prune=False) == []


def test_immutable_flavor_field_is_a_replace_mutable_one_an_update() -> None:
    want = {"flavors": [{"name": "e1.small", "vcpus": 1, "ram": 4096, "disk": 20,
                         "extra_specs": {"hw:cpu_policy": "dedicated"}}]}
    changes = diff_site(want, actual(flavors=[FLAVOR]), prune=False)
    assert [(c.action, c.field, c.old, c.new) for c in changes] == [
        ("replace", "ram", 2048, 4096),
        ("update", "extra_specs", {"hw:cpu_policy": "shared"}, {"hw:cpu_policy": "dedicated"}),
    ]
    assert changes[0].describe() == "flavors/e1.small: ram 2048 → 4096 (replace)"


def test_rules_are_compared_by_identity_with_defaults_and_port_ranges() -> None:
    assert _rule_key({"protocol": "TCP", "port": "80-443", "remote_ip_prefix": "0.0.0.0/0"}) == \
        ("ingress", "IPv4", "tcp", 80, 443, "0.0.0.0/0")
    assert _rule_key({"protocol": "any"}) == ("ingress", "IPv4", None, None, None, None)
    assert rule_text(_rule_key({"protocol": "tcp", "port": 22, "remote_ip_prefix": "10.0.0.0/8"})
                     ) == "ingress IPv4 tcp 22 from 10.0.0.0/8"
    group = {"id": "sg1", "name": "web", "project_id": "p-admin", "description": "",
             "security_group_rules": [
                 {"id": "r1", "direction": "egress", "ethertype": "IPv4", "protocol": None,
                  "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None},
                 {"id": "r2", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                  "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"},
             ]}
    want = {"security_groups": [{"name": "web", "rules": [
        {"protocol": "tcp", "port": 22, "remote_ip_prefix": "10.0.0.0/8"},
        {"protocol": "tcp", "port": 443, "remote_ip_prefix": "0.0.0.0/0"},
    ]}]}
    site = actual(security_groups=[group])
    assert [c.describe() for c in diff_site(want, site, prune=False)] == [
        "security_groups/web: rules missing ingress IPv4 tcp 443 from 0.0.0.0/0"]
    pruned = diff_site(want, site, prune=True)
    assert [(c.action, c.old, c.new) for c in pruned][1] == ("remove", "egress IPv4 any", "r1")


def test_prune_spares_what_the_cloud_needs() -> None:
    groups = [{"id": "d", "name": "default", "project_id": "p-admin"},
              {"id": "x", "name": "stray", "project_id": "p-admin"},
              {"id": "o", "name": "other-project", "project_id": "p-other"}]
    changes = diff_site({"security_groups": []}, actual(security_groups=groups), prune=True)
    assert [(c.action, c.name) for c in changes] == [("delete", "stray")]


def test_quota_of_a_missing_project_is_an_error_not_a_change() -> None:
    want = {"quotas": [{"project": "ghost", "compute": {"cores": 8}}]}
    changes = diff_site(want, actual(projects=[]), prune=False)
    assert [(c.action, c.name) for c in changes] == [("error", "ghost")]
    assert ordered(changes) == []


def test_changes_run_removals_first_in_reverse_dependency_order() -> None:
    changes = [
        Change("networks", "n", "create"), Change("subnets", "s", "create"),
        Change("networks", "old", "delete"), Change("subnets", "old", "delete"),
        Change("routers", "r", "remove", "interfaces", "s-old"),
        Change("projects", "p", "create"),
    ]
    assert [(c.type, c.action) for c in ordered(changes)] == [
        ("routers", "remove"), ("subnets", "delete"), ("networks", "delete"),
        ("projects", "create"), ("networks", "create"), ("subnets", "create"),
    ]
