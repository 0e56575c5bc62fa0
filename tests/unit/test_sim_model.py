"""The simulated fleet's shape, seeded contents and written config."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from edgeshade.sim import SimFleet
from edgeshade.sim.contents import SiteContents


def test_small_fleet_is_edge_only() -> None:
    fleet = SimFleet(sites=3)
    assert fleet.sites == ["edge-00001", "edge-00002", "edge-00003"]
    assert list(fleet.clouds) == fleet.sites
    assert fleet.site("edge-00002").region == "RegionOne"


def test_fleet_shape_with_core_clouds() -> None:
    fleet = SimFleet(sites=1000)
    assert len(fleet.sites) == 1000
    assert fleet.sites[:7] == [
        "core-a/RegionOne", "core-a/RegionTwo", "core-a/RegionThree",
        "core-b/RegionOne", "core-b/RegionTwo", "core-b/RegionThree", "edge-00001",
    ]
    assert fleet.sites[-1] == "edge-00994"
    assert fleet.clouds["core-b"].regions == ("RegionOne", "RegionTwo", "RegionThree")
    site = fleet.site_at("core-a", "RegionTwo")
    assert site is not None and site.name == "core-a/RegionTwo" and site.core
    assert fleet.site_at("edge-00042", "RegionOne").name == "edge-00042"
    assert fleet.site_at("edge-00042", "RegionTwo") is None
    assert len(SimFleet(sites=10).sites) == 10


def test_volume_and_app_credentials_shares() -> None:
    fleet = SimFleet(sites=2006, seed=1)
    edge = [fleet.site(s) for s in fleet.sites if not fleet.site(s).core]
    with_volume = sum(s.has_volume for s in edge) / len(edge)
    assert 0.45 < with_volume < 0.55
    assert all(fleet.site(s).has_volume for s in fleet.sites if fleet.site(s).core)
    app_cred = [c for c in fleet.clouds.values() if c.app_cred_id]
    assert len(app_cred) == 40 and not any(c.core for c in app_cred)
    assert not any(c.app_cred_id for c in SimFleet(sites=10).clouds.values())  # 4 edge clouds
    assert any(c.app_cred_id for c in SimFleet(sites=20).clouds.values())


def test_endpoints_follow_the_url_layout() -> None:
    fleet = SimFleet(sites=20, faults="refused=edge-00001,refused@compute=core-a/RegionTwo")
    fleet.bind("http://127.0.0.1:5000", "http://127.0.0.1:9999")
    core = fleet.site("core-a/RegionOne")
    assert fleet.auth_url("core-a") == "http://127.0.0.1:5000/core-a/identity"
    assert fleet.endpoint(core, "compute") == "http://127.0.0.1:5000/core-a/RegionOne/compute/v2.1"
    assert fleet.endpoint(core, "network") == "http://127.0.0.1:5000/core-a/RegionOne/network"
    assert fleet.endpoint(core, "volume", "p1") == (
        "http://127.0.0.1:5000/core-a/RegionOne/volume/v3/p1")
    assert fleet.endpoint(core, "image") == "http://127.0.0.1:5000/core-a/RegionOne/image"
    # refused: the auth_url of a single-region cloud, one service of one region
    assert fleet.auth_url("edge-00001") == "http://127.0.0.1:9999/edge-00001/identity"
    two = fleet.site("core-a/RegionTwo")
    assert fleet.endpoint(two, "compute").startswith("http://127.0.0.1:9999/")
    assert fleet.endpoint(two, "network").startswith("http://127.0.0.1:5000/")


# -- contents -------------------------------------------------------------------------------


def _summary(c: SiteContents) -> tuple:
    return (
        [(h.hostname, h.vcpus, h.service.state, h.service.status) for h in c.hypervisors],
        [(s.id, s.name, s.status, s.flavor.name, s.project_id) for s in c.servers],
        [(a.binary, a.host, a.alive) for a in c.agents],
        None if c.volume_services is None else [(s.binary, s.state) for s in c.volume_services],
        [(i.id, i.name, i.checksum) for i in c.images],
        sorted(c.quotas.items()),
    )


def test_contents_are_deterministic_per_seed_and_site() -> None:
    a, b = SimFleet(sites=50, seed=3), SimFleet(sites=500, seed=3)
    for name in ("edge-00007", "core-b/RegionTwo"):
        assert _summary(a.contents(name)) == _summary(b.contents(name))  # fleet size irrelevant
    assert _summary(a.contents("edge-00007")) != _summary(SimFleet(sites=50, seed=4).contents(
        "edge-00007"))
    assert _summary(a.contents("edge-00007")) != _summary(a.contents("edge-00008"))
    assert a.contents("edge-00007") is a.contents("edge-00007")  # cached, mutable
    assert a.generated() == 3


def test_contents_sizes_and_core_health() -> None:
    fleet = SimFleet(sites=200, seed=1)
    for name in fleet.sites:
        c = fleet.contents(name)
        if fleet.site(name).core:
            assert 8 <= len(c.hypervisors) <= 20
            assert all(h.service.state == "up" for h in c.hypervisors)
            assert sum(h.service.status == "disabled" for h in c.hypervisors) == 1
            assert all(a.alive for a in c.agents)
            assert c.volume_services and all(s.state == "up" for s in c.volume_services)
            assert not any(s.status == "ERROR" for s in c.servers)
        else:
            assert 1 <= len(c.hypervisors) <= 3
            assert (c.volume_services is not None) == fleet.site(name).has_volume
        binaries = {s.binary for s in c.compute_services}
        assert {"nova-compute", "nova-scheduler", "nova-conductor"} <= binaries


def test_health_rates_over_a_large_fleet() -> None:
    fleet = SimFleet(sites=4006, seed=11)
    n = one_down = all_down = errors = quota = dead = vol_down = healthy = 0
    for name in fleet.sites[6:]:
        c = fleet.contents(name)
        n += 1
        down = sum(h.service.state != "up" for h in c.hypervisors)
        all_down += down == len(c.hypervisors)
        one_down += 0 < down < len(c.hypervisors)
        errors += any(s.status == "ERROR" for s in c.servers)
        used = c.usage(c.cloud.project_id)
        high = used["cores"] > 0.9 * c.quotas["cores"] or used["ram"] > 0.9 * c.quotas["ram"]
        quota += high
        dead += not all(a.alive for a in c.agents)
        vol_down += bool(c.volume_services) and any(s.state != "up" for s in c.volume_services)
        healthy += not (down or high or any(s.status == "ERROR" for s in c.servers)
                        or not all(a.alive for a in c.agents)
                        or (c.volume_services and any(s.state != "up" for s in c.volume_services)))
    assert 0.01 < one_down / n < 0.06
    assert 0.001 < all_down / n < 0.012
    assert 0.015 < errors / n < 0.05
    assert 0.015 < quota / n < 0.05
    assert 0.015 < dead / n < 0.05
    assert 0.01 < vol_down / n < 0.04
    assert healthy / n > 0.8


def test_same_base_image_same_checksum_everywhere() -> None:
    fleet = SimFleet(sites=30, seed=1)
    sums = {(i.name, i.os_hash_value) for s in fleet.sites for i in fleet.contents(s).images}
    assert len({name for name, _ in sums}) == len(sums)


# -- config ------------------------------------------------------------------------------------


def test_write_config(tmp_path) -> None:
    fleet = SimFleet(sites=300, seed=2, faults="refused=edge-00002")
    clouds_path, secure_path = fleet.write_config(str(tmp_path / "cfg"), "http://127.0.0.1:4321")
    assert stat.S_IMODE(os.stat(secure_path).st_mode) == 0o600
    clouds = yaml.safe_load(open(clouds_path))
    secure = yaml.safe_load(open(secure_path))
    assert clouds["edgeshade"] == {"groups": {"core": {"sites": ["core-*"]},
                                              "edge": {"sites": ["edge-*"]}}}
    assert len(clouds["clouds"]) == 2 + 294 and set(secure["clouds"]) == set(clouds["clouds"])
    core = clouds["clouds"]["core-a"]
    assert core["regions"] == ["RegionOne", "RegionTwo", "RegionThree"]
    assert core["auth"] == {
        "auth_url": "http://127.0.0.1:4321/core-a/identity", "username": "admin",
        "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default",
    }
    assert core["identity_api_version"] == 3 and core["interface"] == "public"
    edge = clouds["clouds"]["edge-00001"]
    assert edge.get("region_name") == "RegionOne" or edge.get("auth_type")
    assert clouds["clouds"]["edge-00002"]["auth"]["auth_url"] == (
        "http://127.0.0.1:9/edge-00002/identity")  # refused, no server bound yet
    app = [n for n, c in clouds["clouds"].items() if c.get("auth_type")]
    assert len(app) == 6
    for name in app:
        entry = clouds["clouds"][name]
        assert entry["auth_type"] == "v3applicationcredential"
        assert set(entry["auth"]) == {"auth_url", "application_credential_id"}
        assert set(secure["clouds"][name]["auth"]) == {"application_credential_secret"}
    # no secret in clouds.yaml
    text = open(clouds_path).read()
    for entry in secure["clouds"].values():
        for value in entry["auth"].values():
            assert value not in text
    assert secure["clouds"]["core-a"]["auth"]["password"] == fleet.clouds["core-a"].password


def test_write_config_edge_only_fleet_has_no_core_group(tmp_path) -> None:
    clouds_path, _ = SimFleet(sites=4).write_config(str(tmp_path), "http://127.0.0.1:1")
    assert yaml.safe_load(open(clouds_path))["edgeshade"] == {
        "groups": {"edge": {"sites": ["edge-*"]}}}


def test_fleet_needs_a_site() -> None:
    with pytest.raises(ValueError):
        SimFleet(sites=0)
