"""Waves: how a change reaches a fleet without breaking all of it at once.

A :class:`Policy` is the ``rollout:`` section of a deployment spec or a
configuration baseline (the knobs of distributed-cloud orchestration
strategies)::

    rollout:
      canary: 2                 # or a list of site names; they go first, alone
      batch: [1, 5%, 25%, 100%] # or 10, or "10%"; the last step repeats
      max_parallel: 200         # sites in flight within a wave
      max_failures: 2%          # or a count; exceeded -> no new site starts
      stop_on_failure: true     # false: record failures and carry on
      pause: 30                 # seconds between waves
      health_gate: true         # run the caller's gate after every wave
      gate_timeout: 300
      on_failure: halt          # or rollback: undo every site this run touched
      offline: defer            # or fail: an unreachable site is a failure

:class:`Rollout` runs one *step task* wave by wave on a :class:`~edgeshade.fleet.Fleet`.
It knows nothing about servers or baselines: the caller brings the step task,
the health gate and the rollback. Waves are a pure function of the policy and
the selection order, so a resumed run cuts the fleet exactly as the first one.

Site outcomes: the step task's state; ``deferred`` for a site that could not be
reached (``offline: defer``), to be finished by a later run; ``skipped`` for a
site never started because the rollout stopped.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edgeshade.errors import ConfigError
from edgeshade.results import FleetResult, SiteResult, State

if TYPE_CHECKING:
    from edgeshade.config import Site
    from edgeshade.fleet import Fleet, ProgressFn

#: States that count against the failure budget.
FAILED = frozenset({
    State.CRITICAL, State.AUTH_FAILED, State.TIMED_OUT, State.ERROR, State.UNREACHABLE,
})
#: States a site reaches when it could not be contacted at all.
OFFLINE = frozenset({State.UNREACHABLE})

_KEYS = {
    "canary", "batch", "max_parallel", "max_failures", "stop_on_failure", "pause",
    "health_gate", "gate_timeout", "on_failure", "offline",
}


def _size(value: Any, where: str) -> tuple[str, float]:
    """``10`` -> ("count", 10); ``"10%"`` -> ("percent", 10.0); else a one-line error."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a count or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{where}: must be at least 1, got {value}")
        return ("count", float(value))
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                raise ConfigError(f"{where}: '{value}' is not a percentage") from None
            if not 0 < pct <= 100:
                raise ConfigError(f"{where}: '{value}' must be above 0% and at most 100%")
            return ("percent", pct)
        if text.isdigit():
            return _size(int(text), where)
    raise ConfigError(f"{where}: expected a count (10) or a percentage ('10%'), got {value!r}")


def _budget(value: Any, where: str) -> tuple[str, float]:
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return ("count", 0.0)
    if isinstance(value, str) and value.strip() in ("0", "0%"):
        return ("count", 0.0)
    return _size(value, where)


