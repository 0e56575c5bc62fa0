"""The state store survives SIGKILL at any point and concurrent writers (22 kills).

Children write state the way edgeshade does (whole ``status`` runs against the
simulator, and back-to-back ``record_run`` of big results so kills land inside
transactions). After every kill the database must pass ``PRAGMA
integrity_check``, every recorded run must be complete (its ``run_sites`` rows
match its summary), no run may be recorded twice, and the store must open and
record again. Two processes running ``status`` on one store at once both
finish; the `edgeshade` command itself is killed mid-run too.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import _statechild
import pytest

from edgeshade.sim import SimFleet, SimServer
from edgeshade.state import StateStore

pytestmark = pytest.mark.timeout(240)

KILLS_DURING_STATUS = 10
KILLS_DURING_RECORD = 12
SITES = 40


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["_statechild", "edgeshade.fleet", "edgeshade.tasks.status",
                                "openstack.config", "keystoneauth1.session"])
    return ctx


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("durability")
    fleet = SimFleet(sites=SITES, seed=4, latency_ms=2, faults="refused=2,500@compute=1")
    with SimServer(fleet) as srv:
        clouds, _secure = srv.write_config(str(tmp))
        yield clouds


def check_store(state_dir: Path) -> int:
    """Assert the store is sound; returns the number of recorded runs."""
    db = sqlite3.connect(state_dir / "state.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = db.execute("SELECT id, summary FROM runs ORDER BY id").fetchall()
        for run_id, summary in runs:
            rows = db.execute("SELECT COUNT(*) FROM run_sites WHERE run_id = ?",
                              (run_id,)).fetchone()[0]
            assert rows == sum(json.loads(summary).values()), f"run {run_id} half-written"
        orphans = db.execute("SELECT COUNT(*) FROM run_sites WHERE run_id NOT IN "
                             "(SELECT id FROM runs)").fetchone()[0]
        assert orphans == 0
    finally:
        db.close()
    with StateStore(state_dir) as store:  # opens cleanly and can write again
        assert store.last_known() is not None
    return len(runs)


def _kill_loop(ctx, target, args_for, kills: int, delay: tuple[float, float]) -> list[int]:
    counts = []
    rng = random.Random(20)
    for i in range(kills):
        state_dir, notes, args = args_for(i)
        before = check_store(state_dir) if (state_dir / "state.db").exists() else 0
        if notes.exists():
            notes.unlink()
        proc = ctx.Process(target=target, args=args, daemon=True)
        proc.start()
        time.sleep(rng.uniform(*delay))
        proc.kill()  # SIGKILL
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        after = check_store(state_dir)
        noted = len(notes.read_text().splitlines()) if notes.exists() else 0
        # a kill between the commit and the note loses one note, never a run; and no run
        # is recorded twice
        assert after - before in (noted, noted + 1), (before, after, noted)
        counts.append(after - before)
    return counts


def test_sigkill_during_status_runs(forkserver, sim, tmp_path) -> None:
    state_dir = tmp_path / "state"
    notes = tmp_path / "notes"

    def args_for(_i):
        return state_dir, notes, (sim, str(state_dir), str(notes), 0)

    new_runs = _kill_loop(forkserver, _statechild.status_loop, args_for,
                          KILLS_DURING_STATUS, (0.2, 1.6))
    assert sum(new_runs) >= 1, "no kill came after a recorded run: kill later"


def test_sigkill_inside_record_transactions(forkserver, tmp_path) -> None:
    state_dir = tmp_path / "state"
    notes = tmp_path / "notes"

    def args_for(_i):
        return state_dir, notes, (str(state_dir), str(notes), 3000)

    new_runs = _kill_loop(forkserver, _statechild.record_loop, args_for,
                          KILLS_DURING_RECORD, (0.05, 0.6))
    # some children committed runs before the kill; the kill then came mid-way in another
    assert sum(new_runs) >= 1


def test_two_processes_on_one_store_both_finish(forkserver, sim, tmp_path) -> None:
    state_dir = tmp_path / "state"
    procs = [forkserver.Process(target=_statechild.status_loop,
                                args=(sim, str(state_dir), str(tmp_path / f"notes{i}"), 2))
             for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert check_store(state_dir) == 4


def test_sigkill_of_the_cli_mid_run(sim, tmp_path) -> None:
    state_dir = tmp_path / "state"
    for delay in (0.9, 1.8):
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeshade", "--os-config-file", sim, "--state-dir",
             str(state_dir), "--timeout", "3", "status", "-f", "json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if (state_dir / "state.db").exists():
            check_store(state_dir)
    done = subprocess.run(
        [sys.executable, "-m", "edgeshade", "--os-config-file", sim, "--state-dir",
         str(state_dir), "--timeout", "3", "status", "-f", "json"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert check_store(state_dir) >= 1
