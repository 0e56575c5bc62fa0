"""Unmodified openstacksdk against the simulated fleet: discovery, auth, every status call."""

from __future__ import annotations

from collections.abc import Iterator

import openstack.config
import openstack.connection
import pytest
from keystoneauth1 import exceptions as ks_exc

from edgeshade.sim import SimFleet, SimServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),  # openstacksdk's own
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimServer, object]]:
    fleet = SimFleet(sites=300, seed=1)
    with SimServer(fleet) as server:
        clouds, secure = server.write_config(str(tmp_path_factory.mktemp("sim-sdk")))
        config = openstack.config.OpenStackConfig(config_files=[clouds], secure_files=[secure])
        yield server, config


def _connect(config, cloud: str, region: str = "RegionOne") -> openstack.connection.Connection:
    return openstack.connection.Connection(config=config.get_one(cloud=cloud, region_name=region))


def _site_where(fleet: SimFleet, predicate) -> str:
    return next(s for s in fleet.sites if not fleet.site(s).core and predicate(fleet.contents(s)))


def test_core_site_every_status_call(sim) -> None:
    server, config = sim
    fleet = server.fleet
    contents = fleet.contents("core-a/RegionTwo")
    conn = _connect(config, "core-a", "RegionTwo")
    try:
        hyps = list(conn.compute.hypervisors(details=True))
        assert sorted(h.name for h in hyps) == sorted(h.hostname for h in contents.hypervisors)
        assert {h.state for h in hyps} == {"up"} and {h.status for h in hyps} == {
            "enabled", "disabled"}
        services = list(conn.compute.services())
        assert {s.binary for s in services} == {"nova-compute", "nova-scheduler", "nova-conductor"}
        assert all(s.state == "up" for s in services)
        assert list(conn.compute.servers(all_projects=True, status="ERROR")) == []
        everything = list(conn.compute.servers(all_projects=True))
        assert len(everything) == len(contents.servers)
        mine = list(conn.compute.servers())
        assert len(mine) == sum(s.project_id == fleet.clouds["core-a"].project_id
                                for s in contents.servers)
        limits = conn.compute.get_limits().absolute
        used = contents.usage(fleet.clouds["core-a"].project_id)
        assert (limits.total_cores_used, limits.total_ram_used) == (used["cores"], used["ram"])
        assert limits.total_cores == contents.quotas["cores"]
        agents = list(conn.network.agents())
        assert len(agents) == len(contents.agents) and all(a.is_alive for a in agents)
        assert len(list(conn.network.networks())) == 2
        assert conn.has_service("block-storage")
        volume = list(conn.block_storage.services())
        assert {s.binary for s in volume} == {"cinder-scheduler", "cinder-volume"}
        images = list(conn.image.images())
        assert [i.name for i in images] == [i.name for i in contents.images]
        assert images[0].checksum and images[0].hash_algo == "sha512"
        assert len(list(conn.image.images(limit=1))) == len(contents.images)  # pages of 1
        assert len(list(conn.compute.flavors())) == 6
    finally:
        conn.close()


def test_edge_site_with_error_servers_and_no_cinder(sim) -> None:
    server, config = sim
    fleet = server.fleet
    name = _site_where(fleet, lambda c: any(s.status == "ERROR" for s in c.servers))
    errors = {s.name for s in fleet.contents(name).servers if s.status == "ERROR"}
    conn = _connect(config, name)
    try:
        found = list(conn.compute.servers(all_projects=True, status="ERROR"))
        assert {s.name for s in found} == errors
        assert all(s.fault and "No valid host" in s.fault["message"] for s in found)
    finally:
        conn.close()
    bare = _site_where(fleet, lambda c: c.volume_services is None)
    conn = _connect(config, bare)
    try:
        assert not conn.has_service("block-storage")
        assert len(list(conn.compute.hypervisors(details=True))) in (1, 2, 3)
    finally:
        conn.close()


def test_degraded_edge_site(sim) -> None:
    server, config = sim
    fleet = server.fleet
    name = _site_where(fleet, lambda c: any(h.service.state == "down" for h in c.hypervisors))
    conn = _connect(config, name)
    try:
        states = [h.state for h in conn.compute.hypervisors(details=True)]
        assert "down" in states
        computes = [s for s in conn.compute.services() if s.binary == "nova-compute"]
        assert sorted(s.state for s in computes) == sorted(states)
    finally:
        conn.close()


def test_application_credential_cloud(sim) -> None:
    server, config = sim
    cloud = next(c for c in server.fleet.clouds.values() if c.app_cred_id)
    region = config.get_one(cloud=cloud.name, region_name="RegionOne")
    assert region.config["auth_type"] == "v3applicationcredential"
    conn = openstack.connection.Connection(config=region)
    try:
        assert len(list(conn.compute.hypervisors(details=True))) >= 1
        assert len(list(conn.network.agents())) >= 2
        assert conn.current_project_id == cloud.project_id
    finally:
        conn.close()


def test_wrong_password_is_rejected(sim, tmp_path) -> None:
    server, _config = sim
    clouds, secure = server.write_config(str(tmp_path))
    text = open(secure).read().replace(server.fleet.clouds["edge-00001"].password, "nope")
    open(secure, "w").write(text)
    config = openstack.config.OpenStackConfig(config_files=[clouds], secure_files=[secure])
    conn = _connect(config, "edge-00001")
    with pytest.raises(ks_exc.Unauthorized) as info:  # raised by keystoneauth while authenticating
        list(conn.compute.services())
    assert info.value.http_status == 401
