"""`edgeshade history` / `changes` / `report --cached` over a state store built by real runs."""

from __future__ import annotations

import json
import time

from edgeshade.cli import main
from edgeshade.config import Site
from edgeshade.results import FleetResult, SiteResult
from edgeshade.state import StateStore


def record(state_dir, states: dict[str, str], started: float | None = None) -> None:
    results = [SiteResult.make(Site(n, "R", n), st, f"why {st}") for n, st in states.items()]
    with StateStore(state_dir) as store:
        store.record_run(FleetResult("status", results, elapsed=0.2), started=started)


def test_history_json_and_table(tmp_path, capsys) -> None:
    state = str(tmp_path / "st")
    record(state, {"edge-1": "ok"}, started=time.time() - 3 * 86400)
    record(state, {"edge-1": "unreachable"})
    record(state, {"edge-1": "unreachable"})
    assert main(["--state-dir", state, "history", "edge-1", "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["previous"], r["state"]) for r in rows] == [(None, "ok"), ("ok", "unreachable")]
    assert main(["--state-dir", state, "history", "edge-1", "--all", "-f", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["--state-dir", state, "history", "edge-1"]) == 0
    table = capsys.readouterr().out
    assert "(first record)" in table and "why unreachable" in table


def test_changes_since(tmp_path, capsys) -> None:
    state = str(tmp_path / "st")
    record(state, {"a": "ok", "b": "ok"}, started=time.time() - 3 * 86400)
    record(state, {"a": "critical", "b": "ok"})
    assert main(["--state-dir", state, "changes", "--since", "24h", "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["site"], r["previous"], r["state"]) for r in rows] == [("a", "ok", "critical")]
    assert main(["--state-dir", state, "changes", "--since", "1m"]) == 0
    assert "critical" in capsys.readouterr().out
    assert main(["--state-dir", state, "changes", "--since", "10s", "-f", "yaml"]) == 0


def test_bad_input_is_one_line_exit_3(tmp_path, capsys, fleet_files) -> None:
    state = str(tmp_path / "st")
    record(state, {"a": "ok"})
    for argv in (
        ["--state-dir", state, "changes", "--since", "yesterday"],
        ["--state-dir", state, "history", "never-seen"],
        ["--no-state", "history", "a"],
        ["--os-config-file", fleet_files[0], "--no-state", "report", "--cached"],
        ["--os-config-file", fleet_files[0], "report", "--checks", "bogus"],
        ["--os-config-file", fleet_files[0], "exporter", "--cheap-checks", "bogus"],
    ):
        assert main(argv) == 3, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("edgeshade: error:"), (argv, err)


def test_cached_report_writes_a_file_without_contacting_sites(tmp_path, capsys,
                                                              fleet_files) -> None:
    state = str(tmp_path / "st")
    record(state, {"edge-berlin": "warning"})
    out = tmp_path / "fleet.html"
    assert main(["--os-config-file", fleet_files[0], "--state-dir", state, "report",
                 "--cached", "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert '"edge-berlin","edge-berlin","RegionOne","eu,pilot",6,"why warning",' in html
    assert "wrote" in capsys.readouterr().err
