"""Reliability fixtures (helpers live in _simproc.py, importable from these tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _simproc import SimProcess, start_sim


@pytest.fixture
def sim_factory(tmp_path) -> Iterator:
    """Start simulators in child processes; all stopped after the test."""
    started: list[SimProcess] = []

    def make(name: str, sites: int, seed: int, faults: str = "", latency_ms: float = 5.0):
        sim = start_sim(str(tmp_path / name), sites, seed, faults, latency_ms)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
