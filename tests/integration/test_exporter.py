"""`edgeshade exporter` over loopback and the audit rules behind it, against the simulator."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import edgeshade
from edgeshade.exporter import Exporter
from edgeshade.history import site_history
from edgeshade.sim import SimFleet, SimServer
from edgeshade.state import StateStore

pytestmark = pytest.mark.timeout(120)


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def shown_states(fams: dict) -> dict[str, str]:
    return {s.labels["site"]: s.labels["state"]
            for s in fams["edgeshade_site_state"] if s.value == 1.0}


def per_site(fams: dict, name: str) -> dict[str, float]:
    return {s.labels["site"]: s.value for s in fams[name]}


@pytest.fixture
def sim(tmp_path):
    fleet = SimFleet(sites=12, seed=5, latency_ms=2, faults="refused=2,500@compute=1")
    server = SimServer(fleet).start()
    clouds, _secure = server.write_config(str(tmp_path))
    yield fleet, server, clouds
    server.stop()


def test_exporter_serves_metrics_and_marks_offline_after_n_failures(sim, tmp_path) -> None:
    fleet, _server, clouds = sim
    refused = {s for s in fleet.sites if (f := fleet.fault_of(s)) and f.kind == "refused"}
    broken = {s for s in fleet.sites if (f := fleet.fault_of(s)) and f.kind == "500"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeshade", "--os-config-file", clouds, "--state-dir",
         str(tmp_path / "state"), "--timeout", "3", "exporter", "--port", "0",
         "--interval", "1.5", "--full-interval", "600", "--offline-after", "2"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stderr.readline()
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics for 12 sites", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}/metrics"

        def scrape() -> dict:
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert resp.status == 200
                return families(resp.read().decode())

        deadline = time.monotonic() + 60
        first = None
        while time.monotonic() < deadline:
            fams = scrape()
            audits = {s.labels["kind"]: s.value for s in fams.get("edgeshade_audits", [])
                      if s.name.endswith("_total")}
            if audits.get("full") and first is None and not audits.get("cheap"):
                first = fams
            if audits.get("cheap", 0) >= 1:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no cheap audit within 60 s")
        assert first is not None, "never scraped between the full and the first cheap audit"

        # After one failed audit: shown failed (never seen before) but not offline yet.
        assert per_site(first, "edgeshade_site_consecutive_failures")[min(refused)] == 1
        assert set(per_site(first, "edgeshade_site_offline").values()) == {0.0}
        # After the second (cheap) audit: offline; the rest follow the full audit's states.
        states = shown_states(fams)
        assert len(states) == 12
        offline = per_site(fams, "edgeshade_site_offline")
        assert {s for s, v in offline.items() if v == 1.0} == refused
        assert all(states[s] == "unreachable" for s in refused)
        # A cheap audit does not check compute: the 500 found by the full audit stays shown.
        assert all(states[s] == "critical" for s in broken)
        assert all(states[s] in ("ok", "warning") for s in states if s not in refused | broken)
        per_state = {s.labels["state"]: s.value for s in fams["edgeshade_sites"]}
        assert per_state["unreachable"] == len(refused)
        success = per_site(fams, "edgeshade_site_last_success_timestamp_seconds")
        assert not refused & set(success) and len(success) == 12 - len(refused)
        assert fams["edgeshade_run_duration_seconds"][0].value > 0
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err and "stopped" in err


def test_sticky_online_until_consecutive_failures(sim, tmp_path) -> None:
    """A healthy site that stops answering keeps its state for N-1 audits, then goes offline."""
    fleet, server, clouds = sim
    connected = edgeshade.connect("edge-*", config_file=clouds, timeout=3,
                                  state_dir=str(tmp_path / "state"))
    exporter = Exporter(connected, offline_after=3)
    exporter.audit("full")
    healthy = next(s for s in connected.sites if fleet.fault_of(s.name) is None).name
    assert exporter.shown[healthy] == "ok"
    server.stop()  # every site stops answering
    exporter.audit("cheap")
    exporter.audit("cheap")
    assert exporter.shown[healthy] == "ok" and exporter.failures[healthy] == 2
    snap = exporter.collector.snapshot
    assert snap is not None and not snap.offline[healthy]
    exporter.audit("cheap")
    assert exporter.shown[healthy] == "unreachable"
    assert exporter.collector.snapshot.offline[healthy]
    # The state store agrees, and only transitions made it into the history.
    with StateStore(tmp_path / "state") as store:
        assert store.last_known([healthy])[healthy]["failures"] == 3
        runs = site_history(store, healthy, every_run=True)
    assert [r["state"] for r in runs] == ["ok", "unreachable"]
    # A restarted exporter starts from the stored counts and states.
    again = Exporter(connected, offline_after=3)
    assert again.failures[healthy] == 3 and again.shown[healthy] == "unreachable"
