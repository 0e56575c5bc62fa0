"""Run one fleet over several local processes, so every core does HTTP work.

With the GIL a single process spends one core on a thousand-site run; the
per-request CPU (requests, keystoneauth, JSON) is what bounds it. This splits
the sites round-robin over ``processes`` forked children; each runs the same
thread-based fan-out on its share with ``concurrency / processes`` sites in
flight, and streams every finished SiteResult back to the parent, which keeps
selection order, calls the progress callback and records the run once.

Children are forked (the parsed clouds.yaml is inherited, not re-read): Linux
and macOS only; elsewhere the fleet falls back to one process.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any

from edgeshade.results import FleetResult, SiteResult, State

_DONE = "__done__"


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _child(fleet: Any, indices: list[int], task: Any, params: dict, out: Any) -> None:
    positions = {fleet.sites[i].name: i for i in indices}
    share = fleet.with_sites(
        [fleet.sites[i] for i in indices],
        concurrency=max(1, fleet.concurrency // fleet.processes),
        processes=1,
        executor="threads",
    )
    try:
        share.run(
            task,
            record=False,
            progress=lambda r, _d, _t: out.put((positions[r.site], dict(r))),
            **params,
        )
    except KeyboardInterrupt:
        pass  # the parent marks what did not finish as cancelled
    finally:
        out.put(_DONE)


def run(fleet: Any, task: Any, name: str, params: dict, progress: Any) -> FleetResult:
    """Fan ``task`` out over forked children; returns results in selection order."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    total = len(fleet.sites)
    workers = min(fleet.processes, total) or 1
    shares = [list(range(i, total, workers)) for i in range(workers)]
    t0 = time.monotonic()
    children = [
        ctx.Process(target=_child, args=(fleet, share, task, params, out), daemon=True)
        for share in shares
    ]
    for child in children:
        child.start()
    results: list[SiteResult | None] = [None] * total
    done = finished = 0
    cancelled = False
    drain_until: float | None = None
    while finished < workers:
        try:
            item = out.get(timeout=0.2)
        except queue.Empty:
            if drain_until is not None and time.monotonic() > drain_until:
                break
            if not any(c.is_alive() for c in children) and out.empty():
                break
            continue
        except KeyboardInterrupt:
            cancelled = True  # children got the SIGINT too; collect what they report
            drain_until = time.monotonic() + 3.0
            continue
        if item == _DONE:
            finished += 1
            continue
        index, data = item
        if results[index] is None:
            results[index] = result = SiteResult(data)
            done += 1
            if progress is not None:
                progress(result, done, total)
    for child in children:
        child.join(timeout=1)
        if child.is_alive():
            child.kill()
    now = time.monotonic()
    for index, site in enumerate(fleet.sites):
        if results[index] is None:
            state = State.CANCELLED if cancelled else State.ERROR
            reason = "cancelled" if cancelled else "worker process ended without a result"
            results[index] = SiteResult.make(site, state, reason, elapsed=now - t0)
    final = [r for r in results if r is not None]
    if any(r.state == State.CANCELLED for r in final):
        cancelled = True
    return FleetResult(name, final, elapsed=time.monotonic() - t0, cancelled=cancelled)
