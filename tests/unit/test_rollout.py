"""Waves, failure budget, health gate, deferral and rollback with fake step tasks (no HTTP)."""

from __future__ import annotations

import threading
import types

import pytest

from edgeshade.config import FleetConfig
from edgeshade.errors import ConfigError, SiteUnreachable
from edgeshade.fleet import Fleet
from edgeshade.results import FleetResult, SiteResult, State
from edgeshade.rollout import Policy, Rollout


def _stub_open(self, site, *, deadline, cancel):
    session = types.SimpleNamespace(calls=[], auth=None)
    return types.SimpleNamespace(site=site, session=session, deadline=deadline, cancel=cancel)


@pytest.fixture(autouse=True)
def _no_http(monkeypatch) -> None:
    monkeypatch.setattr("edgeshade.connection.Connector.open", _stub_open)
    monkeypatch.setattr("edgeshade.connection.Connector.close_site", lambda self, conn: None)


@pytest.fixture
def fleet(write_clouds) -> Fleet:
    """20 single-region sites s00..s19, in that selection order."""
    clouds = "".join(f"  s{i:02d}: {{auth: {{auth_url: http://s{i}.example/v3}}}}\n"
                     for i in range(20))
    config = FleetConfig(write_clouds("clouds:\n" + clouds))
    return Fleet(config, config.sites, use_state=False, concurrency=4)


def names(wave):
    return [s.name for s in wave]


@pytest.mark.parametrize(
    ("rollout", "sizes"),
    [
        ({}, [20]),
        ({"batch": 5}, [5, 5, 5, 5]),
        ({"batch": "25%"}, [5, 5, 5, 5]),
        ({"batch": "30%"}, [6, 6, 6, 2]),
        ({"canary": 2, "batch": "50%"}, [2, 10, 8]),
        ({"batch": [1, "10%", "50%", "100%"]}, [1, 2, 10, 7]),
        ({"canary": 1, "batch": [2, 3]}, [1, 2, 3, 3, 3, 3, 3, 2]),
    ],
)
def test_waves_cut_in_selection_order(fleet, rollout, sizes) -> None:
    waves = Policy.from_mapping(rollout).waves(fleet.sites)
    assert [len(w) for w in waves] == sizes
    assert [n for w in waves for n in names(w)] == [s.name for s in fleet.sites]


def test_named_canaries_go_first_and_only_once(fleet) -> None:
    waves = Policy.from_mapping({"canary": ["s07", "s03"], "batch": 10}).waves(fleet.sites)
    assert names(waves[0]) == ["s07", "s03"]
    rest = [n for w in waves[1:] for n in names(w)]
    assert "s07" not in rest and "s03" not in rest and len(rest) == 18


def test_canary_not_in_selection_is_one_line_error(fleet) -> None:
    with pytest.raises(ConfigError, match="rollout.canary: site 'nope'"):
        Policy.from_mapping({"canary": ["nope"]}).waves(fleet.sites)


