"""The journal: steps before/after, open steps after a crash, pending work, writer lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from edgeshade.journal import BACKOFF_BASE, Journal, StateBusy


@pytest.fixture
def journal(tmp_path):
    with Journal.open(tmp_path / "state") as j:
        yield j


def test_step_records_before_and_after(journal) -> None:
    with journal.step("deploy:web", "edge-1", "create_server", version="3",
                      before=None) as step:
        step.after = {"id": "abc", "image": "pos-8"}
        step.resource = "abc"
    [row] = journal.steps("deploy:web", "edge-1")
    assert (row.phase, row.resource, row.version) == ("done", "abc", "3")
    assert row.after == {"id": "abc", "image": "pos-8"}
    assert row.ended >= row.begun
    assert journal.open_steps("deploy:web") == []


def test_failed_step_keeps_the_error_and_reraises(journal) -> None:
    with pytest.raises(RuntimeError), journal.step("deploy:web", "edge-1", "rebuild"):
        raise RuntimeError("server went to ERROR")
    [row] = journal.steps("deploy:web")
    assert row.phase == "failed" and "server went to ERROR" in row.error


def test_a_step_begun_by_a_killed_process_stays_open(tmp_path) -> None:
    state = tmp_path / "state"
    code = textwrap.dedent(f"""
        import os
        from edgeshade.journal import Journal
        with Journal.open({str(state)!r}) as j:
            j.begin("deploy:web", "edge-9", "create_server", resource="name-1")
            os._exit(9)  # as if killed between 'begun' and 'done'
    """)
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == 9
    with Journal.open(state) as j:
        [row] = j.open_steps("deploy:web")
        assert (row.site, row.action, row.resource) == ("edge-9", "create_server", "name-1")
        j.end(row.id, after={"adopted": True})
        assert j.open_steps("deploy:web") == []


def test_site_versions_is_the_last_completed_version(journal) -> None:
    for version in ("1", "2"):
        with journal.step("deploy:web", "edge-1", "complete", version=version) as s:
            s.after = {"servers": int(version)}
    with pytest.raises(RuntimeError), journal.step("deploy:web", "edge-1", "complete",
                                                   version="3"):
        raise RuntimeError("gate failed")
    versions = journal.site_versions("deploy:web")
    assert versions["edge-1"].version == "2"
    assert versions["edge-1"].after == {"servers": 2}
    [op] = journal.operations("deploy:")
    assert (op.op, op.sites, op.failed, op.open) == ("deploy:web", 1, 1, 0)


def test_pending_keeps_only_the_newest_version(journal) -> None:
    journal.defer("config:base", "edge-1", "4", {"hash": "a"}, error="unreachable")
    journal.defer("config:base", "edge-1", "5", {"hash": "b"})
    journal.defer("config:base", "edge-2", "5", {"hash": "b"})
    entries = {p.site: p for p in journal.pending("config:base")}
    assert entries["edge-1"].version == "5" and entries["edge-1"].payload == {"hash": "b"}
    assert len(entries) == 2
    assert journal.resolve("config:base", "edge-1", version="4") is False  # superseded: kept
    assert journal.resolve("config:base", "edge-1", version="5") is True
    assert [p.site for p in journal.pending()] == ["edge-2"]


def test_backoff_is_exponential_and_bounded(journal) -> None:
    journal.defer("config:base", "edge-1", "1")
    now = 1_000_000.0
    delays = []
    for _ in range(12):
        delays.append(journal.retry_later("config:base", "edge-1", "still down", now=now) - now)
    assert BACKOFF_BASE * 0.8 <= delays[0] <= BACKOFF_BASE
    assert delays[3] > delays[2] > delays[1] > delays[0]
    assert max(delays) <= 3600.0
    [entry] = journal.pending()
    assert entry.attempts == 12 and entry.stuck and entry.last_error == "still down"
    assert journal.due(now=now) == []
    assert [p.site for p in journal.due(now=now + 3601)] == ["edge-1"]
    journal.defer("config:base", "edge-1", "2")  # a new version starts afresh
    assert journal.pending()[0].attempts == 0


def test_second_writer_gets_a_clear_error(tmp_path) -> None:
    state = tmp_path / "state"
    code = textwrap.dedent(f"""
        import sys, time
        from edgeshade.journal import Journal
        with Journal.open({str(state)!r}) as j, j.lock("deploy:web"):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Journal.open(state) as j:
            with pytest.raises(StateBusy, match=rf"pid {holder.pid}\) is running 'deploy:web'"):
                with j.lock("deploy:web"):
                    pass
            with j.lock("deploy:other"):  # other operations are not blocked
                pass
    finally:
        holder.communicate("\n", timeout=30)
    with Journal.open(state) as j, j.lock("deploy:web"):  # released when the holder exits
        pass
    assert os.stat(state / "locks" / "deploy_web.lock").st_mode & 0o077 == 0


def test_completed_versions_per_site_and_operation(journal) -> None:
    for op, site, version in (("deploy:web", "edge-1", "7"), ("deploy:web", "edge-1", "8"),
                              ("config:base", "edge-1", "3"), ("image:app", "edge-2", "ab12")):
        with journal.step(op, site, "complete", version=version):
            pass
    with pytest.raises(RuntimeError), journal.step("deploy:web", "edge-2", "complete",
                                                   version="8"):
        raise RuntimeError("gate failed")
    assert journal.completed_versions() == {
        "edge-1": {"deploy:web": "8", "config:base": "3"},
        "edge-2": {"image:app": "ab12"},
    }
