"""``fleet.deploy(spec)``: plan, apply in waves, resume, roll back, destroy, status, history.

This module wires the pieces together and nothing more: the spec
(:mod:`.spec`) is validated and rendered for every site before any site is
contacted; the per-site work is in :mod:`.tasks`; waves, failure budget,
health gates and deferral come from :mod:`edgeshade.rollout`; every step is
written to :mod:`edgeshade.journal` under the operation ``deploy:<name>``,
whose writer lock keeps a second apply of the same deployment out while one
runs::

    d = edgeshade.connect("edge-*").deploy("examples/deploy-web.yaml")
    d.plan().summary                       # nothing changes
    result = d.apply(progress=callback)    # RolloutResult: waves, stopped, deferred
    d.rollback()                           # every touched site back one version
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from munch import Munch

from edgeshade.deploy import tasks
from edgeshade.deploy.spec import Renderer, Spec, Wanted, render_site, render_text
from edgeshade.journal import Journal
from edgeshade.results import FleetResult, State
from edgeshade.rollout import Rollout, RolloutResult

if TYPE_CHECKING:
    from edgeshade.fleet import Fleet, ProgressFn


@dataclass
class Run:
    """What every deployment task receives as ``run``."""

    spec: Spec
    wanted: dict[str, Wanted]
    journal: Journal
    versions: dict[str, Munch]


class Deployment:
    """One spec over one fleet (the spec's ``sites:`` within the fleet's selection)."""

    def __init__(self, fleet: Fleet, spec: Spec | str | os.PathLike[str] | Mapping[str, Any],
                 *, render: Renderer = render_text) -> None:
        if isinstance(spec, Spec):
            self.spec = spec
        elif isinstance(spec, Mapping):
            self.spec = Spec.from_mapping(spec)
        else:
            self.spec = Spec.load(spec)
        chosen = {s.name for s in fleet.config.select(list(self.spec.sites))}
        self.fleet = fleet.with_sites([s for s in fleet.sites if s.name in chosen])
        # Every site rendered now: a bad value fails here, before anything changes.
        self.wanted = {s.name: render_site(self.spec, s, render) for s in self.fleet.sites}

    def __repr__(self) -> str:
        return f"<Deployment {self.spec.name} v{self.spec.version} on {len(self.fleet)} sites>"

    @property
    def op(self) -> str:
        return self.spec.op

    @contextlib.contextmanager
    def _run(self, *, lock: bool) -> Iterator[Run]:
        with Journal.open(self.fleet.state_dir) as journal:
            with journal.lock(self.op) if lock else contextlib.nullcontext():
                yield Run(self.spec, self.wanted, journal, journal.site_versions(self.op))

    def _fleet(self, sites: list[Any] | None = None, **overrides: Any) -> Fleet:
        chosen = self.fleet.sites if sites is None else sites
        return self.fleet.with_sites(chosen, processes=1, **overrides)

    # -- read-only ---------------------------------------------------------------------

    def plan(self, *, progress: ProgressFn | None = None) -> FleetResult:
        """What :meth:`apply` would do at every site; changes nothing."""
        with self._run(lock=False) as run:
            return self._fleet().run(tasks.deploy_plan, progress=progress, record=False, run=run)

    def status(self, *, progress: ProgressFn | None = None) -> FleetResult:
        """Per site: the version the journal says it reached, plus a live look."""
        with self._run(lock=False) as run:
            live = self._fleet().run(tasks.deploy_observe, progress=progress, record=False,
                                     run=run)
            pending = {p.site: p for p in run.journal.pending(self.op)}
            open_steps = {s.site for s in run.journal.open_steps(self.op)}
        for r in live:
            known = run.versions.get(r.site)
            r.data.version = known.version if known else None
            r.data.wanted_version = self.spec.version
            r.data.deferred = r.site in pending
            r.data.open_steps = r.site in open_steps
            if r.state not in (State.OK, State.WARNING):
                continue
            want = len(self.wanted[r.site].servers)
            statuses = r.data.get("by_status", {})
            if statuses.get("ERROR"):
                r.state, r.reason = str(State.CRITICAL), f"{statuses['ERROR']} server(s) in ERROR"
            elif r.data.version != self.spec.version:
                r.state = str(State.WARNING)
                r.reason = (f"at version {r.data.version}, spec is {self.spec.version}"
                            if r.data.version else "not deployed")
            elif statuses.get("ACTIVE", 0) != want or r.data.open_steps:
                r.state = str(State.WARNING)
                r.reason = f"{statuses.get('ACTIVE', 0)}/{want} servers ACTIVE" + (
                    "; an interrupted run left open steps" if r.data.open_steps else "")
        return live

    def history(self) -> list[Munch]:
        """Runs of this deployment, oldest first: when, versions, sites, steps by action."""
        return self.history_of(self.spec, self.fleet.state_dir)

    @staticmethod
    def history_of(spec: Spec, state_dir: str | None) -> list[Munch]:
        """:meth:`history` from the journal alone (no config, no site contacted)."""
        with Journal.open(state_dir) as journal:
            steps = journal.steps(spec.op)
        runs: dict[str, Munch] = {}
        for s in steps:
            r = runs.setdefault(s.run, Munch(run=s.run, started=s.begun, ended=s.begun,
                                             versions=[], sites=set(), actions={}, failed=0,
                                             open=0))
            r.ended = max(r.ended, s.ended or s.begun)
            if s.version and s.version not in r.versions and s.action == tasks.COMPLETE:
                r.versions.append(s.version)
            r.sites.add(s.site)
            r.actions[s.action] = r.actions.get(s.action, 0) + 1
            r.failed += s.phase == "failed"
            r.open += s.phase == "begun"
        out = []
        for r in runs.values():
            r.sites = len(r.sites)
            r.rollback = any(a.startswith("undo:") for a in r.actions)
            out.append(r)
        return out

    # -- changes -----------------------------------------------------------------------------

    def apply(self, *, progress: ProgressFn | None = None, resume: bool = False
              ) -> RolloutResult:
        """Converge every site in the policy's waves.

        ``resume``: only sites not yet complete at this version (or left
        deferred or half-done by an earlier run); otherwise every site is planned
        again, which also repairs drift. Both adopt what a killed run created.
        """
        with self._run(lock=True) as run:
            sites = self.fleet.sites
            if resume:
                pending = {p.site for p in run.journal.pending(self.op)}
                half = {s.site for s in run.journal.open_steps(self.op)}
                sites = [s for s in sites
                         if (run.versions.get(s.name) or Munch(version=None)).version
                         != self.spec.version or s.name in pending or s.name in half]
            fleet = self._fleet(sites, timeout=self.spec.timeout)
            result = Rollout(fleet, self.spec.policy).run(
                tasks.deploy_apply,
                gate=lambda f, timeout: self._gate(f, timeout, run),
                rollback=lambda f: self._undo(f, run),
                progress=progress,
                run=run,
            )
            for r in result:
                if r.state == State.DEFERRED:
                    run.journal.defer(self.op, r.site, self.spec.version, error=r.reason)
            return result

    def _gate(self, fleet: Fleet, timeout: float, run: Run) -> FleetResult:
        return fleet.with_sites(fleet.sites, timeout=timeout, processes=1).run(
            tasks.deploy_gate, record=False, run=run)

    def _undo(self, fleet: Fleet, run: Run) -> FleetResult:
        return fleet.with_sites(fleet.sites, timeout=self.spec.timeout, processes=1).run(
            tasks.deploy_rollback, record=False, run=run)

    def rollback(self, *, progress: ProgressFn | None = None) -> RolloutResult:
        """Every site the journal says this deployment changed goes back one version."""
        with self._run(lock=True) as run:
            touched = {s.site for s in run.journal.steps(self.op) if s.action == "start"}
            sites = [s for s in self.fleet.sites if s.name in touched]
            policy = dataclasses.replace(self.spec.policy, on_failure="halt", health_gate=False)
            fleet = self._fleet(sites, timeout=self.spec.timeout)
            return Rollout(fleet, policy).run(tasks.deploy_rollback, progress=progress, run=run)

    def destroy(self, *, progress: ProgressFn | None = None) -> RolloutResult:
        """Remove everything the deployment owns, fleet-wide, in the policy's waves."""
        with self._run(lock=True) as run:
            policy = dataclasses.replace(self.spec.policy, on_failure="halt", health_gate=False)
            fleet = self._fleet(timeout=self.spec.timeout)
            result = Rollout(fleet, policy).run(tasks.deploy_destroy, progress=progress, run=run)
            for r in result:
                if r.state == State.DEFERRED:
                    run.journal.defer(self.op, r.site, "destroyed", error=r.reason)
            return result


def plan_rows(result: FleetResult) -> list[dict[str, Any]]:
    """One row per change (site, action, type, name, kind, reason): the plan as a list."""
    rows = []
    for r in result:
        for ch in r.data.get("changes", []):
            rows.append({"site": r.site, **ch})
    return rows


__all__ = ["Deployment", "Run", "plan_rows"]
