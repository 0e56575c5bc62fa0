"""Fixtures: simulated fleets served over real HTTP on 127.0.0.1, with configs on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from edgeshade.sim import SimFleet, SimServer

#: One slice of sites per fault kind (counts), seed-chosen among edge sites.
FAULTS = (
    "refused=2,hang=2,slow:600=2,500=2,503:1=2,flaky=2,401=2,malformed=2,404@compute=1"
)
SEED = 11


@dataclass
class RunningSim:
    fleet: SimFleet
    server: SimServer
    clouds: str
    secure: str


def _start(tmp_dir: str, sites: int, faults: str, latency_ms: float = 5.0):
    fleet = SimFleet(sites=sites, seed=SEED, latency_ms=latency_ms, faults=faults)
    server = SimServer(fleet).start()
    clouds, secure = server.write_config(tmp_dir)
    return RunningSim(fleet, server, clouds, secure)


@pytest.fixture(scope="module")
def faulty_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSim]:
    sim = _start(str(tmp_path_factory.mktemp("faulty")), 40, FAULTS)
    yield sim
    sim.server.stop()


@pytest.fixture(scope="module")
def healthy_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSim]:
    """Same seed, no faults: the reference for every site that has no fault."""
    sim = _start(str(tmp_path_factory.mktemp("healthy")), 40, "")
    yield sim
    sim.server.stop()
