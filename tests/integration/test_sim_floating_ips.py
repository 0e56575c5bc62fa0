"""The simulator's Neutron floating IPs and server ports, driven by openstacksdk over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import edgeshade
from edgeshade.sim import SimFleet, SimServer
from edgeshade.sim.workloads import workloads

SITE = "edge-00001"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    fleet = SimFleet(sites=3, seed=11, latency_ms=0)
    workloads(fleet).build_seconds = 0
    server = SimServer(fleet).start()
    tmp = tmp_path_factory.mktemp("fip")
    clouds, secure = server.write_config(str(tmp))
    yield {"fleet": fleet, "server": server, "clouds": clouds, "secure": secure, "tmp": tmp}
    server.stop()


def _run(sim: dict[str, Any], fn: Any) -> Any:
    fleet = edgeshade.connect(SITE, config_file=sim["clouds"], secure_file=sim["secure"],
                              state_dir=str(Path(sim["tmp"]) / "state"))
    result = fleet.run(fn, record=False)[SITE]
    assert result.state == "ok", result.reason
    return result.data


def test_server_port_floating_ip_round_trip_and_release(sim: dict[str, Any]) -> None:
    def scenario(conn: Any, site: Any) -> dict[str, Any]:
        cloud = conn.cloud
        image = conn.get("image", "/images")["images"][0]["id"]
        flavor = conn.get("compute", "/flavors")["flavors"][0]["id"]
        public = next(n for n in conn.get("network", "/networks")["networks"]
                      if n["router:external"])
        server = cloud.create_server("fip-vm", image=image, flavor=flavor, auto_ip=False,
                                     wait=False)
        (port,) = conn.get("network", "/ports", device_id=server.id)["ports"]
        fip = cloud.network.create_ip(floating_network_id=public["id"], port_id=port["id"],
                                      description="owner=test")
        shown = cloud.network.get_ip(fip.id)
        listed = conn.get("network", "/floatingips", port_id=port["id"])["floatingips"]
        detached = cloud.network.update_ip(fip.id, port_id=None)
        reattached = cloud.network.update_ip(fip.id, port_id=port["id"])
        cloud.delete_server(server.id, wait=False)
        after_delete = cloud.network.get_ip(fip.id)
        ports_after = conn.get("network", "/ports", device_id=server.id)["ports"]
        cloud.network.delete_ip(fip.id)
        left = conn.get("network", "/floatingips")["floatingips"]
        return {"fixed": port["fixed_ips"][0]["ip_address"], "owner": port["device_owner"],
                "fip": [fip.floating_ip_address, fip.fixed_ip_address, fip.status,
                        fip.description],
                "shown": [shown.port_id == port["id"], shown.status],
                "listed": len(listed), "detached": [detached.port_id, detached.status],
                "reattached": reattached.status,
                "after_delete": [after_delete.port_id, after_delete.fixed_ip_address,
                                 after_delete.status],
                "ports_after": len(ports_after), "left": len(left)}

    got = _run(sim, scenario)
    assert got.owner == "compute:nova"
    assert got.fip[0].startswith("172.24.4.") and got.fip[1] == got.fixed
    assert got.fip[2:] == ["ACTIVE", "owner=test"]
    assert got.shown == [True, "ACTIVE"] and got.listed == 1
    assert got.detached == [None, "DOWN"] and got.reattached == "ACTIVE"
    # Deleting the server deletes its port and detaches (does not release) the address.
    assert got.after_delete == [None, None, "DOWN"] and got.ports_after == 0
    assert got.left == 0


def test_pool_exhaustion_and_bad_network_are_neutron_errors(sim: dict[str, Any]) -> None:
    workloads(sim["fleet"]).limit_floating_ips(SITE, 1)

    def scenario(conn: Any, site: Any) -> dict[str, Any]:
        nets = conn.get("network", "/networks")["networks"]
        public = next(n["id"] for n in nets if n["router:external"])
        private = next(n["id"] for n in nets if not n["router:external"])
        first = conn.cloud.network.create_ip(floating_network_id=public)
        errors = []
        for net in (public, private):
            try:
                conn.cloud.network.create_ip(floating_network_id=net)
            except Exception as exc:  # noqa: BLE001 - the message is what is checked
                errors.append((getattr(exc, "status_code", None), str(exc)))
        conn.cloud.network.delete_ip(first.id)
        return {"errors": errors}

    try:
        got = _run(sim, scenario)
    finally:
        workloads(sim["fleet"]).heal()
    (full, bad) = got.errors
    assert full[0] == 409 and "No more IP addresses available" in full[1]
    assert bad[0] == 400 and "not a valid external network" in bad[1]
    assert workloads(sim["fleet"]).floating_ips[SITE] == []
