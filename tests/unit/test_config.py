"""Sites, groups, selectors and one-line errors from clouds.yaml + secure.yaml."""

from __future__ import annotations

import logging

import pytest

from edgeshade.config import FleetConfig
from edgeshade.errors import ConfigError, SelectorError


@pytest.fixture
def config(fleet_files) -> FleetConfig:
    return FleetConfig(fleet_files[0])


def names(sites) -> list[str]:
    return [s.name for s in sites]


def test_regions_expand_into_sites_in_file_order(config) -> None:
    assert names(config.sites) == [
        "dc-west/RegionOne", "dc-west/RegionTwo", "edge-berlin", "edge-paris"
    ]
    assert config.site("edge-berlin").region == "RegionOne"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("all", ["dc-west/RegionOne", "dc-west/RegionTwo", "edge-berlin", "edge-paris"]),
        ("dc-west", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("dc-west/RegionTwo", ["dc-west/RegionTwo"]),
        ("dc-west:Region*", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("edge-*", ["edge-berlin", "edge-paris"]),
        ("eu", ["dc-west/RegionTwo", "edge-berlin"]),
        ("@pilot", ["edge-berlin"]),
        ("edge-paris,dc-west:RegionOne", ["dc-west/RegionOne", "edge-paris"]),
        ("!edge-*", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
    ],
)
def test_selectors(config, selector, expected) -> None:
    assert names(config.select(selector)) == expected


def test_repeated_selectors_union_and_exclude(config) -> None:
    assert names(config.select(["edge-*", "edge-paris", "!edge-berlin"])) == ["edge-paris"]


def test_group_membership_and_vars_cloud_wins(config) -> None:
    berlin = config.site("edge-berlin")
    assert berlin.groups == ("eu", "pilot")
    assert berlin.vars == {"ntp": "10.0.0.1", "zone": "berlin", "cidr": "10.1.0.0/24"}
    assert config.site("dc-west/RegionTwo").groups == ("datacenters", "eu")


def test_secure_yaml_next_to_config_is_merged(config) -> None:
    auth = config.cloud_region(config.site("edge-berlin")).config["auth"]
    assert auth["password"] == "berlin-secret-pw"
    assert "password" not in config.describe(config.site("edge-berlin"))


def test_os_client_config_file_env(fleet_files, monkeypatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", fleet_files[0])
    assert len(FleetConfig().sites) == 4
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/nonexistent/clouds.yaml")
    with pytest.raises(ConfigError, match="OS_CLIENT_CONFIG_FILE"):
        FleetConfig()


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("nope", "unknown cloud or group 'nope'"),
        ("zz-*", "selector 'zz-\\*' matches no site"),
        ("@nogroup", "unknown group 'nogroup'"),
        ("dc-west:RegionNine", "matches no site"),
    ],
)
def test_selector_matching_nothing_is_an_error(config, selector, message) -> None:
    with pytest.raises(SelectorError, match=message):
        config.select(selector)


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clouds:\n  a:\n    auth: {auth_url: x\n  b: 1\n", r"bad\.yaml:4: YAML syntax error"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("clouds: [a, b]\n", "field 'clouds' must be a mapping"),
        ("clouds:\n  a: 3\n", "cloud 'a' must be a mapping"),
        ("edgeshade:\n  groups: [x]\nclouds: {}\n", "edgeshade.groups' must be a mapping"),
        ("edgeshade:\n  groups:\n    g: {sites: 3}\nclouds:\n  a: {auth: {auth_url: u}}\n",
         "edgeshade.groups.g.sites' must be a list"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_field(tmp_path, text, message) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        FleetConfig(_write(tmp_path, text)).select("all")
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        FleetConfig(str(tmp_path / "missing.yaml"))


def test_cloud_without_auth_and_without_auth_url(tmp_path) -> None:
    path = _write(tmp_path, "clouds:\n  a: {region_name: R}\n  b: {auth: {username: u}}\n")
    config = FleetConfig(path)
    with pytest.raises(ConfigError, match=r"cloud 'a': no auth section \(clouds.a.auth\)"):
        config.select("a")
    with pytest.raises(ConfigError, match="cloud 'b': missing auth_url"):
        config.select("b")


def test_readable_secure_yaml_warns(fleet_files, caplog) -> None:
    clouds, secure = fleet_files
    with caplog.at_level(logging.WARNING, logger="edgeshade"):
        FleetConfig(clouds)
    assert not caplog.records
    import os

    os.chmod(secure, 0o644)
    with caplog.at_level(logging.WARNING, logger="edgeshade"):
        FleetConfig(clouds)
    assert "readable by group/others" in caplog.text and "chmod 600" in caplog.text


def test_openstack_config_internals_we_rely_on(config) -> None:
    """Pin private openstack.config behaviour: region expansion and chosen file names."""
    regions = config.openstack_config._get_regions("dc-west")
    assert [r["name"] for r in regions] == ["RegionOne", "RegionTwo"]
    assert config.openstack_config.config_filename.endswith("clouds.yaml")
    assert config.openstack_config.secure_config_filename.endswith("secure.yaml")
