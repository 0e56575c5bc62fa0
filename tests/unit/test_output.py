"""Rendering: JSON and YAML carry the data, -c picks columns, the table is worst-first."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from edgeshade.config import Site
from edgeshade.output import DEFAULT_COLUMNS, pick_columns, render
from edgeshade.results import FleetResult, SiteResult
from edgeshade.tasks.status import status

STATES = {"alpha": "ok", "bravo": "critical", "charlie": "warning", "delta": "ok",
          "echo": "unreachable"}


@pytest.fixture
def result() -> FleetResult:
    sites = []
    for name, state in STATES.items():
        reason = "" if state == "ok" else f"{name} is {state}"
        sites.append(SiteResult.make(Site(name, "R1", name), state, reason, elapsed=0.25,
                                     data={"auth_ms": 12, "services": {"volume": "absent"}}))
    return FleetResult("status", sites, elapsed=1.5)


def rendered(result, fmt, **kw) -> str:
    stream = io.StringIO()
    render(result, fmt, stream=stream, **kw)
    return stream.getvalue()


def test_json_parses_back_to_to_dict(result) -> None:
    data = json.loads(rendered(result, "json"))
    assert data == json.loads(json.dumps(result.to_dict()))
    assert [s["site"] for s in data["sites"]] == list(STATES)  # selection order
    assert data["exit_code"] == 2 and data["summary"]["critical"] == 1


def test_yaml_parses_back_to_the_same_data(result) -> None:
    data = yaml.safe_load(rendered(result, "yaml"))
    assert data == json.loads(rendered(result, "json"))
    assert data["sites"][1]["data"]["services"] == {"volume": "absent"}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_columns_pick_fields_in_the_asked_order(result, fmt) -> None:
    text = rendered(result, fmt, wanted=["state", "Site"])
    data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert list(data["sites"][0]) == ["state", "site"]
    assert {s["site"]: s["state"] for s in data["sites"]} == STATES
    assert data["summary"]["ok"] == 2  # the summary stays


def test_task_columns_by_key_or_header(result) -> None:
    text = rendered(result, "json", columns=status.columns, wanted=["auth_ms", "Volume"])
    rows = json.loads(text)["sites"]
    assert rows[0] == {"auth_ms": 12, "volume": "absent"}


def test_unknown_column_is_a_value_error_naming_known_ones(result) -> None:
    with pytest.raises(ValueError, match=r"unknown column 'bogus' \(known: site, state"):
        rendered(result, "json", wanted=["bogus"])
    with pytest.raises(ValueError, match="unknown column"):
        rendered(result, "table", wanted=["site", "bogus"])
    with pytest.raises(ValueError, match="unknown format"):
        rendered(result, "xml")


def test_pick_columns_without_wanted_keeps_all() -> None:
    assert pick_columns(DEFAULT_COLUMNS, None) is DEFAULT_COLUMNS
    assert list(pick_columns(DEFAULT_COLUMNS, ["time_s", "reason"])) == ["Time s", "Reason"]


def test_table_is_worst_first_and_ends_with_the_summary_line(result) -> None:
    lines = rendered(result, "table").rstrip("\n").splitlines()
    assert lines[-1] == result.summary_line()
    assert lines[-1] == "5 sites: 2 ok, 1 warning, 1 critical, 1 unreachable — 1.5 s"
    rows = [line for line in lines if any(f" {name} " in f" {line} " for name in STATES)]
    order = [next(n for n in STATES if f" {n} " in f" {row} ") for row in rows]
    assert order == ["bravo", "echo", "charlie", "alpha", "delta"]
    assert "bravo is critical" in rows[0]
    assert "\x1b[" not in "".join(lines)  # no colour codes when not on a terminal


def test_table_with_columns_shows_only_those(result) -> None:
    lines = rendered(result, "table", wanted=["site", "state"]).splitlines()
    header = lines[0]
    assert "Site" in header and "State" in header and "Reason" not in header
    assert not any("is critical" in line for line in lines)


def test_plain_table_keeps_whole_reasons_one_line_per_site() -> None:
    import io
    import types

    from edgeshade.output import render
    from edgeshade.results import FleetResult, SiteResult

    long_reason = "nova-compute down on edge-host-0001, edge-host-0002 " + "x" * 300
    sites = [
        SiteResult.make(types.SimpleNamespace(name=f"s{i}", cloud=f"s{i}", region="R"),
                        "critical" if i == 3 else "ok", long_reason if i == 3 else "")
        for i in range(5)
    ]
    buf = io.StringIO()
    render(FleetResult("status", sites, elapsed=1.0), "table", stream=buf)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 + 5 + 1  # header, rule, one line per site, summary
    assert lines[2].startswith("s3 ") and lines[2].endswith(long_reason)
    assert lines[-1].startswith("5 sites: 4 ok, 1 critical")
