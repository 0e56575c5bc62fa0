"""Work done by the child processes of the state-store durability tests.

Imported by a multiprocessing forkserver that has edgeshade, openstack.config
and keystoneauth already loaded, so a child starts in milliseconds and the
test can kill many of them.
"""

from __future__ import annotations

import os
import sys

from edgeshade.config import Site
from edgeshade.results import FleetResult, SiteResult
from edgeshade.state import StateStore


def status_loop(clouds: str, state_dir: str, notes: str, runs: int) -> None:
    """Run ``status`` over the fleet ``runs`` times (0: forever), noting each recorded run."""
    import logging

    import edgeshade

    logging.getLogger("keystoneauth").setLevel(logging.ERROR)  # per-site discovery noise
    done = 0
    while runs == 0 or done < runs:
        fleet = edgeshade.connect("all", config_file=clouds, timeout=5, state_dir=state_dir)
        result = fleet.run("status")
        with open(notes, "a") as fh:
            fh.write(f"{result.task} {len(result)}\n")
        done += 1
    sys.stdout.flush()
    os._exit(0)


def record_loop(state_dir: str, notes: str, sites: int) -> None:
    """Record big fleet results back to back: a kill lands inside a transaction."""
    results = [
        SiteResult.make(Site("c", None, f"site-{i:05d}"), "ok" if i % 7 else "unreachable",
                        "" if i % 7 else "connection refused: 127.0.0.1:9", elapsed=0.1)
        for i in range(sites)
    ]
    with StateStore(state_dir) as store:
        while True:
            store.cache_put("discovery", {f"http://x/{i}": [{"id": "v3"}] for i in range(50)})
            store.record_run(FleetResult("status", results, elapsed=1.0))
            with open(notes, "a") as fh:
                fh.write(f"status {sites}\n")
