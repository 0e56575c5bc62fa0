"""Run a fleet on a Dask distributed cluster: many machines, one result.

The fleet is cut into :mod:`edgeshade.shards` (a cloud's regions stay
together); each shard is one Dask task, run by a worker with its own thread
pool (the ordinary :class:`~edgeshade.fleet.Fleet`). Results come back as
shards finish, so progress moves shard by shard; the caller keeps selection
order and records the run once.

What reaches the scheduler and the workers: per shard, its sites and the
clouds.yaml + secure.yaml entries of its own clouds (pickled task arguments,
never logged: a shard's repr is ``<Shard 3: 250 sites, 250 clouds>``). Task
keys read ``edgeshade-<task>-<run>-shard-<n>``.

A worker that dies mid-shard: the scheduler hands the shard to another worker
(Dask's ``allowed-failures``, 3 by default); when it gives up, every site of
the shard ends ``error`` with the reason, never silently missing.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from edgeshade.errors import EdgeshadeError
from edgeshade.results import FleetResult, SiteResult, State
from edgeshade.shards import Shard, failed, make_shards, run_shard, shard_size

#: Environment variable naming the scheduler when ``scheduler`` is not given.
SCHEDULER_ENV = "EDGESHADE_DASK_SCHEDULER"


def scheduler_address(scheduler: str | None) -> str | None:
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


def _client(scheduler: Any) -> tuple[Any, bool]:
    """(client, owned): a Client given as ``scheduler`` is used as is, never closed."""
    try:
        from distributed import Client
    except ImportError:
        raise EdgeshadeError(
            "the dask executor needs Dask distributed: pip install 'edgeshade[dask]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    address = scheduler_address(scheduler)
    if not address:
        raise EdgeshadeError(
            f"the dask executor needs a scheduler: --scheduler tcp://HOST:8786 or {SCHEDULER_ENV}"
        )
    try:
        # Connect timeout: Dask's own distributed.comm.timeouts.connect (30 s).
        return Client(address, set_as_default=False), True
    except (OSError, TimeoutError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeshadeError(f"cannot reach the Dask scheduler at {address}: {message}") from None


def _workers(client: Any) -> int:
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001 - only a sizing hint
        return 1


def run(
    fleet: Any,
    task: Any,
    name: str,
    params: dict[str, Any],
    progress: Any,
    *,
    scheduler: Any,
    chunk_size: int | None = None,
) -> FleetResult:
    """Run ``task`` over ``fleet`` on the cluster; results in selection order."""
    from distributed import as_completed

    client, owned = _client(scheduler)
    total = len(fleet.sites)
    results: list[SiteResult | None] = [None] * total
    done = 0
    cancelled = False
    t0 = time.monotonic()

    def take(pairs: list[tuple[int, dict[str, Any]]]) -> None:
        nonlocal done
        for index, data in pairs:
            if results[index] is None:
                results[index] = result = SiteResult(data)
                done += 1
                if progress is not None:
                    progress(result, done, total)

    futures: dict[Any, Shard] = {}
    try:
        size = shard_size(total, _workers(client), chunk_size)
        shards = make_shards(fleet, task, params, size)
        run_id = uuid.uuid4().hex[:8]
        for shard in shards:
            fut = client.submit(
                run_shard,
                shard,
                key=f"edgeshade-{name}-{run_id}-shard-{shard.number}",
                pure=False,
                retries=1,
            )
            futures[fut] = shard
        for fut in as_completed(list(futures), loop=client.loop):
            shard = futures[fut]
            try:
                take(fut.result())
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost scheduler...
                reason = (
                    f"Dask lost shard {shard.number} ({type(exc).__name__}: {exc})"
                    .splitlines()[0]
                )
                take(failed(shard, reason))
    except KeyboardInterrupt:
        cancelled = True
        client.cancel(list(futures))
    finally:
        if owned:
            client.close()
    now = time.monotonic()
    for index, site in enumerate(fleet.sites):
        if results[index] is None:
            state = State.CANCELLED if cancelled else State.ERROR
            reason = "cancelled" if cancelled else "no result from the Dask cluster"
            results[index] = SiteResult.make(site, state, reason, elapsed=now - t0)
    final = [r for r in results if r is not None]
    return FleetResult(name, final, elapsed=time.monotonic() - t0, cancelled=cancelled)
