"""What the simulator does when clients change workloads: timings, injected failures, stacks.

Kept beside the seeded contents rather than in them: these are knobs a test
or a rehearsal turns (``build_seconds``, which sites fail builds) and state
the seeded generator never produces (Heat stacks, floating IPs). One
:class:`Workloads` per :class:`~edgeshade.sim.model.SimFleet`::

    w = workloads(fleet)
    w.build_seconds = 0.2            # BUILD -> ACTIVE after 0.2 s
    w.fail_builds("edge-0001*")      # servers built there end in ERROR
    w.fail_stacks("edge-00003")      # stacks created/updated there end *_FAILED

Transitions are timers on the server's event loop (``loop.call_later``), so a
client polling ``GET /servers/{id}`` sees ``BUILD`` and then ``ACTIVE`` as it
would on a real cloud, and nothing happens between requests but the clock.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeshade.sim.model import SimFleet


@dataclass
class Stack:
    """A Heat stack as the simulator keeps it."""

    id: str
    name: str
    project_id: str
    template: dict[str, Any]
    parameters: dict[str, Any]
    tags: list[str]
    status: str  # CREATE_IN_PROGRESS, CREATE_COMPLETE, UPDATE_FAILED...
    reason: str
    created: str
    updated: str | None = None
    rollback: bool = True
    previous: tuple[dict[str, Any], dict[str, Any]] | None = None  # (template, parameters)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.status.rsplit("_", 1)[0]


@dataclass
class FloatingIp:
    id: str
    address: str
    network_id: str
    project_id: str
    port_id: str | None = None
    fixed_ip: str | None = None
    description: str = ""
    created: str = ""


class Workloads:
    """Per-fleet workload behaviour and the state the seeded contents lack."""

    def __init__(self) -> None:
        #: Seconds from create/rebuild to ACTIVE (or ERROR).
        self.build_seconds = 0.2
        #: Seconds from DELETE to the server being gone.
        self.delete_seconds = 0.0
        #: Seconds from stack create/update/delete to the final state.
        self.stack_seconds = 0.2
        self._build_errors: list[str] = []
        self._stack_errors: list[str] = []
        self.user_data: dict[str, str | None] = {}  # server id -> user_data (base64)
        self.stacks: dict[str, list[Stack]] = {}  # site -> stacks
        self.floating_ips: dict[str, list[FloatingIp]] = {}  # site -> floating IPs
        #: Addresses in each site's floating IP pool (``limit_floating_ips`` per site).
        self.floating_pool_size = 64
        self._floating_limits: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def fail_builds(self, *globs: str) -> None:
        """Servers built (created or rebuilt) at matching sites end in ERROR."""
        self._build_errors.extend(globs)

    def fail_stacks(self, *globs: str) -> None:
        """Stacks created or updated at matching sites end in ``*_FAILED``."""
        self._stack_errors.extend(globs)

    def limit_floating_ips(self, glob: str, size: int) -> None:
        """Matching sites' floating IP pools hold ``size`` addresses (0: exhausted)."""
        self._floating_limits.append((glob, size))

    def floating_pool(self, site: str) -> int:
        for glob, size in reversed(self._floating_limits):
            if fnmatch.fnmatchcase(site, glob):
                return size
        return self.floating_pool_size

    def heal(self) -> None:
        """Builds and stacks succeed and floating IP pools are full everywhere again."""
        self._build_errors.clear()
        self._stack_errors.clear()
        self._floating_limits.clear()

    def build_fails(self, site: str) -> bool:
        return any(fnmatch.fnmatchcase(site, g) for g in self._build_errors)

    def stack_fails(self, site: str) -> bool:
        return any(fnmatch.fnmatchcase(site, g) for g in self._stack_errors)


_LOCK = threading.Lock()


def workloads(fleet: SimFleet) -> Workloads:
    """The fleet's :class:`Workloads` (made on first use)."""
    found = getattr(fleet, "_workloads", None)
    if found is None:
        with _LOCK:
            found = getattr(fleet, "_workloads", None)
            if found is None:
                found = Workloads()
                fleet._workloads = found  # type: ignore[attr-defined]
    return found