def _resolve(size: tuple[str, float], total: int, *, floor: bool = False) -> int:
    kind, amount = size
    if kind == "count":
        return int(amount)
    exact = total * amount / 100.0
    return int(exact) if floor else max(1, math.ceil(exact))


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected seconds, got {value!r}")
    text = str(value).strip().lower()
    scale = 1.0
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            text, scale = text[: -len(suffix)], factor
            break
    try:
        seconds = float(text) * scale
    except ValueError:
        raise ConfigError(f"{where}: expected seconds (30, '30s', '5m'), got {value!r}") from None
    if seconds < 0 or math.isinf(seconds) or math.isnan(seconds):
        raise ConfigError(f"{where}: must be a non-negative number of seconds, got {value!r}")
    return seconds


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Policy:
    """How a change is rolled out; :meth:`from_mapping` reads a spec's ``rollout:``."""

    canary: int | tuple[str, ...] = 0
    batch: tuple[tuple[str, float], ...] = (("percent", 100.0),)
    max_parallel: int | None = None
    max_failures: tuple[str, float] = ("count", 0.0)
    stop_on_failure: bool = True
    pause: float = 0.0
    health_gate: bool = True
    gate_timeout: float = 300.0
    on_failure: str = "halt"
    offline: str = "defer"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "rollout") -> Policy:
        """Validate every knob; errors are one line naming ``where`` and the field."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of rollout settings")
        unknown = sorted(set(map(str, data)) - _KEYS)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(_KEYS))})"
            )
        kw: dict[str, Any] = {}
        if "canary" in data:
            canary = data["canary"]
            if isinstance(canary, list):
                if not all(isinstance(n, str) and n for n in canary):
                    raise ConfigError(f"{where}.canary: expected site names, got {canary!r}")
                kw["canary"] = tuple(canary)
            elif isinstance(canary, int) and not isinstance(canary, bool) and canary >= 0:
                kw["canary"] = canary
            else:
                raise ConfigError(
                    f"{where}.canary: expected a count or a list of site names, got {canary!r}"
                )
        if "batch" in data:
            steps = data["batch"] if isinstance(data["batch"], list) else [data["batch"]]
            if not steps:
                raise ConfigError(f"{where}.batch: the ramp is empty")
            kw["batch"] = tuple(
                _size(step, f"{where}.batch[{i}]" if len(steps) > 1 else f"{where}.batch")
                for i, step in enumerate(steps)
            )
        if "max_parallel" in data:
            value = data["max_parallel"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}.max_parallel: expected a count >= 1, got {value!r}")
            kw["max_parallel"] = value
        if "max_failures" in data:
            kw["max_failures"] = _budget(data["max_failures"], f"{where}.max_failures")
        for key in ("stop_on_failure", "health_gate"):
            if key in data:
                kw[key] = _flag(data[key], f"{where}.{key}")
        for key in ("pause", "gate_timeout"):
            if key in data:
                kw[key] = _seconds(data[key], f"{where}.{key}")
        for key, allowed in (("on_failure", ("halt", "rollback")), ("offline", ("defer", "fail"))):
            if key in data:
                if data[key] not in allowed:
                    raise ConfigError(
                        f"{where}.{key}: expected {' or '.join(allowed)}, got {data[key]!r}"
                    )
                kw[key] = data[key]
        return cls(**kw)

    def failure_budget(self, total: int) -> int:
        """Failures tolerated over ``total`` sites (percentages round down)."""
        return _resolve(self.max_failures, total, floor=True)

    def waves(self, sites: Sequence[Site]) -> list[list[Site]]:
        """Cut ``sites`` (in selection order) into waves: canaries, then the batch ramp."""
        remaining = list(sites)
        total = len(remaining)
        waves: list[list[Site]] = []
        if isinstance(self.canary, tuple):
            by_name = {s.name: s for s in remaining}
            missing = [n for n in self.canary if n not in by_name]
            if missing:
                raise ConfigError(f"rollout.canary: site '{missing[0]}' is not in the selection")
            chosen = set(self.canary)
            waves.append([by_name[n] for n in self.canary])
            remaining = [s for s in remaining if s.name not in chosen]
        elif self.canary:
            waves.append(remaining[: self.canary])
            remaining = remaining[self.canary :]
        step = 0
        while remaining:
            size = _resolve(self.batch[min(step, len(self.batch) - 1)], total)
            waves.append(remaining[:size])
            remaining = remaining[size:]
            step += 1
        return [w for w in waves if w]

    def to_dict(self) -> dict[str, Any]:
        def show(size: tuple[str, float]) -> int | str:
            return int(size[1]) if size[0] == "count" else f"{size[1]:g}%"

        return {
            "canary": list(self.canary) if isinstance(self.canary, tuple) else self.canary,
            "batch": [show(s) for s in self.batch],
            "max_parallel": self.max_parallel,
            "max_failures": show(self.max_failures),
            "stop_on_failure": self.stop_on_failure,
            "pause": self.pause,
            "health_gate": self.health_gate,
            "gate_timeout": self.gate_timeout,
            "on_failure": self.on_failure,
            "offline": self.offline,
        }


#: ``gate(fleet_of_the_wave's_succeeded_sites, timeout) -> FleetResult``
GateFn = Callable[["Fleet", float], FleetResult]
#: ``rollback(fleet_of_touched_sites) -> FleetResult``
RollbackFn = Callable[["Fleet"], FleetResult]
#: ``on_wave(index, sites)`` before a wave starts (for journals and progress displays).
WaveFn = Callable[[int, list["Site"]], None]


class RolloutResult(FleetResult):
    """A FleetResult plus how the rollout went: ``waves``, ``stopped``, ``rollback``."""

    def __init__(
        self,
        *args: Any,
        waves: list[dict[str, Any]] | None = None,
        stopped: str = "",
        rollback: FleetResult | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.waves = waves or []
        self.stopped = stopped
        self.rollback = rollback

    @property
    def deferred(self) -> list[str]:
        return [r.site for r in self.by_state(State.DEFERRED)]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["waves"] = self.waves
        out["stopped"] = self.stopped
        out["deferred"] = self.deferred
        if self.rollback is not None:
            out["rollback"] = self.rollback.to_dict()
        return out


class Rollout:
    """Run a step task over a fleet in the waves a :class:`Policy` cuts.

    >>> Rollout(fleet, policy).run("deploy_step", gate=gate, rollback=undo, spec=spec)
    """

    def __init__(self, fleet: Fleet, policy: Policy | None = None) -> None:
        self.fleet = fleet
        self.policy = policy or Policy()

    def _local(self, sites: list[Site], **overrides: Any) -> Fleet:
        """A sub-fleet on threads in this process: stop/settle act between its sites."""
        return self.fleet.with_sites(sites, executor="threads", processes=1, **overrides)

    def run(
        self,
        task: Any,
        *,
        gate: GateFn | None = None,
        rollback: RollbackFn | None = None,
        on_wave: WaveFn | None = None,
        progress: ProgressFn | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **params: Any,
    ) -> RolloutResult:
        policy = self.policy
        t0 = time.monotonic()
        sites = self.fleet.sites
        waves = policy.waves(sites)
        budget = policy.failure_budget(len(sites))
        final: dict[str, SiteResult] = {}
        touched: list[Site] = []
        report: list[dict[str, Any]] = []
        failures = 0
        stopped = ""
        cancelled = False
        stop = threading.Event()
        done = 0
        name = getattr(task, "task_name", getattr(task, "__name__", str(task)))

        lock = threading.Lock()
        settled: set[str] = set()

        def settle(result: SiteResult) -> None:  # in the worker thread, before its next site
            nonlocal failures
            with lock:
                settled.add(result.site)
            if result.state in OFFLINE and policy.offline == "defer":
                result.reason = f"deferred: {result.reason}" if result.reason else "deferred"
                result.state = str(State.DEFERRED)
            elif result.state in FAILED:
                with lock:
                    failures += 1
                    if policy.stop_on_failure and failures > budget:
                        stop.set()

        def on_site(result: SiteResult, _done: int, _total: int) -> None:
            nonlocal done
            if result.site not in settled:  # ended by the engine itself (watchdog)
                settle(result)
            done += 1
            if progress is not None:
                progress(result, done, len(sites))

        for index, wave in enumerate(waves):
            if stopped or cancelled:
                for site in wave:
                    final[site.name] = SiteResult.make(
                        site, State.SKIPPED, f"not started: {stopped or 'cancelled'}"
                    )
                continue
            if index and policy.pause:
                sleep(policy.pause)
            if on_wave is not None:
                on_wave(index, wave)
            parallel = min(policy.max_parallel or self.fleet.concurrency, len(wave))
            wave_fleet = self._local(wave, concurrency=parallel)
            result = wave_fleet.run(
                task, progress=on_site, stop=stop, settle=settle, record=False, **params
            )
            cancelled = result.cancelled
            for r in result:
                if r.state == State.SKIPPED and stop.is_set():
                    r.reason = "not started: failure budget exceeded"
                final[r.site] = r
            ran = [s for s in wave if final[s.name].state not in (State.SKIPPED, State.DEFERRED)]
            touched.extend(ran)
            entry: dict[str, Any] = {
                "wave": index,
                "sites": len(wave),
                "summary": dict(result.summary),
            }
            if stop.is_set():
                stopped = f"failure budget exceeded ({failures} failed, {budget} allowed)"
            if not stopped and not cancelled and policy.health_gate and gate is not None:
                healthy = [s for s in wave if final[s.name].state in (State.OK, State.WARNING)]
                if healthy:
                    gated = gate(self._local(healthy), policy.gate_timeout)
                    bad = [g for g in gated if g.state in FAILED or g.state == State.CANCELLED]
                    for g in bad:
                        final[g.site] = SiteResult.make(
                            next(s for s in healthy if s.name == g.site),
                            g.state if g.state != State.UNREACHABLE else State.CRITICAL,
                            f"health gate: {g.reason or g.state}",
                            hint=g.hint,
                            data=final[g.site].data,
                        )
                    entry["gate"] = dict(gated.summary)
                    failures += len(bad)
                    if bad and policy.stop_on_failure and failures > budget:
                        stopped = f"health gate failed on {len(bad)} site(s) in wave {index}"
            report.append(entry)
        undo = None
        if stopped and policy.on_failure == "rollback" and rollback is not None and touched:
            undo = rollback(self._local(touched))
        ordered = [final[s.name] for s in sites if s.name in final]
        return RolloutResult(
            name,
            ordered,
            elapsed=time.monotonic() - t0,
            cancelled=cancelled,
            waves=report,
            stopped=stopped,
            rollback=undo,
        )
