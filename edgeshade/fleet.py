"""The fan-out engine: one task over many sites, each ending in one explicit state.

The fleet knows nothing about OpenStack services (that is the tasks' job)
and tasks know nothing about concurrency (that is this module's job):

* at most ``concurrency`` sites in flight (an :mod:`edgeshade.executors` executor);
* a per-site **deadline** (``timeout`` seconds from the moment the site starts)
  covering connect, auth and every call; a watchdog ends a site as
  ``timed_out`` at its deadline even if a socket is still trickling, so a
  hanging site costs its own deadline only;
* **cancellation**: Ctrl-C (KeyboardInterrupt in the caller's thread) sets a
  shared event; sites not started and in flight end ``cancelled`` and the
  FleetResult is still returned, with ``cancelled=True`` (exit code 130);
* a **progress** callback ``progress(result, done, total)`` called in the
  caller's thread as each site finishes;
* a **stop** event: once set, sites not yet started end ``skipped`` while
  sites in flight finish — how a rollout's failure budget stops a wave
  without abandoning half-done work. ``settle(result)`` runs in the worker
  thread as soon as a site's result is known, before that worker starts
  another site, so a budget decision there is never late by a site.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edgeshade.classify import classify
from edgeshade.config import FleetConfig, Site
from edgeshade.connection import Connector, SiteConnection
from edgeshade.executors import Executor, ThreadExecutor, default_concurrency, resolve_executor
from edgeshade.processes import available as processes_available
from edgeshade.processes import run as run_in_processes
from edgeshade.results import FleetResult, SiteResult, State
from edgeshade.state import StateStore, TokenCache
from edgeshade.tasks import TaskFn, get_task, task_name

LOG = logging.getLogger("edgeshade")

ProgressFn = Callable[[SiteResult, int, int], None]

#: Default per-site deadline, seconds: generous for a 100 ms+ WAN link.
DEFAULT_TIMEOUT = 30.0
#: How long past a site's deadline the watchdog waits before giving up on it.
WATCHDOG_GRACE = 0.5
_RESERVED = ("state", "reason", "hint")


def _unpack(output: Any) -> tuple[str, str, str | None, Any]:
    if output is None:
        return State.OK, "", None, {}
    if isinstance(output, Mapping):
        data = {k: v for k, v in output.items() if k not in _RESERVED}
        state = output.get("state") or State.OK
        return State(state), str(output.get("reason") or ""), output.get("hint"), data
    return State.OK, "", None, {"result": output}


class Fleet:
    """A selected set of sites and the settings to run tasks on them.

    >>> fleet = edgeshade.connect("edge-*", timeout=20)
    >>> result = fleet.run("status")
    >>> result.summary, result.exit_code
    """

    def __init__(
        self,
        config: FleetConfig,
        sites: Iterable[Site],
        *,
        concurrency: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 2,
        state_dir: str | None = None,
        use_state: bool = True,
        token_cache: bool = False,
        executor: Executor | str | None = None,
        processes: int = 1,
        scheduler: Any = None,
        chunk_size: int | None = None,
    ) -> None:
        self.config = config
        self.sites: list[Site] = list(sites)
        self.concurrency = default_concurrency(len(self.sites), concurrency)
        self.timeout = float(timeout)
        self.retries = retries
        self.state_dir = state_dir
        self.use_state = use_state
        self.token_cache = token_cache
        self.executor_name, self._executor, processes = resolve_executor(executor, processes)
        self.processes = max(1, int(processes)) if processes_available() else 1
        if self.executor_name == "processes" and self.processes == 1:
            self.executor_name = "threads"  # one core, or no fork: nothing to split
        self.scheduler = scheduler
        self.chunk_size = chunk_size

    def __len__(self) -> int:
        return len(self.sites)

    def __repr__(self) -> str:
        return f"<Fleet {len(self.sites)} sites>"

    def settings(self) -> dict[str, Any]:
        """The keywords this fleet was made with (to make a sibling fleet)."""
        return {
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "retries": self.retries,
            "state_dir": self.state_dir,
            "use_state": self.use_state,
            "token_cache": self.token_cache,
            "executor": self._executor if self._executor is not None else self.executor_name,
            "processes": self.processes,
            "scheduler": self.scheduler,
            "chunk_size": self.chunk_size,
        }

    def with_sites(self, sites: Iterable[Site], **overrides: Any) -> Fleet:
        """Same config and settings (except ``overrides``), other sites."""
        return Fleet(self.config, sites, **{**self.settings(), **overrides})

    def select(self, selectors: str | Iterable[str]) -> Fleet:
        """A sub-fleet with the same settings."""
        chosen = {s.name for s in self.config.select(selectors)}
        return self.with_sites([s for s in self.sites if s.name in chosen])

    def deploy(self, spec: Any) -> Any:
        """A :class:`~edgeshade.deploy.Deployment` of ``spec`` (a path, mapping or Spec)."""
        from edgeshade.deploy import Deployment

        return Deployment(self, spec)

    def store(self) -> StateStore | None:
        return StateStore(self.state_dir) if self.use_state else None

    def run(
        self,
        task: str | TaskFn,
        *,
        progress: ProgressFn | None = None,
        record: bool = True,
        stop: threading.Event | None = None,
        settle: Callable[[SiteResult], None] | None = None,
        **params: Any,
    ) -> FleetResult:
        """Run ``task`` on every site; returns results in selection order."""
        fn = get_task(task)
        name = task_name(fn)
        # stop/settle act between sites of one process: a rollout runs its waves on threads.
        if stop is None and settle is None:
            result = self._run_elsewhere(fn, name, params, progress)
            if result is not None:
                if self.use_state and record:
                    with StateStore(self.state_dir) as store:
                        store.record_run(result)
                return result
        store = self.store()
        try:
            connector = Connector(
                self.config,
                store=store,
                token_cache=TokenCache(self.state_dir) if self.token_cache else None,
                retries=self.retries,
                subcall_workers=min(512, self.concurrency * 4),
            )
            hooks = (stop, settle)
            result = self._fan_out(name, fn, connector, progress, params, hooks)
            if store is not None and record:
                store.record_run(result)
            return result
        finally:
            if store is not None:
                store.close()

    def _run_elsewhere(
        self, fn: TaskFn, name: str, params: dict[str, Any], progress: ProgressFn | None
    ) -> FleetResult | None:
        """The run on a Dask cluster or forked local processes; None: run here, on threads."""
        if self.executor_name == "dask" and self.sites:
            from edgeshade.dask_executor import run as run_on_dask

            return run_on_dask(
                self, fn, name, params, progress,
                scheduler=self.scheduler or self._executor, chunk_size=self.chunk_size,
            )
        if self.executor_name == "processes" and len(self.sites) > 1 and self._executor is None:
            return run_in_processes(self, fn, name, params, progress)
        return None

    def _fan_out(
        self,
        name: str,
        fn: TaskFn,
        connector: Connector,
        progress: ProgressFn | None,
        params: dict[str, Any],
        hooks: tuple[threading.Event | None, Callable[[SiteResult], None] | None] = (None, None),
    ) -> FleetResult:
        total = len(self.sites)
        results: list[SiteResult | None] = [None] * total
        started: dict[int, float] = {}
        cancel = threading.Event()
        executor = self._executor or ThreadExecutor(self.concurrency)
        t0 = time.monotonic()
        done_count = 0
        cancelled = False

        def finish(index: int, result: SiteResult) -> None:
            nonlocal done_count
            if results[index] is not None:
                return
            results[index] = result
            done_count += 1
            if progress is not None:
                progress(result, done_count, total)

        # Finished futures arrive on a queue: cf.wait() over thousands of pending
        # futures re-installs a waiter on each of them every time it wakes up.
        finished: queue.SimpleQueue[cf.Future[SiteResult]] = queue.SimpleQueue()
        futures: dict[cf.Future[SiteResult], int] = {}
        try:
            for index, site in enumerate(self.sites):
                fut = executor.submit(
                    self._run_site, index, site, fn, params, connector, cancel, started, hooks
                )
                futures[fut] = index
                fut.add_done_callback(finished.put)
            next_scan = time.monotonic() + 0.1
            while done_count < total:
                try:
                    fut = finished.get(timeout=0.1)
                    index = futures[fut]
                    exc = fut.exception()
                    if exc is None:
                        finish(index, fut.result())
                    else:  # a bug in the engine itself: still one explicit state
                        finish(index, SiteResult.make(self.sites[index], State.ERROR, repr(exc)))
                except queue.Empty:
                    pass
                now = time.monotonic()
                if now < next_scan:
                    continue
                next_scan = now + 0.1
                # copy(): worker threads add to `started` while we scan it
                for index, began in started.copy().items():
                    if results[index] is None and now > began + self.timeout + WATCHDOG_GRACE:
                        finish(
                            index,
                            SiteResult.make(
                                self.sites[index],
                                State.TIMED_OUT,
                                f"no result within the {self.timeout:g} s deadline",
                                hint="the site kept a call open past its deadline; "
                                "raise --timeout if it is only slow",
                                elapsed=now - began,
                            ),
                        )
        except KeyboardInterrupt:
            cancelled = True
            cancel.set()
            now = time.monotonic()
            for index in futures.values():
                if results[index] is None:
                    began = started.get(index)
                    reason = "cancelled while running" if began else "cancelled before start"
                    finish(
                        index,
                        SiteResult.make(
                            self.sites[index],
                            State.CANCELLED,
                            reason,
                            elapsed=now - began if began else 0.0,
                        ),
                    )
        finally:
            if self._executor is None:
                executor.shutdown(cancel=True)
            connector.close()
        return FleetResult(
            name,
            [r for r in results if r is not None],
            elapsed=time.monotonic() - t0,
            cancelled=cancelled,
        )

    def _run_site(
        self,
        index: int,
        site: Site,
        fn: TaskFn,
        params: dict[str, Any],
        connector: Connector,
        cancel: threading.Event,
        started: dict[int, float],
        hooks: tuple[threading.Event | None, Callable[[SiteResult], None] | None] = (None, None),
    ) -> SiteResult:
        stop, settle = hooks
        if cancel.is_set():
            return SiteResult.make(site, State.CANCELLED, "cancelled before start")
        if stop is not None and stop.is_set():
            return SiteResult.make(site, State.SKIPPED, "not started: the run was stopped")
        began = time.monotonic()
        started[index] = began
        deadline = began + self.timeout
        conn: SiteConnection | None = None
        try:
            conn = connector.open(site, deadline=deadline, cancel=cancel)
            state, reason, hint, data = _unpack(fn(conn, site, **params))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a state
            state, reason, hint = classify(exc)
            data = {}
            if LOG.isEnabledFor(logging.DEBUG):
                LOG.debug("%s: %s (%s: %s)", site.name, state, type(exc).__name__, reason)
        finally:
            if conn is not None:
                try:
                    connector.close_site(conn)
                except Exception:  # noqa: BLE001 - closing must not change the outcome
                    LOG.debug("%s: error while closing", site.name, exc_info=True)
        result = SiteResult.make(
            site, state, reason, hint=hint, elapsed=time.monotonic() - began, data=data
        )
        result.requests = len(conn.session.calls) if conn is not None else 0
        if settle is not None:
            settle(result)
        return result


def connect(
    selectors: str | Iterable[str] = "all",
    *,
    config_file: str | None = None,
    secure_file: str | None = None,
    **settings: Any,
) -> Fleet:
    """Load clouds.yaml (+ secure.yaml) once and select sites.

    ``settings`` are :class:`Fleet` keywords: ``concurrency``, ``timeout``,
    ``retries``, ``state_dir``, ``use_state``, ``token_cache``, ``executor``
    (``"threads"``, ``"processes"``, ``"dask"``, an executor object or a
    ``distributed.Client``), ``processes`` (local processes sharing the sites:
    use every core), ``scheduler`` (Dask scheduler address; default
    ``$EDGESHADE_DASK_SCHEDULER``) and ``chunk_size`` (sites per Dask shard).
    """
    config = FleetConfig(config_file, secure_file)
    return Fleet(config, config.select(selectors), **settings)
