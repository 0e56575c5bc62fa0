"""The status task over the simulator: every fault kind ends in the right state, in time."""

from __future__ import annotations

import time

import pytest

import edgeshade
import edgeshade.state

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 3.0

#: What each injected fault must turn into.
EXPECTED = {
    "refused": "unreachable",
    "hang": "timed_out",
    "500": "critical",
    "503": "critical",
    "401": "auth_failed",
    "malformed": "error",
    "404": "critical",
}


def _run(sim, tmp_path, **kw):
    fleet = edgeshade.connect(
        "all", config_file=sim.clouds, timeout=TIMEOUT, state_dir=str(tmp_path / "state"), **kw
    )
    return fleet.run("status")


def _comparable(result):
    data = dict(result.data)
    data.pop("auth_ms", None)
    return result.state, result.reason, data


@pytest.fixture(scope="module")
def runs(faulty_sim, healthy_sim, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    started = time.monotonic()
    faulty = _run(faulty_sim, tmp / "f")
    wall = time.monotonic() - started
    healthy = _run(healthy_sim, tmp / "h")
    return faulty, healthy, wall


def test_every_fault_kind_classified(faulty_sim, runs) -> None:
    faulty, _healthy, _wall = runs
    seen = set()
    for result in faulty:
        fault = faulty_sim.fleet.fault_of(result.site)
        if fault is None or fault.kind not in EXPECTED:
            continue
        seen.add(fault.kind)
        assert result.state == EXPECTED[fault.kind], (result.site, fault.kind, result.reason)
        assert result.reason and "\n" not in result.reason
    assert seen == set(EXPECTED), f"fault kinds not exercised: {set(EXPECTED) - seen}"


def test_healthy_flaky_and_slow_sites_match_a_fault_free_run(faulty_sim, runs) -> None:
    """Faults at some sites must not change any other site's result."""
    faulty, healthy, _wall = runs
    compared = 0
    for result in faulty:
        fault = faulty_sim.fleet.fault_of(result.site)
        if fault is not None and fault.kind not in ("flaky", "slow"):
            continue
        assert _comparable(result) == _comparable(healthy[result.site]), result.site
        compared += 1
    assert compared >= 20


def test_flaky_sites_needed_retries(faulty_sim, runs) -> None:
    faulty, _healthy, _wall = runs
    flaky = [r for r in faulty if (f := faulty_sim.fleet.fault_of(r.site)) and f.kind == "flaky"]
    assert flaky and all(r.state != "error" for r in flaky)
    assert all(r.requests > 8 for r in flaky), [(r.site, r.requests) for r in flaky]


def test_hanging_sites_cost_only_their_deadline(runs) -> None:
    faulty, _healthy, wall = runs
    hung = faulty.by_state("timed_out")
    assert hung and all(r.elapsed <= TIMEOUT + 1.0 for r in hung)
    assert wall < 2 * TIMEOUT + 2, wall


def test_missing_cinder_is_reported_not_an_error(runs) -> None:
    _faulty, healthy, _wall = runs
    absent = [r for r in healthy if r.data.services.get("volume") == "absent"]
    assert absent, "the simulator should have edge sites without Cinder"
    assert all(r.state in ("ok", "warning", "critical") for r in absent)
    assert all("volume" not in r.data.checks for r in absent)


def test_fleet_result_api(faulty_sim, runs) -> None:
    faulty, _healthy, _wall = runs
    assert [r.site for r in faulty] == faulty_sim.fleet.sites  # clouds.yaml order
    assert faulty.exit_code == 2
    assert sum(faulty.summary.values()) == len(faulty)
    worst = faulty.worst_first()
    assert worst[0].state == "critical" and worst[-1].state == "ok"
    first = faulty[0]
    assert first["state"] == first.state  # munch: dict and dot access


def test_selection_order_is_kept(faulty_sim, tmp_path) -> None:
    fleet = edgeshade.connect(
        ["edge-00030", "core-a", "edge-00003"], config_file=faulty_sim.clouds,
        timeout=TIMEOUT, use_state=False,
    )
    names = [s.name for s in fleet.sites]
    assert names == ["core-a/RegionOne", "core-a/RegionTwo", "core-a/RegionThree",
                     "edge-00003", "edge-00030"]
    result = fleet.run("status", checks="compute")
    assert [r.site for r in result] == names


def test_requests_per_site_first_later_and_token_cache(healthy_sim, tmp_path) -> None:
    """Discovery is cached in the state store; tokens only with the opt-in cache."""
    def requests_for(**kw):
        healthy_sim.server.reset_stats()
        fleet = edgeshade.connect(
            "edge-*", config_file=healthy_sim.clouds, timeout=10,
            state_dir=str(tmp_path / "state"), **kw,
        )
        result = fleet.run("status")
        assert result.exit_code in (0, 1, 2)
        auth = {s.name: fleet.config.describe(s)["auth_type"] for s in fleet.sites}
        with_cinder = [r for r in result if r.data.services.get("volume") == "ok"]
        password = {r.requests for r in with_cinder if auth[r.site] == "password"}
        app_cred = {r.requests for r in with_cinder if auth[r.site] != "password"}
        return password, app_cred

    # password clouds: identity discovery + token + 6 checks; application
    # credential clouds use the v3 plugin directly, which needs no discovery.
    assert requests_for() == ({8}, {7})
    assert requests_for() == ({7}, {7})  # discovery cached in state.db
    assert requests_for(token_cache=True) == ({7}, {7})  # token cache filled
    assert requests_for(token_cache=True) == ({6}, {6})  # token reused
    tokens = tmp_path / "state" / "tokens.json"
    assert tokens.stat().st_mode & 0o777 == 0o600


def test_processes_give_the_same_results_in_the_same_order(faulty_sim, runs, tmp_path) -> None:
    faulty, _healthy, _wall = runs
    fleet = edgeshade.connect(
        "all", config_file=faulty_sim.clouds, timeout=TIMEOUT, processes=2,
        state_dir=str(tmp_path / "state"),
    )
    seen = []
    result = fleet.run("status", progress=lambda r, done, total: seen.append(done))
    assert [r.site for r in result] == [r.site for r in faulty]
    assert [r.state for r in result] == [r.state for r in faulty]
    assert seen == list(range(1, len(faulty) + 1))
    store = edgeshade.state.StateStore(tmp_path / "state")
    assert len(store.last_known()) == len(faulty)  # recorded once, by the parent
