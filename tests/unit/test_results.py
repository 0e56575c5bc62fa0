"""States, severity, summary and the exit codes scripts and monitoring rely on."""

from __future__ import annotations

import json

import pytest
from munch import Munch

from edgeshade.config import Site
from edgeshade.results import (
    SEVERITY,
    FleetResult,
    SiteResult,
    State,
    exit_code_for,
    rank,
    worst,
)


def fleet(*states: str, cancelled: bool = False, elapsed: float = 0.5) -> FleetResult:
    sites = [Site(f"c{i}", f"R{i}", f"c{i}") for i in range(len(states))]
    results = [
        SiteResult.make(site, state, "" if state == "ok" else f"why {state}")
        for site, state in zip(sites, states, strict=True)
    ]
    return FleetResult("status", results, elapsed=elapsed, cancelled=cancelled)


def test_state_values_are_the_documented_strings() -> None:
    """Scripts, JSON consumers and the Ansible modules compare these strings."""
    assert {s.value for s in State} == {
        "ok", "warning", "critical", "unreachable", "auth_failed", "timed_out", "error",
        "cancelled", "skipped", "deferred",
    }
    assert State("auth_failed") is State.AUTH_FAILED and State.OK == "ok"


def test_severity_is_worst_first_and_complete() -> None:
    assert SEVERITY[:6] == (
        State.CRITICAL, State.UNREACHABLE, State.AUTH_FAILED, State.TIMED_OUT, State.ERROR,
        State.CANCELLED,
    )
    assert SEVERITY[-1] is State.OK
    assert set(SEVERITY) == set(State)
    assert rank("critical") < rank("error") < rank("warning") < rank("ok")


def test_worst() -> None:
    assert worst(["ok", "timed_out", "warning"]) is State.TIMED_OUT
    assert worst(["warning", "critical", "unreachable"]) is State.CRITICAL
    assert worst([]) is State.OK
    with pytest.raises(ValueError):
        worst(["fine"])


@pytest.mark.parametrize(
    ("states", "code"),
    [
        (["ok", "ok"], 0),
        (["ok", "skipped"], 0),
        (["ok", "warning"], 1),
        (["warning", "critical"], 2),
        (["ok", "unreachable"], 2),
        (["ok", "auth_failed"], 2),
        (["ok", "timed_out"], 2),
        (["ok", "error"], 2),
        (["critical", "warning", "ok"], 2),  # the worst wins, wherever it is
        ([], 3),  # an empty fleet checked nothing: unknown
    ],
)
def test_exit_codes(states, code) -> None:
    assert fleet(*states).exit_code == code


@pytest.mark.parametrize(
    ("state", "code"),
    [("ok", 0), ("warning", 1), ("critical", 2), ("unreachable", 2), ("auth_failed", 2),
     ("timed_out", 2), ("error", 2)],
)
def test_exit_code_per_state(state, code) -> None:
    assert exit_code_for(state) == code


def test_cancelled_run_exits_130_even_if_all_finished_ok() -> None:
    assert fleet("ok", "cancelled", cancelled=True).exit_code == 130
    assert fleet("ok", cancelled=True).exit_code == 130
    assert fleet(cancelled=True).exit_code == 130


def test_summary_counts_worst_first_only_occurring_states() -> None:
    result = fleet("ok", "critical", "warning", "ok", "timed_out")
    assert list(result.summary.items()) == [
        ("critical", 1), ("timed_out", 1), ("warning", 1), ("ok", 2)
    ]
    assert result.summary.ok == 2  # a Munch
    assert result.state is State.CRITICAL


def test_summary_line_format() -> None:
    assert fleet("ok", "warning", "critical").summary_line() == (
        "3 sites: 1 ok, 1 warning, 1 critical — 0.5 s"
    )


def test_summary_line_orders_failures_by_severity_after_warning() -> None:
    """As documented: ``998 sites: 990 ok, 5 warning, 2 critical, 1 unreachable``."""
    result = fleet("unreachable", "ok", "critical", "warning", "ok", "error", elapsed=3.14)
    assert result.summary_line() == (
        "6 sites: 2 ok, 1 warning, 1 critical, 1 unreachable, 1 error — 3.1 s"
    )


def test_summary_line_singular_empty_and_cancelled() -> None:
    assert fleet("ok").summary_line() == "1 site: 1 ok — 0.5 s"
    assert fleet().summary_line() == "0 sites: none — 0.5 s"
    assert fleet("ok", "cancelled", cancelled=True).summary_line() == (
        "2 sites: 1 ok, 1 cancelled — 0.5 s (cancelled)"
    )


def test_worst_first_is_stable() -> None:
    result = fleet("ok", "warning", "critical", "warning", "ok", "unreachable")
    assert [r.site for r in result.worst_first()] == ["c2", "c5", "c1", "c3", "c0", "c4"]
    assert [r.site for r in result] == ["c0", "c1", "c2", "c3", "c4", "c5"]  # unchanged


def test_lookup_by_index_and_name() -> None:
    result = fleet("ok", "warning", "critical")
    assert result[0].site == "c0" and result[-1].site == "c2"
    assert result["c1"].state == "warning"
    assert len(result) == 3
    with pytest.raises(KeyError):
        result["nope"]
    assert [r.site for r in result.by_state("warning", "critical")] == ["c1", "c2"]
    with pytest.raises(ValueError):
        result.by_state("bogus")


def test_to_dict_is_json_serialisable_and_complete() -> None:
    result = fleet("warning", "ok")
    result[0].data = Munch.fromDict({"nested": {"x": [1, 2]}})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["task"] == "status" and data["exit_code"] == 1 and data["cancelled"] is False
    assert data["summary"] == {"warning": 1, "ok": 1}
    assert [s["site"] for s in data["sites"]] == ["c0", "c1"]  # selection order
    assert data["sites"][0] == {
        "site": "c0", "cloud": "c0", "region": "R0", "state": "warning",
        "reason": "why warning", "hint": None, "elapsed": 0.0, "data": {"nested": {"x": [1, 2]}},
    }
    assert type(data["sites"][0]["data"]) is dict


def test_site_result_dot_and_dict_access() -> None:
    site = Site("c", "R", "c/R")
    result = SiteResult.make(site, State.WARNING, "meh", hint="try", elapsed=1.23456,
                             data={"compute": {"up": 3}})
    assert result.state == result["state"] == "warning"
    assert type(result.state) is str  # plain str, so YAML safe_dump works
    assert result.data.compute.up == result["data"]["compute"]["up"] == 3
    assert (result.site, result.cloud, result.region) == ("c/R", "c", "R")
    assert result.elapsed == 1.235 and result.hint == "try"
    with pytest.raises(ValueError):
        SiteResult.make(site, "fine")


def test_repr_names_task_and_summary() -> None:
    assert repr(fleet("ok")) == "<FleetResult status: 1 site: 1 ok — 0.5 s>"
