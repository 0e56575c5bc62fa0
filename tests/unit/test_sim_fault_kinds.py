"""The simulator's network, TLS, body and credential fault kinds: parsing and URL layout."""

from __future__ import annotations

import pytest

from edgeshade.sim import FaultSpecError, SimFleet, parse_faults


@pytest.mark.parametrize("kind", ["blackhole", "tls", "hang-body", "expire", "rotated",
                                  "truncated"])
def test_new_kinds_parse_and_take_no_argument(kind) -> None:
    (fault,) = parse_faults(f"{kind}@compute=2")
    assert (fault.kind, fault.service, fault.count) == (kind, "compute", 2)
    with pytest.raises(FaultSpecError, match="takes no argument"):
        parse_faults(f"{kind}:3=1")


def test_url_faults_move_the_endpoints_to_their_port() -> None:
    fleet = SimFleet(sites=12, seed=2, faults="blackhole@compute=edge-00001,tls=edge-00002")
    fleet.bind("http://127.0.0.1:1000", "http://127.0.0.1:1001",
               blackhole_url="http://127.0.0.1:1002", tls_url="https://127.0.0.1:1003")
    hole, tls = fleet.site("edge-00001"), fleet.site("edge-00002")
    assert fleet.endpoint(hole, "compute").startswith("http://127.0.0.1:1002/")
    assert fleet.endpoint(hole, "network").startswith("http://127.0.0.1:1000/")
    assert fleet.auth_url("edge-00001").startswith("http://127.0.0.1:1000/")  # Keystone fine
    assert fleet.auth_url("edge-00002").startswith("https://127.0.0.1:1003/")
    assert fleet.endpoint(tls, "image").startswith("https://127.0.0.1:1003/")
    assert fleet.uses("tls") and fleet.uses("blackhole") and not fleet.uses("refused")


def test_body_faults_spare_keystone_unless_scoped_to_it() -> None:
    fleet = SimFleet(sites=12, seed=2, faults="truncated=edge-00001,hang-body=edge-00002,"
                                              "truncated@identity=edge-00003,rotated=edge-00004")
    assert fleet.keystone_faults("edge-00001") == ()
    assert fleet.keystone_faults("edge-00002") == ()
    assert [f.kind for f in fleet.keystone_faults("edge-00003")] == ["truncated"]
    assert [f.kind for f in fleet.keystone_faults("edge-00004")] == ["rotated"]
