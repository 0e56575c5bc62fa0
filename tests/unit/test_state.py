"""The local state store: private files, last-known states, bounded history, token cache."""

from __future__ import annotations

import json
import logging
import stat
import time

import pytest

import edgeshade.state as state_mod
from edgeshade.config import Site
from edgeshade.results import FleetResult, SiteResult
from edgeshade.state import StateStore, TokenCache, default_state_dir


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_with(*states: str, task: str = "status") -> FleetResult:
    sites = [Site(f"s{i}", "R", f"s{i}") for i in range(len(states))]
    results = [SiteResult.make(s, st, f"why {st}") for s, st in zip(sites, states, strict=True)]
    return FleetResult(task, results, elapsed=1.0)


def test_state_file_is_created_0600_in_a_private_directory(tmp_path) -> None:
    with StateStore(tmp_path / "new") as store:
        assert store.path == tmp_path / "new" / "state.db"
        assert mode(store.path) == 0o600
        assert mode(store.path.parent) & 0o077 == 0
        store.record_run(run_with("ok"))
        # WAL and shared-memory files too: nothing in the directory is group/world readable.
        assert all(mode(p) & 0o077 == 0 for p in store.path.parent.iterdir())


def test_existing_readable_state_file_warns(tmp_path, caplog) -> None:
    (tmp_path / "state.db").touch(mode=0o644)
    (tmp_path / "state.db").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="edgeshade"), StateStore(tmp_path):
        pass
    assert "readable by group/others" in caplog.text


def test_default_state_dir_follows_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EDGESHADE_STATE_DIR", str(tmp_path / "explicit"))
    assert default_state_dir() == tmp_path / "explicit"
    monkeypatch.delenv("EDGESHADE_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "edgeshade"


def test_last_known_state_and_consecutive_failures(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("ok", "ok"))
        first_ok = store.last_known()["s0"]["last_ok"]
        assert first_ok is not None and store.last_known()["s0"]["failures"] == 0
        for expected in (1, 2, 3):
            store.record_run(run_with("unreachable", "ok"))
            assert store.last_known()["s0"]["failures"] == expected
        known = store.last_known()["s0"]
        assert known["state"] == "unreachable" and known["reason"] == "why unreachable"
        assert known["last_ok"] == first_ok  # a failure keeps the time it was last ok
        assert store.last_known()["s1"]["failures"] == 0
        store.record_run(run_with("ok", "ok"))
        known = store.last_known()["s0"]
        assert known["failures"] == 0 and known["state"] == "ok" and known["last_ok"] > first_ok


def test_failures_count_timeouts_and_auth_but_not_critical(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("timed_out", "auth_failed", "critical", "warning"))
        store.record_run(run_with("timed_out", "auth_failed", "critical", "warning"))
        failures = {k: v["failures"] for k, v in store.last_known().items()}
    # critical/warning sites answered: they are reachable, not failing contact.
    assert failures == {"s0": 2, "s1": 2, "s2": 0, "s3": 0}


def test_first_run_unreachable_counts_one_failure(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("unreachable"))
        known = store.last_known()["s0"]
    assert known["failures"] == 1 and known["last_ok"] is None


def test_cancelled_and_skipped_do_not_change_last_known(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("unreachable", "ok"))
        store.record_run(run_with("cancelled", "skipped"))
        known = store.last_known()
    assert known["s0"]["state"] == "unreachable" and known["s0"]["failures"] == 1
    assert known["s1"]["state"] == "ok"


def test_last_known_filters_sites(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("ok", "warning"))
        assert list(store.last_known(["s1", "missing"])) == ["s1"]
        assert store.last_known(["s1"])["s1"]["task"] == "status"


def test_history_is_pruned_to_history_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(state_mod, "HISTORY_RUNS", 3)
    with StateStore(tmp_path) as store:
        ids = [store.record_run(run_with("ok", "ok")) for _ in range(5)]
        runs = [row[0] for row in store._db.execute("SELECT id FROM runs ORDER BY id")]
        per_run = store._db.execute(
            "SELECT run_id, COUNT(*) FROM run_sites GROUP BY run_id ORDER BY run_id"
        ).fetchall()
        summary = store._db.execute("SELECT summary FROM runs WHERE id = ?", (ids[-1],))
        assert json.loads(summary.fetchone()[0]) == {"ok": 2}
    assert runs == ids[-3:]  # the newest three
    assert per_run == [(i, 2) for i in ids[-3:]]  # their site rows went with them


def test_cache_put_get_and_max_age(tmp_path, monkeypatch) -> None:
    with StateStore(tmp_path) as store:
        store.cache_put("discovery", {"http://x/identity": [{"id": "v3.14"}]})
        store.cache_put("other", {"k": 1})
        assert store.cache_get("discovery") == {"http://x/identity": [{"id": "v3.14"}]}
        assert store.cache_get("discovery", max_age=60) == {"http://x/identity": [{"id": "v3.14"}]}
        later = time.time() + 120
        monkeypatch.setattr(state_mod.time, "time", lambda: later)
        assert store.cache_get("discovery", max_age=60) == {}
        assert store.cache_get("discovery") != {}  # no max_age: anything cached
    with StateStore(tmp_path) as reopened:
        assert reopened.cache_get("other") == {"k": 1}  # persisted


# -- token cache ---------------------------------------------------------------


def test_token_cache_file_is_0600_and_round_trips(tmp_path) -> None:
    tokens = TokenCache(tmp_path)
    tokens.put("k", "auth-state")
    tokens.save()
    assert mode(tokens.path) == 0o600
    assert TokenCache(tmp_path).get("k") == "auth-state"


def test_token_cache_refuses_a_group_readable_file(tmp_path, caplog) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"k": "planted"}')
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="edgeshade"):
        assert TokenCache(tmp_path).get("k") is None
    assert "not using it" in caplog.text


