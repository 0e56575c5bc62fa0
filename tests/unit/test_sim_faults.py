"""Fault specs of the simulated fleet: parsing, and deterministic assignment to sites."""

from __future__ import annotations

import pytest

from edgeshade.sim import Fault, FaultSpecError, SimFleet, parse_faults


def test_parse_kinds_defaults_and_arguments() -> None:
    faults = parse_faults(
        "refused=2, hang=1%,slow=3,slow:150=1,500@compute=1,503=1,503:7=1,flaky=1,flaky:3=2,"
        "401=edge-0001*,malformed@network=1,404@block-storage=1"
    )
    got = [(f.kind, f.arg, f.service, f.count, f.percent, f.glob) for f in faults]
    assert got == [
        ("refused", None, None, 2, None, None),
        ("hang", None, None, None, 1.0, None),
        ("slow", 2000.0, None, 3, None, None),
        ("slow", 150.0, None, 1, None, None),
        ("500", None, "compute", 1, None, None),
        ("503", 1, None, 1, None, None),
        ("503", 7, None, 1, None, None),
        ("flaky", 1, None, 1, None, None),
        ("flaky", 3, None, 2, None, None),
        ("401", None, None, None, None, "edge-0001*"),
        ("malformed", None, "network", 1, None, None),
        ("404", None, "volume", 1, None, None),  # block-storage is an alias
    ]
    assert str(faults[1]) == "hang=1%"


@pytest.mark.parametrize("spec", ["", None, " ", ",,", " , "])
def test_parse_empty(spec: str | None) -> None:
    assert parse_faults(spec) == []


def test_parse_globs() -> None:
    (a, b, c) = parse_faults("hang=core-a/RegionTwo,500=core-b:Region*,404=edge-0000[1-3]")
    assert (a.glob, b.glob, c.glob) == ("core-a/RegionTwo", "core-b:Region*", "edge-0000[1-3]")


@pytest.mark.parametrize(
    ("spec", "bad", "why"),
    [
        ("explode=1", "explode=1", "unknown kind 'explode'"),
        ("hang", "hang", "expected KIND"),
        ("hang=", "hang=", "expected KIND"),
        ("slow:fast=1", "slow:fast=1", "not a number"),
        ("503:1.5=1", "503:1.5=1", "not an integer"),
        ("hang:5=1", "hang:5=1", "takes no argument"),
        ("flaky:0=1", "flaky:0=1", "out of range"),
        ("slow:-5=1", "slow:-5=1", "out of range"),
        ("500@heat=1", "500@heat=1", "unknown service 'heat'"),
        ("hang=150%", "hang=150%", "more than 100%"),
        ("hang=edge 1", "hang=edge 1", "spaces"),
        ("refused=2,hang=1,wat", "wat", "expected KIND"),
    ],
)
def test_parse_errors_name_the_item(spec: str, bad: str, why: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_faults(spec)
    message = str(info.value)
    assert f"'{bad}'" in message and why in message
    assert "\n" not in message


def _assignment(fleet: SimFleet) -> dict[str, list[str]]:
    return {s: [str(f) for f in fleet.faults_of(s)] for s in fleet.sites if fleet.faults_of(s)}


def test_assignment_is_deterministic_and_spread() -> None:
    spec = "refused=3,hang=2%,500=2,401=2"
    a = _assignment(SimFleet(sites=200, seed=5, faults=spec))
    assert a == _assignment(SimFleet(sites=200, seed=5, faults=spec))
    assert a != _assignment(SimFleet(sites=200, seed=6, faults=spec))
    # counts and percentages: different sites for different items, never a core site
    assert len(a) == 3 + 4 + 2 + 2
    assert all(len(v) == 1 for v in a.values())
    assert not any(s.startswith("core-") for s in a)
    # the fleet hands parsed faults back
    fleet = SimFleet(sites=200, seed=5, faults=spec)
    hang = [s for s in fleet.sites if fleet.fault_of(s) and fleet.fault_of(s).kind == "hang"]
    assert len(hang) == 4 and isinstance(fleet.fault_of(hang[0]), Fault)


def test_same_count_item_hits_same_sites_whatever_follows() -> None:
    """Adding items at the end of a spec does not move earlier ones (reproducible rehearsals)."""
    one = SimFleet(sites=100, seed=2, faults="hang=2")
    two = SimFleet(sites=100, seed=2, faults="hang=2,500=3")
    hung = [s for s in one.sites if one.fault_of(s)]
    assert [s for s in two.sites if two.fault_of(s) and two.fault_of(s).kind == "hang"] == hung


def test_globs_may_name_core_sites_and_stack() -> None:
    fleet = SimFleet(sites=30, seed=1, faults="slow:100=edge-*,401=core-a/RegionTwo,500=core-b")
    assert [f.kind for f in fleet.faults_of("edge-00003")] == ["slow"]
    assert fleet.fault_of("core-a/RegionTwo").kind == "401"
    assert fleet.fault_of("core-a/RegionOne") is None
    assert all(fleet.fault_of(f"core-b/{r}").kind == "500"
               for r in ("RegionOne", "RegionTwo", "RegionThree"))
    stacked = SimFleet(sites=30, seed=1, faults="hang=2,slow=edge-*")
    hung = [s for s in stacked.sites if stacked.fault_of(s) and stacked.fault_of(s).kind == "hang"]
    assert [f.kind for f in stacked.faults_of(hung[0])] == ["hang", "slow"]


def test_glob_matching_nothing_is_an_error() -> None:
    with pytest.raises(FaultSpecError, match="'401=edge-9\\*'.*matches no site"):
        SimFleet(sites=20, faults="401=edge-9*")


def test_counts_are_capped_by_edge_sites() -> None:
    fleet = SimFleet(sites=12, seed=1, faults="hang=4,500=10")  # 6 edge sites
    kinds = [f.kind for s in fleet.sites for f in fleet.faults_of(s)]
    assert kinds.count("hang") == 4 and kinds.count("500") == 2


def test_percent_of_small_fleet_is_at_least_one_site() -> None:
    fleet = SimFleet(sites=20, seed=1, faults="hang=1%")
    assert sum(1 for s in fleet.sites if fleet.fault_of(s)) == 1


def test_volume_faults_land_on_sites_with_cinder() -> None:
    fleet = SimFleet(sites=300, seed=4, faults="404@volume=20")
    hit = [s for s in fleet.sites if fleet.fault_of(s)]
    assert len(hit) == 20 and all(fleet.site(s).has_volume for s in hit)


def test_keystone_faults() -> None:
    fleet = SimFleet(
        sites=40, seed=1,
        faults="401=edge-00001,malformed=edge-00002,500@compute=edge-00003,"
               "hang=core-a/RegionTwo,refused=core-b,malformed@identity=edge-00004",
    )
    # a single-region cloud's Keystone shares its site's faults, except plain malformed
    assert [f.kind for f in fleet.keystone_faults("edge-00001")] == ["401"]
    assert fleet.keystone_faults("edge-00002") == ()
    assert fleet.keystone_faults("edge-00003") == ()
    assert [f.kind for f in fleet.keystone_faults("edge-00004")] == ["malformed"]
    # one region of a multi-region cloud: Keystone untouched; the whole cloud: Keystone too
    assert fleet.keystone_faults("core-a") == ()
    assert [f.kind for f in fleet.keystone_faults("core-b")] == ["refused"]


def test_fault_of_unknown_site() -> None:
    with pytest.raises(KeyError):
        SimFleet(sites=5).fault_of("nope")
