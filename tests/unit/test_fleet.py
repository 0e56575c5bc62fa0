"""The fan-out engine with fake tasks: order, bounds, deadlines, errors, cancellation.

No HTTP: ``Connector.open`` is replaced by a stub connection, so only the
engine in edgeshade.fleet is under test.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import types

import pytest

import edgeshade
from edgeshade.config import FleetConfig
from edgeshade.fleet import WATCHDOG_GRACE, Fleet
from edgeshade.state import StateStore

SITES = ["dc-west/RegionOne", "dc-west/RegionTwo", "edge-berlin", "edge-paris"]


def _stub_open(self, site, *, deadline, cancel):
    session = types.SimpleNamespace(
        calls=["GET x", "GET y"], auth=None, session=types.SimpleNamespace(close=lambda: None)
    )
    return types.SimpleNamespace(site=site, session=session, deadline=deadline, cancel=cancel)


@pytest.fixture(autouse=True)
def _no_http(monkeypatch) -> None:
    monkeypatch.setattr("edgeshade.connection.Connector.open", _stub_open)


@pytest.fixture
def fleet_of(fleet_files):
    """``fleet_of(**settings)``: a Fleet over the 4 sites of the shared fixture."""
    config = FleetConfig(fleet_files[0])

    def make(**kw) -> Fleet:
        kw.setdefault("use_state", False)
        return Fleet(config, config.sites, **kw)

    return make


@pytest.fixture
def big_fleet(write_clouds):
    """``big_fleet(**settings)``: 12 single-region sites c00..c11."""
    clouds = "".join(f"  c{i:02d}: {{auth: {{auth_url: http://c{i}.example/v3}}}}\n"
                     for i in range(12))
    config = FleetConfig(write_clouds("clouds:\n" + clouds))

    def make(**kw) -> Fleet:
        return Fleet(config, config.sites, use_state=False, **kw)

    return make


def test_results_keep_input_order_whatever_finishes_first(fleet_of) -> None:
    delays = {name: 0.05 * (len(SITES) - i) for i, name in enumerate(SITES)}  # last ends first
    finished: list[str] = []

    def task(conn, site):
        time.sleep(delays[site.name])
        finished.append(site.name)
        return {"name": site.name}

    result = fleet_of(concurrency=4).run(task)
    assert finished == SITES[::-1]
    assert [r.site for r in result] == SITES
    assert [r.data.name for r in result] == SITES


def test_concurrency_bound_is_respected(big_fleet) -> None:
    lock = threading.Lock()
    active, peak = [0], [0]

    def task(conn, site):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.03)
        with lock:
            active[0] -= 1

    result = big_fleet(concurrency=3).run(task)
    assert peak[0] == 3
    assert result.summary == {"ok": 12}


def test_concurrency_is_bounded_by_the_number_of_sites(fleet_of) -> None:
    assert fleet_of(concurrency=1000).concurrency == len(SITES)
    assert fleet_of(concurrency=0).concurrency == 1


def test_a_task_that_never_returns_is_timed_out_by_the_watchdog(fleet_of) -> None:
    release = threading.Event()

    def task(conn, site):
        if site.name == "edge-paris":
            release.wait(30)  # ignores its deadline entirely
        return None

    timeout = 0.5
    started = time.monotonic()
    try:
        result = fleet_of(timeout=timeout).run(task)
        took = time.monotonic() - started
    finally:
        release.set()
    assert took < timeout + WATCHDOG_GRACE + 0.6
    assert result["edge-paris"].state == "timed_out"
    assert result["edge-paris"].reason == "no result within the 0.5 s deadline"
    assert result["edge-paris"].elapsed >= timeout
    assert [r.state for r in result][:3] == ["ok", "ok", "ok"]
    assert result.exit_code == 2


def test_each_site_gets_its_own_deadline(fleet_of) -> None:
    deadlines = {}

    def task(conn, site):
        deadlines[site.name] = conn.deadline - time.monotonic()
        time.sleep(0.05)

    fleet_of(concurrency=1, timeout=5).run(task)
    # With one site at a time, a shared deadline would shrink from site to site.
    assert all(4.8 < left <= 5 for left in deadlines.values()), deadlines


def test_task_outcomes_become_states(fleet_of) -> None:
    def task(conn, site):
        if site.name == "dc-west/RegionTwo":
            raise ValueError("bad thing")
        if site.name == "edge-berlin":
            raise edgeshade.SiteUnreachable("vpn down", hint="check the tunnel")
        if site.name == "edge-paris":
            return 42
        return {"state": "warning", "reason": "x", "hint": "h", "foo": 1}

    result = fleet_of().run(task)
    first = result["dc-west/RegionOne"]
    assert (first.state, first.reason, first.hint) == ("warning", "x", "h")
    assert first.data == {"foo": 1} and first.data.foo == 1  # reserved keys not in data
    assert first.requests == 2
    assert result["dc-west/RegionTwo"].state == "error"
    assert result["dc-west/RegionTwo"].reason == "ValueError: bad thing"
    assert result["edge-berlin"].state == "unreachable"
    assert result["edge-berlin"].hint == "check the tunnel"
    assert result["edge-paris"].state == "ok" and result["edge-paris"].data.result == 42
    assert result.exit_code == 2 and result.task == "task"


def test_a_task_returning_an_unknown_state_is_an_error(fleet_of) -> None:
    result = fleet_of().run(lambda conn, site: {"state": "fine"})
    assert {r.state for r in result} == {"error"}
    assert "'fine' is not a valid State" in result[0].reason


def test_params_reach_the_task(fleet_of) -> None:
    result = fleet_of().run(lambda conn, site, *, n: {"twice": 2 * n}, n=21)
    assert {r.data.twice for r in result} == {42}


def test_progress_called_once_per_site_with_increasing_counts(fleet_of) -> None:
    seen = []
    result = fleet_of(concurrency=2).run(
        lambda conn, site: None, progress=lambda r, done, total: seen.append((r.site, done, total))
    )
    assert [(done, total) for _site, done, total in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(site for site, _done, _total in seen) == sorted(SITES)
    assert not result.cancelled


def test_keyboard_interrupt_from_progress_cancels_the_rest(fleet_of) -> None:
    def task(conn, site):
        if site.name != "dc-west/RegionOne":
            conn.cancel.wait(10)  # a well-behaved task stops when the run is cancelled
        return None

    seen = []

    def progress(result, done, total):
        seen.append((done, total))
        if done == 1:
            raise KeyboardInterrupt  # as if Ctrl-C arrived while the first site finished

    started = time.monotonic()
    result = fleet_of(concurrency=2).run(task, progress=progress)
    assert time.monotonic() - started < 3
    assert result.cancelled and result.exit_code == 130
    assert result["dc-west/RegionOne"].state == "ok"
    assert [r.state for r in result][1:] == ["cancelled"] * 3
    assert result["dc-west/RegionTwo"].reason == "cancelled while running"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.summary_line().endswith("(cancelled)")


def test_ctrl_c_signal_mid_run(fleet_of) -> None:
    """A real SIGINT while every worker is busy: running and queued sites end cancelled."""
    release = threading.Event()
    cancels = []

    def task(conn, site):
        cancels.append(conn.cancel)
        release.wait(10)  # keeps both workers busy, so sites 3 and 4 never start

    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = fleet_of(concurrency=2).run(task)
    finally:
        timer.cancel()
        release.set()
    assert result.cancelled and result.exit_code == 130
    assert [r.reason for r in result] == ["cancelled while running"] * 2 + [
        "cancelled before start"
    ] * 2
    assert cancels and all(event.is_set() for event in cancels)  # tasks are told to stop


def test_run_records_last_known_state_unless_told_not_to(fleet_of, tmp_path) -> None:
    fleet_of(use_state=True, state_dir=str(tmp_path / "s")).run(
        lambda conn, site: {"state": "warning", "reason": "hot"}, record=False
    )
    with StateStore(tmp_path / "s") as store:
        assert store.last_known() == {}
    fleet_of(use_state=True, state_dir=str(tmp_path / "s")).run(
        lambda conn, site: {"state": "warning", "reason": "hot"}
    )
    with StateStore(tmp_path / "s") as store:
        known = store.last_known()
    assert sorted(known) == sorted(SITES)
    assert {(k["state"], k["reason"]) for k in known.values()} == {("warning", "hot")}


def test_tasks_by_name_and_import_path(fleet_of, private_registry) -> None:
    @edgeshade.task(name="unit_probe")
    def probe(conn, site):
        return {"probed": site.name}

    result = fleet_of().run("unit_probe")
    assert result.task == "unit_probe" and result["edge-paris"].data.probed == "edge-paris"
    assert edgeshade.tasks.get_task("edgeshade.tasks.status:status").task_name == "status"
    with pytest.raises(edgeshade.TaskError, match="unknown task 'nope'"):
        fleet_of().run("nope")


def test_sub_fleets_keep_settings(fleet_of) -> None:
    fleet = fleet_of(concurrency=3, timeout=7, retries=1)
    sub = fleet.select("edge-*")
    assert [s.name for s in sub.sites] == ["edge-berlin", "edge-paris"]
    assert (sub.timeout, sub.retries, sub.use_state) == (7.0, 1, False)
    assert len(sub) == 2 and repr(sub) == "<Fleet 2 sites>"


def test_connect_loads_and_selects(fleet_files) -> None:
    fleet = edgeshade.connect("dc-west", config_file=fleet_files[0], timeout=3, use_state=False)
    assert [s.name for s in fleet.sites] == ["dc-west/RegionOne", "dc-west/RegionTwo"]
    assert fleet.timeout == 3.0
    with pytest.raises(edgeshade.SelectorError):
        edgeshade.connect("nope", config_file=fleet_files[0])
