"""Per-site and fleet results.

A :class:`SiteResult` is a :class:`munch.Munch` (dict and attribute access) so a
script can do ``r.state`` and ``json.dumps(r)`` alike. A :class:`FleetResult`
keeps the sites in the order they were selected and knows the summary and the
exit code, so the CLI, the Ansible modules and scripts all agree on them.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from munch import Munch


class State(enum.StrEnum):
    """Every site ends a run in exactly one of these."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    TIMED_OUT = "timed_out"
    ERROR = "error"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    DEFERRED = "deferred"


#: Worst first: the order of the fleet table and of "the worst state wins".
SEVERITY: tuple[State, ...] = (
    State.CRITICAL,
    State.UNREACHABLE,
    State.AUTH_FAILED,
    State.TIMED_OUT,
    State.ERROR,
    State.CANCELLED,
    State.WARNING,
    State.DEFERRED,
    State.SKIPPED,
    State.OK,
)
_RANK = {s: i for i, s in enumerate(SEVERITY)}

#: Nagios plugin exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
#: A run stopped by Ctrl-C, as a shell reports SIGINT.
EXIT_CANCELLED = 130

_STATE_EXIT = {
    State.OK: EXIT_OK,
    State.SKIPPED: EXIT_OK,
    State.DEFERRED: EXIT_WARNING,
    State.WARNING: EXIT_WARNING,
}


def rank(state: str) -> int:
    """Sort key: lower is worse."""
    return _RANK[State(state)]


def worst(states: Iterable[str], default: str = State.OK) -> State:
    """The most severe of ``states`` (``default`` when there are none)."""
    return min((State(s) for s in states), key=rank, default=State(default))


def exit_code_for(state: str) -> int:
    """Nagios code of one state: ok 0, warning 1, any failure 2."""
    return _STATE_EXIT.get(State(state), EXIT_CRITICAL)


class SiteResult(Munch):
    """What happened at one site.

    Keys: ``site`` (name), ``cloud``, ``region``, ``state``, ``reason`` (one line,
    empty when ok), ``hint`` (what to try, or None), ``elapsed`` (seconds) and
    ``data`` (the task's own output, a Munch).
    """

    @classmethod
    def make(
        cls,
        site: Any,
        state: str,
        reason: str = "",
        *,
        hint: str | None = None,
        elapsed: float = 0.0,
        data: Any = None,
    ) -> SiteResult:
        return cls(
            site=site.name,
            cloud=site.cloud,
            region=site.region,
            state=str(State(state)),
            reason=reason,
            hint=hint,
            elapsed=round(elapsed, 3),
            data=Munch.fromDict(data or {}),
        )


class FleetResult:
    """The results of one task over a fleet, in selection order."""

    def __init__(
        self,
        task: str,
        results: list[SiteResult],
        *,
        elapsed: float,
        cancelled: bool = False,
    ) -> None:
        self.task = task
        self.sites: list[SiteResult] = results
        self.elapsed = elapsed
        self.cancelled = cancelled
        self._by_name = {r.site: r for r in results}

    def __iter__(self) -> Iterator[SiteResult]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    def __getitem__(self, key: int | str) -> SiteResult:
        if isinstance(key, int):
            return self.sites[key]
        return self._by_name[key]

    def __repr__(self) -> str:
        return f"<FleetResult {self.task}: {self.summary_line()}>"

    @property
    def summary(self) -> Munch:
        """Counts per state, worst first, only states that occurred."""
        counts = Counter(r.state for r in self.sites)
        return Munch((str(s), counts[s]) for s in SEVERITY if counts.get(s))

    @property
    def state(self) -> State:
        """The worst state in the fleet."""
        return worst(r.state for r in self.sites)

    @property
    def exit_code(self) -> int:
        """130 if cancelled, else the Nagios code of the worst site (3 if none)."""
        if self.cancelled:
            return EXIT_CANCELLED
        if not self.sites:
            return EXIT_UNKNOWN
        return max(exit_code_for(r.state) for r in self.sites)

    def by_state(self, *states: str) -> list[SiteResult]:
        wanted = {str(State(s)) for s in states}
        return [r for r in self.sites if r.state in wanted]

    def worst_first(self) -> list[SiteResult]:
        """Stable sort: worst state first, selection order within a state."""
        return sorted(self.sites, key=lambda r: rank(r.state))

    def summary_line(self) -> str:
        """``998 sites: 990 ok, 5 warning, 2 critical, 1 unreachable — 3.1 s``."""
        n = len(self.sites)
        summary = self.summary
        # ok, warning, then the failures worst first (the README's example line).
        first = (State.OK, State.WARNING)
        order = [*first, *[s for s in SEVERITY if s not in first]]
        parts = ", ".join(f"{summary[s]} {s}" for s in order if s in summary)
        noun = "site" if n == 1 else "sites"
        tail = " (cancelled)" if self.cancelled else ""
        return f"{n} {noun}: {parts or 'none'} — {self.elapsed:.1f} s{tail}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON/YAML output and Ansible."""
        return {
            "task": self.task,
            "summary": dict(self.summary),
            "exit_code": self.exit_code,
            "elapsed": round(self.elapsed, 3),
            "cancelled": self.cancelled,
            "sites": [r.toDict() for r in self.sites],
        }
