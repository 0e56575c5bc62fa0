"""Prometheus text output, read back with prometheus_client's own parser."""

from __future__ import annotations

import io

from prometheus_client.parser import text_string_to_metric_families

from edgeshade.config import Site
from edgeshade.metrics import Snapshot, exposition, snapshot_of
from edgeshade.output import render
from edgeshade.results import SEVERITY, FleetResult, SiteResult


def parse(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def fleet() -> FleetResult:
    sites = [Site("core", "RegionOne", "core/RegionOne"), Site("edge-1", None, "edge-1"),
             Site("edge-2", "R", "edge-2"), Site("edge-3", "R", "edge-3")]
    states = ["ok", "critical", "unreachable", "ok"]
    results = [SiteResult.make(s, st) for s, st in zip(sites, states, strict=True)]
    return FleetResult("status", results, elapsed=2.5)


def test_render_prometheus_is_parseable_with_one_gauge_per_site_and_state() -> None:
    out = io.StringIO()
    render(fleet(), "prometheus", stream=out, last_success={"edge-2": 1700000000.0})
    families = parse(out.getvalue())
    states = families["edgeshade_site_state"]
    assert len(states) == 4 * len(SEVERITY)
    on = {(s.labels["site"], s.labels["state"]) for s in states if s.value == 1.0}
    assert on == {("core/RegionOne", "ok"), ("edge-1", "critical"), ("edge-2", "unreachable"),
                  ("edge-3", "ok")}
    core = next(s for s in states if s.labels["site"] == "core/RegionOne")
    assert core.labels["cloud"] == "core" and core.labels["region"] == "RegionOne"
    assert next(s for s in states if s.labels["site"] == "edge-1").labels["region"] == ""
    per_state = {s.labels["state"]: s.value for s in families["edgeshade_sites"]}
    assert per_state["ok"] == 2 and per_state["critical"] == 1 and per_state["timed_out"] == 0
    (duration,) = families["edgeshade_run_duration_seconds"]
    assert duration.value == 2.5 and duration.labels == {"task": "status"}
    success = {s.labels["site"]: s.value for s in
               families["edgeshade_site_last_success_timestamp_seconds"]}
    # Answered sites succeeded now; the unreachable one keeps its last known success.
    assert success["edge-2"] == 1700000000.0
    assert success["edge-1"] > 1700000000.0 and set(success) == {
        "core/RegionOne", "edge-1", "edge-2", "edge-3"}


def test_label_values_are_escaped() -> None:
    site = Site('we"ird\\cloud', "R", 'we"ird\\cloud')
    result = FleetResult("status", [SiteResult.make(site, "ok")], elapsed=0.1)
    families = parse(exposition(snapshot_of(result)))
    assert families["edgeshade_site_state"][0].labels["site"] == 'we"ird\\cloud'


def test_exporter_families_only_when_present() -> None:
    snap = Snapshot("status", [("a", "c", "", "ok")], 1.0, 2.0, {"a": 2.0},
                    failures={"a": 2}, offline={"a": True}, audits={"cheap": (3, 0.5, 9.0)})
    families = parse(exposition(snap))
    assert families["edgeshade_site_consecutive_failures"][0].value == 2
    assert families["edgeshade_site_offline"][0].value == 1
    assert [s.value for s in families["edgeshade_audits"] if s.name.endswith("_total")] == [3]
    plain = parse(exposition(Snapshot("status", [("a", "c", "", "ok")], 1.0, 2.0)))
    assert "edgeshade_site_offline" not in plain
