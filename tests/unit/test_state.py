"""The local state store: private files, last-known states, bounded history."""

from __future__ import annotations

import stat

import edgeshade.state as state_mod
from edgeshade.config import Site
from edgeshade.results import FleetResult, SiteResult
from edgeshade.state import StateStore, TokenCache


def run_with(state: str) -> FleetResult:
    return FleetResult("status", [SiteResult.make(Site("a", None, "a"), state, "x")], elapsed=1)


def test_files_are_private(tmp_path) -> None:
    store = StateStore(tmp_path)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    tokens = TokenCache(tmp_path)
    tokens.put("k", "state")
    tokens.save()
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600


def test_consecutive_failures_and_reset(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run_with("unreachable"))
        store.record_run(run_with("unreachable"))
        assert store.last_known()["a"]["failures"] == 2
        assert store.last_known()["a"]["last_ok"] is None
        store.record_run(run_with("ok"))
        known = store.last_known()["a"]
        assert known["failures"] == 0 and known["state"] == "ok" and known["last_ok"]


def test_history_is_bounded(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(state_mod, "HISTORY_RUNS", 3)
    with StateStore(tmp_path) as store:
        for _ in range(5):
            store.record_run(run_with("ok"))
        rows = store._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        sites = store._db.execute("SELECT COUNT(*) FROM run_sites").fetchone()[0]
    assert rows == 3 and sites == 3


def test_cache_roundtrip_and_age(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.cache_put("discovery", {"http://x/identity": [{"id": "v3.14"}]})
        assert store.cache_get("discovery")["http://x/identity"] == [{"id": "v3.14"}]
        assert store.cache_get("discovery", max_age=1e-9) == {}


def test_token_cache_ignores_a_readable_file(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"k": "stolen"}')
    path.chmod(0o644)
    assert TokenCache(tmp_path).get("k") is None
