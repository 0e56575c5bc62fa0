"""Run-history queries: transitions per site and fleet-wide, trend strips, kept details."""

from __future__ import annotations

import time

import pytest

from edgeshade.config import Site
from edgeshade.history import (
    load_details,
    parse_since,
    record_details,
    site_history,
    site_rows,
    transitions,
    trends,
)
from edgeshade.results import FleetResult, SiteResult
from edgeshade.state import StateStore

SITES = [Site("c", "R", name) for name in ("a", "b", "c")]


def run(states: dict[str, str], task: str = "status") -> FleetResult:
    by_name = {s.name: s for s in SITES}
    results = [SiteResult.make(by_name[n], st, f"why {st}") for n, st in states.items()]
    return FleetResult(task, results, elapsed=0.5)


def test_parse_since_units() -> None:
    now = 1_000_000.0
    assert parse_since("24h", now) == now - 86400
    assert parse_since("90m", now) == now - 5400
    assert parse_since("7d", now) == now - 7 * 86400
    assert parse_since("1w", now) == now - 7 * 86400
    assert parse_since("30", now) == now - 30
    for bad in ("yesterday", "-1h", "h"):
        with pytest.raises(ValueError):
            parse_since(bad, now)


def test_site_history_lists_transitions_and_ignores_cancelled(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        for state in ("ok", "ok", "unreachable", "cancelled", "unreachable", "ok"):
            store.record_run(run({"a": state}))
        rows = site_history(store, "a")
        assert [(r["previous"], r["state"]) for r in rows] == [
            (None, "ok"), ("ok", "unreachable"), ("unreachable", "ok")
        ]
        assert [r["run"] for r in rows] == [1, 3, 6]
        assert rows[1]["reason"] == "why unreachable"
        every = site_history(store, "a", every_run=True)
        assert [r["state"] for r in every] == [
            "ok", "ok", "unreachable", "cancelled", "unreachable", "ok"
        ]
        assert site_history(store, "nope") == []


def test_transitions_since_use_the_state_before_the_window(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run({"a": "ok", "b": "ok"}), started=time.time() - 7200)
        store.record_run(run({"a": "ok", "b": "warning"}), started=time.time() - 3600)
        cutoff = time.time() - 60
        # In the window: a changes at the window's first run (its earlier state is ok).
        store.record_run(run({"a": "critical", "b": "warning", "c": "ok"}))
        store.record_run(run({"a": "critical", "b": "skipped", "c": "ok"}))
        store.record_run(run({"a": "ok", "b": "ok", "c": "ok"}))
        rows = transitions(store, cutoff)
        assert [(r["site"], r["previous"], r["state"], r["run"]) for r in rows] == [
            ("a", "ok", "critical", 3),
            ("a", "critical", "ok", 5),
            ("b", "warning", "ok", 5),
        ]
        with_new = transitions(store, cutoff, include_new=True)
        assert ("c", None, "ok") in [(r["site"], r["previous"], r["state"]) for r in with_new]
        only_b = transitions(store, cutoff, sites=["b"])
        assert [r["site"] for r in only_b] == ["b"]
        # A wider window sees b's first change too.
        wide = transitions(store, time.time() - 5000)
        assert ("b", "ok", "warning") in [(r["site"], r["previous"], r["state"]) for r in wide]
        assert transitions(store, time.time() + 10) == []


def test_trends_one_letter_per_run_of_the_task(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run({"a": "ok", "b": "ok"}))
        store.record_run(run({"a": "ok"}, task="deploy"))  # another task: not in the strip
        store.record_run(run({"a": "warning", "b": "unreachable"}))
        store.record_run(run({"a": "critical"}))
        started, strips = trends(store, ["a", "b", "c"], runs=30, task="status")
        assert len(started) == 3 and started == sorted(started)
        assert strips == {"a": "owc", "b": "ou."}
        _started, last_two = trends(store, ["a"], runs=2, task="status")
        assert last_two == {"a": "wc"}


def test_site_rows_carry_extra_columns_as_versions(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run({"a": "ok", "b": "unreachable"}))
        # A later feature adding a column: shown as-is, never an error.
        store._db.execute("ALTER TABLE site_state ADD COLUMN image_version TEXT")
        store._db.execute("UPDATE site_state SET image_version = 'v42' WHERE site = 'a'")
        rows = site_rows(store, ["a", "b", "zz"])
        assert set(rows) == {"a", "b"}
        assert rows["a"]["extra"] == {"image_version": "v42"}
        assert rows["b"]["extra"] == {} and rows["b"]["failures"] == 1


def test_record_details_keeps_hint_checks_and_columns(tmp_path) -> None:
    site = SITES[0]
    answered = SiteResult.make(
        site, "warning", "compute: 1/2 down", hint="look at nova-compute",
        data={"services": {"compute": "ok"},
              "checks": {"compute": {"state": "warning", "reason": "1/2 down"}},
              "auth_ms": 12},
    )
    cancelled = SiteResult.make(SITES[1], "cancelled", "cancelled before start")
    columns = {"Site": lambda r: r.site, "Auth ms": lambda r: r.data["auth_ms"],
               "Broken": lambda r: r.data["missing"]}
    with StateStore(tmp_path) as store:
        record_details(store, FleetResult("status", [answered, cancelled], elapsed=1), columns)
        kept = load_details(store)
    assert set(kept) == {"a"}
    assert kept["a"]["hint"] == "look at nova-compute"
    assert kept["a"]["checks"]["compute"] == {"state": "warning", "reason": "1/2 down"}
    assert kept["a"]["facts"] == {"Auth ms": "12"}  # Site skipped, a failing column dropped


def test_note_site_states_counts_failures_without_a_history_row(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(run({"a": "ok"}))
        store.note_site_states(run({"a": "unreachable"}))
        store.note_site_states(run({"a": "timed_out"}))
        known = store.last_known()["a"]
        assert known["state"] == "timed_out" and known["failures"] == 2
        assert known["last_ok"] is not None
        assert len(site_history(store, "a", every_run=True)) == 1
        store.note_site_states(run({"a": "ok"}))
        assert store.last_known()["a"]["failures"] == 0