def test_saving_does_not_merge_back_a_refused_file(tmp_path) -> None:
    """Tokens from a file we refused to read must not come back through save()."""
    path = tmp_path / "tokens.json"
    path.write_text('{"other": "planted"}')
    path.chmod(0o644)
    tokens = TokenCache(tmp_path)
    tokens.put("mine", "state")
    tokens.save()
    assert json.loads(path.read_text()) == {"mine": "state"}
    assert mode(path) == 0o600


def test_saving_keeps_other_processes_tokens(tmp_path) -> None:
    a, b = TokenCache(tmp_path), TokenCache(tmp_path)
    a.put("a", "1")
    a.save()
    b.put("b", "2")
    b.save()
    assert json.loads((tmp_path / "tokens.json").read_text()) == {"a": "1", "b": "2"}


def test_token_key_changes_with_auth_settings() -> None:
    base = TokenCache.key("c", {"username": "u", "password": "p1"})
    assert base.startswith("c:")
    assert TokenCache.key("c", {"password": "p1", "username": "u"}) == base  # order-free
    assert TokenCache.key("c", {"username": "u", "password": "p2"}) != base
    assert "p1" not in base


def test_empty_state_is_not_stored_and_unchanged_is_not_rewritten(tmp_path) -> None:
    tokens = TokenCache(tmp_path)
    tokens.put("k", None)
    tokens.save()
    assert not tokens.path.exists()
    tokens.put("k", "s")
    tokens.save()
    before = tokens.path.stat().st_mtime_ns
    tokens.put("k", "s")
    tokens.save()
    assert tokens.path.stat().st_mtime_ns == before


@pytest.mark.parametrize("content", ["not json", ""])
def test_a_corrupt_token_file_is_ignored(tmp_path, content) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    path.chmod(0o600)
    assert TokenCache(tmp_path).get("k") is None


def test_non_health_runs_count_contacts_but_keep_the_health_state(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("ok", "critical"))
        # A baseline diff: "warning" means drift there, not a sick site.
        store.record_run(run_with("warning", "ok", task="config_diff"), health=False)
        known = store.last_known()
        assert (known["s0"]["state"], known["s0"]["task"]) == ("ok", "status")
        assert (known["s1"]["state"], known["s1"]["reason"]) == ("critical", "why critical")
        # A failed contact is news whatever the task: it counts and shows.
        store.record_run(run_with("deferred", "ok", task="config_apply"), health=False)
        known = store.last_known()
        assert known["s0"]["state"] == "deferred" and known["s0"]["failures"] == 1
        # Every run is still in the history, with its own task.
        tasks = [row[0] for row in store.query("SELECT task FROM runs ORDER BY id")]
        assert tasks == ["status", "config_diff", "config_apply"]
