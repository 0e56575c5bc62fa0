"""Sites, groups, selectors, secure.yaml and one-line input errors (edgeshade.config)."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import pytest

from edgeshade.config import FleetConfig, Site
from edgeshade.errors import ConfigError, SelectorError

#: Site names of the shared fleet_files fixture, in clouds.yaml order.
ALL_SITES = ["dc-west/RegionOne", "dc-west/RegionTwo", "edge-berlin", "edge-paris"]
AUTH = "auth: {auth_url: http://k.example:5000/v3, username: u, project_name: p}"

#: Clouds and regions deliberately not in alphabetical order, two groups setting
#: the same var, and a cloud overriding both.
ORDERED = f"""
edgeshade:
  groups:
    first: {{sites: [zeta], vars: {{tier: from-first, ntp: 10.0.0.1}}}}
    second:
      sites: ["zeta:R1", mid]
      vars: {{tier: from-second, zone: second}}
    short-form: [alpha, "mid"]
clouds:
  zeta:
    {AUTH}
    regions: [R2, R1]
  alpha:
    {AUTH}
    edgeshade:
      groups: [own]
  mid:
    {AUTH}
    region_name: RegionOne
    edgeshade:
      groups: [own, second]
      vars: {{zone: mid-own}}
"""


@pytest.fixture
def config(fleet_files) -> FleetConfig:
    return FleetConfig(fleet_files[0])


def names(sites) -> list[str]:
    return [s.name for s in sites]


def one_line_error(exc: BaseException, path: str, *fragments: str) -> None:
    """Input errors are a single line that starts with the file and names the field."""
    text = str(exc)
    assert "\n" not in text, text
    assert text.startswith(path), text
    for fragment in fragments:
        assert fragment in text, text


# -- sites -------------------------------------------------------------------


@pytest.fixture
def ordered(write_clouds) -> FleetConfig:
    return FleetConfig(write_clouds(ORDERED))


def test_regions_expand_into_sites(config) -> None:
    assert names(config.sites) == ALL_SITES
    assert [(s.cloud, s.region) for s in config.sites] == [
        ("dc-west", "RegionOne"),
        ("dc-west", "RegionTwo"),
        ("edge-berlin", "RegionOne"),
        ("edge-paris", "RegionOne"),
    ]


def test_sites_keep_clouds_yaml_order_not_alphabetical(ordered) -> None:
    assert [(s.name, s.cloud, s.region) for s in ordered.sites] == [
        ("zeta/R2", "zeta", "R2"),
        ("zeta/R1", "zeta", "R1"),
        ("alpha", "alpha", None),  # no region at all: None, not ""
        ("mid", "mid", "RegionOne"),
    ]
    assert names(ordered.select("mid,alpha,zeta")) == ["zeta/R2", "zeta/R1", "alpha", "mid"]


def test_a_one_entry_regions_list_is_a_single_region_site(write_clouds) -> None:
    path = write_clouds(f"clouds:\n  solo:\n    {AUTH}\n    regions: [OnlyOne]\n")
    (site,) = FleetConfig(path).sites
    assert (site.name, site.region) == ("solo", "OnlyOne")


def test_a_file_without_clouds_has_no_sites_and_selecting_is_an_error(write_clouds) -> None:
    """openstack.config invents a 'defaults' cloud; it must not become a site."""
    path = write_clouds("clouds: {}\n")
    config = FleetConfig(path)
    assert config.sites == []
    with pytest.raises(SelectorError, match="no clouds defined"):
        config.select("all")


def test_site_is_hashable_and_picklable(config) -> None:
    """Sites cross process (fork) and Dask boundaries."""
    site = config.site("edge-berlin")
    clone = pickle.loads(pickle.dumps(site))
    assert clone == site and hash(clone) == hash(site)
    assert clone.vars == site.vars and clone.groups == site.groups
    assert str(site) == "edge-berlin"


# -- selectors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("all", ALL_SITES),
        ("*", ALL_SITES),
        ("dc-west", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("edge-berlin", ["edge-berlin"]),
        ("dc-west/RegionTwo", ["dc-west/RegionTwo"]),
        ("dc-west:RegionTwo", ["dc-west/RegionTwo"]),
        ("dc-west/Region*", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("dc-west:*One", ["dc-west/RegionOne"]),
        ("*:RegionOne", ["dc-west/RegionOne", "edge-berlin", "edge-paris"]),
        ("*/RegionTwo", ["dc-west/RegionTwo"]),
        ("edge-*", ["edge-berlin", "edge-paris"]),
        ("*-west", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("edge-?aris", ["edge-paris"]),
        ("eu", ["dc-west/RegionTwo", "edge-berlin"]),
        ("@eu", ["dc-west/RegionTwo", "edge-berlin"]),
        ("pilot", ["edge-berlin"]),
        ("@pilot", ["edge-berlin"]),
        ("datacenters", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("edge-paris,dc-west/RegionTwo", ["dc-west/RegionTwo", "edge-paris"]),
        (" edge-paris , dc-west:RegionOne ", ["dc-west/RegionOne", "edge-paris"]),
        ("!edge-*", ["dc-west/RegionOne", "dc-west/RegionTwo"]),
        ("@datacenters,!dc-west/RegionOne", ["dc-west/RegionTwo"]),
        ("all,!@eu", ["dc-west/RegionOne", "edge-paris"]),
        ("edge-berlin,@eu,edge-*,edge-berlin", ["dc-west/RegionTwo", "edge-berlin", "edge-paris"]),
    ],
)
def test_selectors(config, selector, expected) -> None:
    assert names(config.select(selector)) == expected


def test_selector_lists_union_then_exclude(config) -> None:
    assert names(config.select(["edge-*", "dc-west:RegionOne", "!edge-berlin"])) == [
        "dc-west/RegionOne",
        "edge-paris",
    ]
    assert names(config.select(None)) == ALL_SITES
    assert names(config.select([])) == ALL_SITES


def test_a_cloud_name_wins_over_a_group_of_the_same_name(write_clouds) -> None:
    path = write_clouds(
        f"""
        edgeshade:
          groups:
            a: {{sites: [b]}}
        clouds:
          a: {{{AUTH}}}
          b: {{{AUTH}}}
        """
    )
    config = FleetConfig(path)
    assert names(config.select("a")) == ["a"]
    assert names(config.select("@a")) == ["b"]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("nope", "unknown cloud or group 'nope'"),
        ("zz-*", "selector 'zz-*' matches no site"),
        ("@nogroup", "unknown group 'nogroup'"),
        ("dc-west:RegionNine", "selector 'dc-west:RegionNine' matches no site"),
        ("dc-west/Nine*", "matches no site"),
        ("edge-*,!typo", "unknown cloud or group 'typo'"),
    ],
)
def test_selector_matching_nothing_is_an_error(config, selector, message) -> None:
    """A typo must never shrink the fleet silently."""
    with pytest.raises(SelectorError) as err:
        config.select(selector)
    one_line_error(err.value, config.path, message)


def test_unknown_cloud_message_lists_known_clouds(config) -> None:
    with pytest.raises(SelectorError, match=r"\(clouds: dc-west, edge-berlin, edge-paris"):
        config.select("nope")


# -- groups and vars -------------------------------------------------------------


def test_group_membership_and_cloud_vars_win(config) -> None:
    berlin = config.site("edge-berlin")
    # Declared groups first, then the groups the cloud lists itself.
    assert berlin.groups == ("eu", "pilot")
    assert berlin.vars == {"ntp": "10.0.0.1", "zone": "berlin", "cidr": "10.1.0.0/24"}
    assert config.site("dc-west/RegionTwo").groups == ("datacenters", "eu")
    assert config.site("dc-west/RegionTwo").vars == {"ntp": "10.0.0.1", "zone": "eu"}
    assert config.site("dc-west/RegionOne").vars == {}


def test_group_vars_merge_in_declaration_order_then_cloud(ordered) -> None:
    assert ordered.site("zeta/R1").groups == ("first", "second")
    assert ordered.site("zeta/R1").vars == {"tier": "from-second", "ntp": "10.0.0.1",
                                            "zone": "second"}
    assert ordered.site("zeta/R2").vars == {"tier": "from-first", "ntp": "10.0.0.1"}
    mid = ordered.site("mid")
    assert mid.groups == ("second", "short-form", "own")  # a listed group is not repeated
    assert mid.vars == {"tier": "from-second", "zone": "mid-own"}


def test_groups_property(config, ordered) -> None:
    assert {g: names(sites) for g, sites in config.groups.items()} == {
        "datacenters": ["dc-west/RegionOne", "dc-west/RegionTwo"],
        "eu": ["dc-west/RegionTwo", "edge-berlin"],
        "pilot": ["edge-berlin"],
    }
    assert names(ordered.groups["own"]) == ["alpha", "mid"]
    assert names(ordered.select("@short-form")) == ["alpha", "mid"]


# -- secure.yaml and file search -------------------------------------------------


def test_password_only_in_secure_yaml_reaches_the_cloud_region(config, fleet_files) -> None:
    assert config.secure_path == fleet_files[1]
    berlin = config.cloud_region(config.site("edge-berlin")).config["auth"]
    assert berlin["password"] == "berlin-secret-pw"
    assert berlin["auth_url"] == "http://edge-berlin.example:5000/v3"  # clouds.yaml kept
    paris = config.cloud_region(config.site("edge-paris")).config["auth"]
    assert paris["application_credential_secret"] == "paris-app-secret"
    region_two = config.cloud_region(config.site("dc-west/RegionTwo"))
    assert region_two.region_name == "RegionTwo"
    assert region_two.config["auth"]["password"] == "dc-secret-pw"


def test_describe_never_carries_secrets(config) -> None:
    text = json.dumps([config.describe(s) for s in config.sites])
    for secret in ("dc-secret-pw", "berlin-secret-pw", "paris-app-secret"):
        assert secret not in text
    described = config.describe(config.site("edge-paris"))
    assert described["auth_type"] == "v3applicationcredential"
    assert described["auth_url"] == "http://edge-paris.example:5000/v3"


def _user_config_dir() -> Path:
    path = Path(os.environ["HOME"]) / ".config" / "openstack"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_secure_yaml_next_to_explicit_config_file_wins_over_search_path(config) -> None:
    """With --os-config-file, its sibling secure.yaml belongs to it."""
    decoy = _user_config_dir() / "secure.yaml"
    decoy.write_text("clouds:\n  edge-berlin:\n    auth: {password: decoy}\n")
    decoy.chmod(0o600)
    fresh = FleetConfig(config.path)
    assert fresh.cloud_region(fresh.site("edge-berlin")).config["auth"]["password"] == (
        "berlin-secret-pw"
    )


def test_explicit_secure_file(fleet_files, tmp_path) -> None:
    other = tmp_path / "other-secure.yaml"
    other.write_text("clouds:\n  edge-berlin:\n    auth: {password: from-other}\n")
    other.chmod(0o600)
    config = FleetConfig(fleet_files[0], str(other))
    assert config.secure_path == str(other)
    assert config.cloud_region(config.site("edge-berlin")).config["auth"]["password"] == (
        "from-other"
    )
    with pytest.raises(ConfigError) as err:
        FleetConfig(fleet_files[0], str(tmp_path / "missing.yaml"))
    one_line_error(err.value, str(tmp_path / "missing.yaml"), "no such file", "--os-secure-file")


def test_os_client_config_file_is_honoured(fleet_files, monkeypatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", fleet_files[0])
    assert names(FleetConfig().sites) == ALL_SITES


def test_missing_os_client_config_file_is_an_error(monkeypatch, tmp_path) -> None:
    missing = str(tmp_path / "nowhere" / "clouds.yaml")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", missing)
    with pytest.raises(ConfigError) as err:
        FleetConfig()
    one_line_error(err.value, missing, "no such file", "OS_CLIENT_CONFIG_FILE")


def test_explicit_config_file_wins_over_env_which_is_restored(
    fleet_files, monkeypatch, write_clouds
) -> None:
    env_file = write_clouds(f"clouds:\n  from-env: {{{AUTH}}}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", env_file)
    assert names(FleetConfig(fleet_files[0]).sites) == ALL_SITES
    assert os.environ["OS_CLIENT_CONFIG_FILE"] == env_file
    assert names(FleetConfig().sites) == ["from-env"]


def test_os_client_secure_file_is_honoured(fleet_files, monkeypatch, tmp_path) -> None:
    env_secure = tmp_path / "env-secure.yaml"
    env_secure.write_text("clouds:\n  edge-berlin:\n    auth: {password: from-env}\n")
    env_secure.chmod(0o600)
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(env_secure))
    config = FleetConfig(fleet_files[0])
    assert config.cloud_region(config.site("edge-berlin")).config["auth"]["password"] == (
        "from-env"
    )
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="OS_CLIENT_SECURE_FILE"):
        FleetConfig(fleet_files[0])


def test_standard_search_path_and_nothing_found() -> None:
    with pytest.raises(ConfigError, match="no clouds.yaml found") as err:
        FleetConfig()
    assert "\n" not in str(err.value)
    (_user_config_dir() / "clouds.yaml").write_text(f"clouds:\n  home: {{{AUTH}}}\n")
    assert names(FleetConfig().sites) == ["home"]


# -- bad input: one line naming the file and the field ----------------------------


def test_missing_file(tmp_path) -> None:
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError) as err:
        FleetConfig(missing)
    one_line_error(err.value, missing, "no such file", "--os-config-file")


def test_yaml_syntax_error_names_file_and_line(write_clouds) -> None:
    path = write_clouds(
        "clouds:\n  a:\n    auth:\n      auth_url: http://x\n     bad: 1\n"
    )
    with pytest.raises(ConfigError) as err:
        FleetConfig(path)
    one_line_error(err.value, path, f"{path}:5: YAML syntax error")


def test_yaml_error_in_secure_yaml_is_not_skipped(fleet_files) -> None:
    """openstack.config skips a broken secure.yaml silently: passwords would vanish."""
    Path(fleet_files[1]).write_text("clouds:\n  a: {auth: {password: \"x}\n")
    with pytest.raises(ConfigError) as err:
        FleetConfig(fleet_files[0])
    one_line_error(err.value, fleet_files[1], f"{fleet_files[1]}:3: YAML syntax error")


def test_non_utf8_file(tmp_path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_bytes(b"clouds:\n  caf\xe9: {}\n")
    with pytest.raises(ConfigError) as err:
        FleetConfig(str(path))
    one_line_error(err.value, str(path), "UTF-8")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("- just\n- a list\n", ["top level must be a mapping"]),
        ("clouds: [a, b]\n", ["field 'clouds' must be a mapping"]),
        ("clouds:\n  a: 3\n", ["cloud 'a' must be a mapping", "clouds.a"]),
        ("edgeshade: [x]\nclouds: {}\n", ["field 'edgeshade' must be a mapping"]),
        ("edgeshade:\n  groups: [x]\nclouds: {}\n", ["'edgeshade.groups' must be a mapping"]),
        (
            "edgeshade:\n  groups:\n    g: 3\nclouds: {}\n",
            ["'edgeshade.groups.g' must be a mapping"],
        ),
        (
            "edgeshade:\n  groups:\n    g: {sites: 3}\nclouds: {}\n",
            ["'edgeshade.groups.g.sites' must be a list"],
        ),
        (
            "edgeshade:\n  groups:\n    g: {sites: [a], vars: [1]}\nclouds: {}\n",
            ["'edgeshade.groups.g.vars' must be a mapping"],
        ),
        (
            f"clouds:\n  a:\n    {AUTH}\n    edgeshade: [x]\n",
            ["cloud 'a'", "'clouds.a.edgeshade' must be a mapping"],
        ),
        (
            f"clouds:\n  a:\n    {AUTH}\n    edgeshade: {{groups: {{x: 1}}}}\n",
            ["cloud 'a'", "'clouds.a.edgeshade.groups' must be a list"],
        ),
        (
            f"clouds:\n  a:\n    {AUTH}\n    edgeshade: {{vars: [1]}}\n",
            ["cloud 'a'", "'clouds.a.edgeshade.vars' must be a mapping"],
        ),
    ],
)
def test_bad_files_give_one_line_naming_file_and_field(write_clouds, text, fragments) -> None:
    path = write_clouds(text)
    with pytest.raises(ConfigError) as err:
        FleetConfig(path).select("all")
    one_line_error(err.value, path, *fragments)


@pytest.mark.parametrize(
    ("cloud", "fragments"),
    [
        ("a: {region_name: R}", ["cloud 'a'", "no auth section", "clouds.a.auth"]),
        ("a: {auth: [x]}", ["cloud 'a'", "clouds.a.auth must be a mapping"]),
        ("a: {auth: {username: u}}", ["cloud 'a'", "missing auth_url", "clouds.a.auth.auth_url"]),
    ],
)
def test_bad_auth_is_a_config_error_when_selected(write_clouds, cloud, fragments) -> None:
    path = write_clouds(f"clouds:\n  {cloud}\n  good: {{{AUTH}}}\n")
    config = FleetConfig(path)
    assert names(config.select("good")) == ["good"]  # only selected clouds are checked
    with pytest.raises(ConfigError) as err:
        config.select("all")
    one_line_error(err.value, path, *fragments)


def test_authless_cloud_needs_no_auth_section(write_clouds) -> None:
    path = write_clouds("clouds:\n  lab: {auth_type: none}\n")
    assert names(FleetConfig(path).select("all")) == ["lab"]


def test_readable_secure_yaml_warns_and_private_one_does_not(fleet_files, caplog) -> None:
    clouds, secure = fleet_files
    with caplog.at_level(logging.WARNING, logger="edgeshade"):
        FleetConfig(clouds)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    os.chmod(secure, 0o644)
    with caplog.at_level(logging.WARNING, logger="edgeshade"):
        FleetConfig(clouds)
    assert secure in caplog.text
    assert "readable by group/others" in caplog.text and f"chmod 600 {secure}" in caplog.text


# -- openstack.config internals edgeshade relies on --------------------------------


def test_openstack_config_internals_we_rely_on(config, fleet_files, ordered) -> None:
    """Private openstack.config API used by edgeshade; an sdk upgrade must not drift."""
    from openstack.config import loader

    osc = config.openstack_config
    assert [r["name"] for r in osc._get_regions("dc-west")] == ["RegionOne", "RegionTwo"]
    assert [r["name"] for r in osc._get_regions("edge-berlin")] == ["RegionOne"]
    assert [r["name"] for r in ordered.openstack_config._get_regions("alpha")] == [""]
    assert osc.config_filename == fleet_files[0]
    assert osc.secure_config_filename == fleet_files[1]
    assert osc.envvar_key == "envvars"
    assert osc.cloud_config["clouds"]["edge-berlin"]["auth"]["password"] == "berlin-secret-pw"
    assert isinstance(loader.CONFIG_FILES, list) and isinstance(loader.SECURE_FILES, list)


def test_site_dataclass_equality_ignores_vars() -> None:
    a = Site("c", None, "c", vars={"x": 1})
    b = Site("c", None, "c", vars={"x": 2})
    assert a == b and len({a, b}) == 1