@pytest.mark.parametrize(
    ("rollout", "message"),
    [
        ({"bacth": 10}, "unknown key 'bacth'"),
        ({"batch": 0}, "rollout.batch: must be at least 1"),
        ({"batch": "120%"}, "at most 100%"),
        ({"batch": "ten"}, "expected a count"),
        ({"batch": [1, "x%"]}, r"rollout.batch\[1\]"),
        ({"batch": []}, "ramp is empty"),
        ({"max_failures": -1}, "max_failures"),
        ({"max_parallel": 0}, "max_parallel"),
        ({"on_failure": "panic"}, "halt or rollback"),
        ({"pause": "soon"}, "rollout.pause"),
        ({"stop_on_failure": "yes"}, "true or false"),
        ({"canary": True}, "rollout.canary"),
    ],
)
def test_bad_policy_is_one_line_error(rollout, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Policy.from_mapping(rollout)
    assert "\n" not in str(info.value)


def test_budget_rounding() -> None:
    assert Policy.from_mapping({"max_failures": "2%"}).failure_budget(1000) == 20
    assert Policy.from_mapping({"max_failures": "2%"}).failure_budget(40) == 0
    assert Policy.from_mapping({"max_failures": 3}).failure_budget(10) == 3
    assert Policy.from_mapping({"pause": "2m"}).pause == 120


def _step(failing=(), offline=(), log=None):
    lock = threading.Lock()

    def deploy_step(conn, site):
        with lock:
            if log is not None:
                log.append(site.name)
        if site.name in offline:
            raise SiteUnreachable("cannot connect")
        if site.name in failing:
            return {"state": "error", "reason": "server went to ERROR"}
        return {"created": 1}

    return deploy_step


def test_all_waves_run_when_nothing_fails(fleet) -> None:
    log: list[str] = []
    policy = Policy.from_mapping({"canary": 1, "batch": "25%", "pause": 1})
    pauses: list[float] = []
    result = Rollout(fleet, policy).run(_step(log=log), sleep=pauses.append)
    assert result.summary == {"ok": 20}
    assert sorted(log) == [s.name for s in fleet.sites]
    assert [w["sites"] for w in result.waves] == [1, 5, 5, 5, 4]
    assert pauses == [1.0] * 4
    assert result.stopped == "" and result.exit_code == 0


def test_failure_budget_stops_later_waves(fleet) -> None:
    log: list[str] = []
    policy = Policy.from_mapping({"batch": 5, "max_failures": 1, "max_parallel": 1})
    result = Rollout(fleet, policy).run(_step(failing={"s01", "s06"}, log=log))
    # wave 0 (s00-s04): one failure, within budget; wave 1: s06 is the 2nd failure,
    # so with max_parallel 1 nothing after s06 starts, and no later wave runs.
    assert log == ["s00", "s01", "s02", "s03", "s04", "s05", "s06"]
    assert result["s06"].state == "error"
    assert result["s07"].state == "skipped"
    assert "failure budget exceeded" in result["s07"].reason
    assert result["s19"].state == "skipped"
    assert result.stopped.startswith("failure budget exceeded (2 failed, 1 allowed)")
    assert result.exit_code == 2


def test_stop_on_failure_false_carries_on(fleet) -> None:
    policy = Policy.from_mapping({"batch": 5, "stop_on_failure": False})
    result = Rollout(fleet, policy).run(_step(failing={"s01", "s06"}))
    assert result.summary == {"error": 2, "ok": 18}
    assert result.stopped == ""


def test_offline_sites_are_deferred_not_failures(fleet) -> None:
    policy = Policy.from_mapping({"batch": 5})
    result = Rollout(fleet, policy).run(_step(offline={"s02", "s12"}))
    assert result.deferred == ["s02", "s12"]
    assert result["s02"].reason.startswith("deferred: ")
    assert result.stopped == "" and result.summary["ok"] == 18
    strict = Rollout(fleet, Policy.from_mapping({"batch": 5, "offline": "fail"}))
    assert strict.run(_step(offline={"s02"})).stopped.startswith("failure budget exceeded")


def test_health_gate_failure_stops_and_rolls_back_touched_sites(fleet) -> None:
    gated: list[list[str]] = []
    rolled: list[str] = []

    def gate(wave_fleet, timeout):
        gated.append([s.name for s in wave_fleet.sites])
        return FleetResult("gate", [
            SiteResult.make(s, State.CRITICAL if s.name == "s06" else State.OK,
                            "server not ACTIVE" if s.name == "s06" else "")
            for s in wave_fleet.sites
        ], elapsed=0.0)

    def rollback(touched):
        rolled.extend(s.name for s in touched.sites)
        return FleetResult("rollback", [SiteResult.make(s, State.OK) for s in touched.sites],
                           elapsed=0.0)

    policy = Policy.from_mapping({"batch": 5, "on_failure": "rollback", "gate_timeout": 9})
    result = Rollout(fleet, policy).run(_step(failing={"s03"}), gate=gate, rollback=rollback)
    # wave 0: s03 fails the step (1 > budget 0): stop before the gate; nothing gated.
    assert gated == []
    ran = [r.site for r in result if r.state != "skipped"]
    assert "s03" in ran and set(ran) <= {"s00", "s01", "s02", "s03", "s04"}
    assert rolled == ran  # exactly the sites this run touched, nothing skipped
    assert result.rollback.summary == {"ok": len(ran)}
    assert all(result[f"s{i:02d}"].state == "skipped" for i in range(5, 20))

    gated.clear()
    rolled.clear()
    result = Rollout(fleet, policy).run(_step(), gate=gate, rollback=rollback)
    assert gated == [names(fleet.sites[0:5]), names(fleet.sites[5:10])]
    assert result["s06"].state == "critical"
    assert result["s06"].reason == "health gate: server not ACTIVE"
    assert result.stopped == "health gate failed on 1 site(s) in wave 1"
    assert rolled == names(fleet.sites[0:10])
    assert result["s10"].state == "skipped"
