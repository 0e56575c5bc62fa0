"""States, severity, summary and the exit codes scripts and monitoring rely on."""

from __future__ import annotations

import json

import pytest

from edgeshade.config import Site
from edgeshade.results import FleetResult, SiteResult, State, worst


def fleet(*states: str, cancelled: bool = False) -> FleetResult:
    sites = [Site(f"c{i}", None, f"c{i}") for i in range(len(states))]
    results = [SiteResult.make(s, st, "" if st == "ok" else f"why {st}") for s, st in
               zip(sites, states, strict=True)]
    return FleetResult("status", results, elapsed=0.5, cancelled=cancelled)


@pytest.mark.parametrize(
    ("states", "code"),
    [
        (["ok", "ok"], 0),
        (["ok", "warning"], 1),
        (["warning", "critical"], 2),
        (["ok", "unreachable"], 2),
        (["ok", "auth_failed"], 2),
        (["ok", "timed_out"], 2),
        (["ok", "error"], 2),
        ([], 3),
    ],
)
def test_exit_codes(states, code) -> None:
    assert fleet(*states).exit_code == code


def test_cancelled_run_exits_130() -> None:
    assert fleet("ok", "cancelled", cancelled=True).exit_code == 130


def test_summary_and_line() -> None:
    result = fleet("ok", "critical", "warning", "ok")
    assert dict(result.summary) == {"critical": 1, "warning": 1, "ok": 2}
    assert result.summary_line() == "4 sites: 2 ok, 1 critical, 1 warning — 0.5 s"
    assert result.state is State.CRITICAL


def test_worst_first_is_stable_and_lookup_works() -> None:
    result = fleet("ok", "warning", "critical", "warning")
    assert [r.site for r in result.worst_first()] == ["c2", "c1", "c3", "c0"]
    assert result["c2"].state == "critical" and result[0].site == "c0"


def test_site_result_is_a_munch_and_serialisable() -> None:
    result = fleet("warning")
    site = result[0]
    assert site.state == site["state"] == "warning"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["sites"][0]["reason"] == "why warning" and data["exit_code"] == 1


def test_worst_and_unknown_state() -> None:
    assert worst(["ok", "timed_out", "warning"]) is State.TIMED_OUT
    with pytest.raises(ValueError):
        worst(["fine"])
