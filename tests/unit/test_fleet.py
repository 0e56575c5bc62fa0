"""The fan-out engine with fake tasks: order, bounds, deadlines, errors, cancellation."""

from __future__ import annotations

import threading
import time
import types

import pytest

import edgeshade
from edgeshade.config import FleetConfig
from edgeshade.fleet import Fleet


class _FakeSession:
    calls: list = []
    session = types.SimpleNamespace(close=lambda: None)
    auth = None


@pytest.fixture
def fleet_of(fleet_files, monkeypatch):
    """A Fleet whose sites need no network: Connector.open returns a stub connection."""
    monkeypatch.setattr(
        "edgeshade.connection.Connector.open",
        lambda self, site, deadline, cancel: types.SimpleNamespace(
            site=site, session=_FakeSession(), deadline=deadline, cancel=cancel
        ),
    )
    config = FleetConfig(fleet_files[0])

    def make(**kw) -> Fleet:
        return Fleet(config, config.sites, use_state=False, **kw)

    return make


def test_results_keep_input_order_whatever_finishes_first(fleet_of) -> None:
    delays = {"dc-west/RegionOne": 0.3, "dc-west/RegionTwo": 0.2, "edge-berlin": 0.1}

    def task(conn, site):
        time.sleep(delays.get(site.name, 0))
        return {"name": site.name}

    result = fleet_of(concurrency=4).run(task)
    assert [r.site for r in result] == [r.data.name for r in result]
    assert [r.site for r in result] == ["dc-west/RegionOne", "dc-west/RegionTwo",
                                        "edge-berlin", "edge-paris"]


def test_concurrency_is_bounded(fleet_of) -> None:
    lock, active, peak = threading.Lock(), [0], [0]

    def task(conn, site):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.1)
        with lock:
            active[0] -= 1

    fleet_of(concurrency=2).run(task)
    assert peak[0] == 2


def test_a_task_that_never_returns_is_timed_out_at_its_deadline(fleet_of) -> None:
    release = threading.Event()

    def task(conn, site):
        if site.name == "edge-paris":
            release.wait(30)  # ignores its deadline entirely
        return None

    started = time.monotonic()
    result = fleet_of(timeout=1.0).run(task)
    release.set()
    assert time.monotonic() - started < 3.0
    assert result["edge-paris"].state == "timed_out"
    assert [r.state for r in result][:3] == ["ok", "ok", "ok"]


def test_task_outcomes_become_states(fleet_of) -> None:
    def task(conn, site):
        if site.name == "edge-berlin":
            raise ValueError("bad thing")
        if site.name == "edge-paris":
            raise edgeshade.SiteUnreachable("vpn down", hint="check the tunnel")
        return {"state": "warning", "reason": "meh", "foo": 1}

    result = fleet_of().run(task)
    assert result["edge-berlin"].state == "error"
    assert "ValueError: bad thing" in result["edge-berlin"].reason
    assert result["edge-paris"].state == "unreachable"
    assert result["edge-paris"].hint == "check the tunnel"
    assert result["dc-west/RegionOne"].state == "warning"
    assert result["dc-west/RegionOne"].data.foo == 1
    assert result.exit_code == 2


def test_progress_and_ctrl_c(fleet_of) -> None:
    def task(conn, site):
        if site.name != "dc-west/RegionOne":
            conn.cancel.wait(10)
        return None

    seen = []

    def progress(result, done, total):
        seen.append((done, total))
        if done == 1:
            raise KeyboardInterrupt  # as if Ctrl-C arrived while the first site finished

    result = fleet_of(concurrency=2).run(task, progress=progress)
    assert result.cancelled and result.exit_code == 130
    assert result["dc-west/RegionOne"].state == "ok"
    assert {r.state for r in list(result)[1:]} == {"cancelled"}
    assert {r.reason for r in list(result)[1:]} == {"cancelled while running",
                                                   "cancelled before start"}
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_registered_and_imported_tasks() -> None:
    @edgeshade.task(name="unit_probe")
    def probe(conn, site):
        return None

    from edgeshade.tasks import get_task

    assert get_task("unit_probe") is probe
    assert get_task("edgeshade.tasks.status:status").task_name == "status"
    with pytest.raises(edgeshade.TaskError, match="unknown task 'nope'"):
        get_task("nope")
