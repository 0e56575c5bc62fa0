"""The `edgeshade` command end to end, as a separate process against the simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.timeout(120)


def edgeshade(sim, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "edgeshade", "--os-config-file", sim.clouds, *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=90, env={**os.environ, **(env or {})}, **kw
    )


def test_status_json_matches_states_and_exit_code(faulty_sim) -> None:
    out = edgeshade(faulty_sim, "--timeout", "3", "--cloud", "all", "status", "-f", "json")
    assert out.returncode == 2, out.stderr
    data = json.loads(out.stdout)
    assert data["exit_code"] == 2 and len(data["sites"]) == 40
    states = {s["site"]: s["state"] for s in data["sites"]}
    for site, state in states.items():
        fault = faulty_sim.fleet.fault_of(site)
        if fault is not None and fault.kind == "refused":
            assert state == "unreachable"
        if fault is not None and fault.kind == "401":
            assert state == "auth_failed"
    assert out.stderr == ""  # no progress bar, no noise when not on a terminal


def test_table_is_worst_first_with_summary(faulty_sim) -> None:
    out = edgeshade(faulty_sim, "--timeout", "3", "status")
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("40 sites: ") and lines[-1].endswith(" s")
    body = [line for line in lines[2:-1] if line.strip() and not line.startswith(" ")]
    states = [line.split("|")[1].strip() for line in body]
    assert states[0] == "critical" and states[-1] == "ok"


def test_yaml_and_columns(healthy_sim) -> None:
    out = edgeshade(healthy_sim, "--cloud", "edge-0000*", "status", "-f", "yaml",
                    "-c", "site", "-c", "state")
    assert out.returncode in (0, 1, 2), out.stderr
    data = yaml.safe_load(out.stdout)
    assert data["sites"] and set(data["sites"][0]) == {"site", "state"}


def test_selector_errors_exit_3_with_one_line(healthy_sim) -> None:
    for args in (["--cloud", "nope", "status"], ["--cloud", "zz-*", "status"],
                 ["status", "--threshold", "bogus=1"], ["status", "--no-such-option"]):
        out = edgeshade(healthy_sim, *args)
        assert out.returncode == 3, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("edgeshade: error:"), out.stderr
        assert "Traceback" not in out.stderr


def test_clouds_lists_sites_without_contacting_them(healthy_sim) -> None:
    healthy_sim.server.reset_stats()
    out = edgeshade(healthy_sim, "clouds", "core-a", "-f", "json")
    assert out.returncode == 0, out.stderr
    sites = [row["site"] for row in json.loads(out.stdout)]
    assert sites == ["core-a/RegionOne", "core-a/RegionTwo", "core-a/RegionThree"]
    assert healthy_sim.server.stats()["total"] == 0


def test_http_debug_shows_exchanges_but_no_secret(healthy_sim) -> None:
    secure = yaml.safe_load(open(healthy_sim.secure))
    secrets = {
        value
        for cloud in secure["clouds"].values()
        for key, value in cloud.get("auth", {}).items()
        if key in ("password", "application_credential_secret")
    }
    app_cred = [n for n, c in secure["clouds"].items() if "application_credential_secret"
                in c.get("auth", {})]
    selectors = ["edge-00001", "core-a", *app_cred[:1]]
    out = edgeshade(healthy_sim, "--http-debug", "--debug", "--no-state",
                    *sum((["--cloud", s] for s in selectors), []), "status", "-f", "json")
    assert out.returncode in (0, 1, 2), out.stderr
    assert "GET" in out.stderr and "os-hypervisors" in out.stderr  # it did log exchanges
    leaked = [s for s in secrets if s in out.stderr or s in out.stdout]
    assert not leaked
    tokens = healthy_sim.server.call_in_loop(lambda: list(healthy_sim.server.app.tokens._tokens))
    assert tokens, "the simulator should have issued tokens"
    assert not [t for t in tokens if t in out.stderr or t in out.stdout]


def test_ctrl_c_prints_the_table_and_exits_130(faulty_sim) -> None:
    hanging = [s for s in faulty_sim.fleet.sites
               if (f := faulty_sim.fleet.fault_of(s)) and f.kind == "hang"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeshade", "--os-config-file", faulty_sim.clouds,
         "--timeout", "60", "--cloud", ",".join(hanging + ["edge-00001"]), "status"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A run started in the background (nohup, `&`) inherits SIGINT ignored; a user's
        # terminal does not. Give the child the terminal's behaviour.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 40
    while faulty_sim.server.stats().get("hanging", 0) < len(hanging):
        assert time.monotonic() < deadline, "the hanging sites were never contacted"
        time.sleep(0.1)
    time.sleep(0.5)  # edge-00001 done, the hanging sites in flight
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "cancelled" in stdout and "(cancelled)" in stdout.strip().splitlines()[-1]
    assert "Traceback" not in stderr
