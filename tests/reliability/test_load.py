"""The load benchmark's small variant: ``status`` with default settings, and with an
open-files limit edgeshade cannot raise (concurrency capped with a warning, never a
site failed by "Too many open files").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

LOAD = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
SITES = 300
NOFILE = 120  # (120 - 64) // 8 = 7 sites in flight


def test_small_load_has_no_edgeshade_errors_and_handles_the_fd_limit() -> None:
    proc = subprocess.run(
        [sys.executable, str(LOAD), "--sites", str(SITES), "--latency-ms", "10",
         "--baseline-sites", "0", "--nofile", str(NOFILE), "--json"],
        capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full, limited = json.loads(proc.stdout)
    for run in (full, limited):
        assert run["sites"] == SITES
        assert run["edgeshade_errors"] == 0, run["error_samples"]
        assert run["rss_mb"] < 400, run["rss_mb"]
    assert full["concurrency"] == 128 and not full["warnings"]
    assert limited["concurrency"] == (NOFILE - 64) // 8
    assert any("open-files limit 120" in w and "ulimit -n" in w for w in limited["warnings"])
    assert full["states"] == limited["states"]
