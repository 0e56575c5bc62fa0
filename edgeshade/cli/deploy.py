"""``edgeshade deploy``: plan, apply, resume, status, history, rollback, destroy a spec.

Each subcommand is one call on :class:`edgeshade.deploy.Deployment`; exit codes
are the status command's (0 ok, 1 warning or deferred, 2 a site failed,
3 bad input, 130 interrupted).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from edgeshade.cli._common import (
    CliState,
    check_columns,
    fail,
    handle_errors,
    make_fleet,
    merged,
    output_options,
    progress_bar,
    stderr_is_tty,
)
from edgeshade.output import write_rows
from edgeshade.results import EXIT_CANCELLED


def _changes_text(data: Any, limit: int = 3) -> str:
    parts = []
    for ch in data.get("changes", [])[:limit]:
        kind = f" {ch['kind']}" if ch.get("kind") else ""
        why = f": {ch['reason']}" if ch.get("reason") and ch["action"] != "create" else ""
        parts.append(f"{ch['action']}{kind} {ch['name']}{why}")
    more = len(data.get("changes", [])) - limit
    return "; ".join(parts) + (f"; +{more} more" if more > 0 else "")


PLAN_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Version": lambda r: f"{r.data.get('version') or '-'} -> {r.data.get('wanted_version', '')}"
    if r.data.get("wanted_version") else "",
    "Create": lambda r: r.data.get("create", ""),
    "Change": lambda r: r.data.get("change", ""),
    "Delete": lambda r: r.data.get("delete", ""),
    "Unchanged": lambda r: r.data.get("unchanged", ""),
    "Changes": lambda r: _changes_text(r.data) or r.reason,
}
APPLY_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Time s": lambda r: f"{r.elapsed:.2f}",
    "Version": lambda r: r.data.get("version", ""),
    "Changes": lambda r: _changes_text(r.data),
    "Reason": lambda r: r.reason,
}
STATUS_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Version": lambda r: r.data.get("version") or "-",
    "Servers": lambda r: ",".join(f"{k}={v}" for k, v in sorted(
        (r.data.get("by_status") or {}).items())),
    "Stacks": lambda r: ",".join(f"{v}" for v in (r.data.get("stacks") or {}).values()),
    "Reason": lambda r: r.reason,
}


def _deployment(state: CliState, spec: str) -> Any:
    # The journal and the writer lock need the state store, and waves run on local threads.
    fleet = make_fleet(state, executor="threads", processes=1, use_state=True)
    return fleet.deploy(spec)


def _show(state: CliState, result: Any, columns: dict[str, Callable[[Any], Any]]) -> int:
    from edgeshade.output import render

    check_columns(state, columns)
    try:
        render(result, state.fmt, columns=columns, wanted=state.columns)
    except ValueError as exc:
        fail(str(exc))
    if state.fmt == "table" and getattr(result, "waves", None) is not None:
        waves = ", ".join(
            f"{w['wave']}:{w['sites']}" + ("" if "gate" not in w else " gated")
            for w in result.waves
        )
        click.echo(f"waves: {waves or 'none'}")
        if result.stopped:
            click.echo(f"stopped: {result.stopped}")
        if result.deferred:
            click.echo(f"deferred ({len(result.deferred)}): {', '.join(result.deferred[:20])}"
                       + (" ..." if len(result.deferred) > 20 else ""))
        if result.rollback is not None:
            click.echo(f"rolled back: {result.rollback.summary_line()}")
    if result.cancelled:
        click.echo("edgeshade: interrupted; the journal has every finished step; "
                   "run 'edgeshade deploy resume' to continue", err=True)
        return EXIT_CANCELLED
    return int(result.exit_code)


def _progress(state: CliState, total: int) -> progress_bar:
    return progress_bar(total, enabled=stderr_is_tty() and not (state.debug or state.http_debug))


@click.group("deploy")
def deploy_group() -> None:
    """Deploy server sets and Heat stacks to the fleet: plan, waves, journal, rollback."""


def _spec_command(name: str, help_text: str) -> Callable[[Callable[..., int]], click.Command]:
    def wrap(fn: Callable[..., int]) -> click.Command:
        fn.__doc__ = help_text
        cmd = click.pass_obj(handle_errors(fn))
        cmd = click.argument("spec", type=click.Path(dir_okay=False))(cmd)
        cmd = output_options(cmd)
        return deploy_group.command(name)(cmd)

    return wrap


@_spec_command("plan", "Show per site what apply would create, change or delete; change nothing.")
def plan_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
             columns: tuple[str, ...], spec: str) -> int:
    merged(state, clouds, fmt, columns)
    d = _deployment(state, spec)
    with _progress(state, len(d.fleet)) as progress:
        return _show(state, d.plan(progress=progress), PLAN_COLUMNS)


@click.option("--dry-run", is_flag=True, help="Show the plan only (same as 'deploy plan').")
@_spec_command("apply", "Roll the spec out in waves; every step journalled, resumable.")
def apply_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
              columns: tuple[str, ...], spec: str, dry_run: bool = False) -> int:
    merged(state, clouds, fmt, columns)
    d = _deployment(state, spec)
    with _progress(state, len(d.fleet)) as progress:
        if dry_run:
            return _show(state, d.plan(progress=progress), PLAN_COLUMNS)
        return _show(state, d.apply(progress=progress), APPLY_COLUMNS)


@_spec_command("resume", "Continue an interrupted or deferred rollout: only unfinished sites.")
def resume_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
               columns: tuple[str, ...], spec: str) -> int:
    merged(state, clouds, fmt, columns)
    d = _deployment(state, spec)
    with _progress(state, len(d.fleet)) as progress:
        return _show(state, d.apply(progress=progress, resume=True), APPLY_COLUMNS)


@_spec_command("status", "Per site: version from the journal, plus a live look at its servers.")
def status_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
               columns: tuple[str, ...], spec: str) -> int:
    merged(state, clouds, fmt, columns)
    d = _deployment(state, spec)
    with _progress(state, len(d.fleet)) as progress:
        return _show(state, d.status(progress=progress), STATUS_COLUMNS)


@_spec_command("rollback", "Return every site this deployment changed to its previous version.")
def rollback_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                 columns: tuple[str, ...], spec: str) -> int:
    merged(state, clouds, fmt, columns)
    d = _deployment(state, spec)
    with _progress(state, len(d.fleet)) as progress:
        return _show(state, d.rollback(progress=progress), APPLY_COLUMNS)


@_spec_command("destroy", "Delete everything the deployment owns, fleet-wide, in waves.")
def destroy_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                columns: tuple[str, ...], spec: str) -> int:
    merged(state, clouds, fmt, columns)
    d = _deployment(state, spec)
    with _progress(state, len(d.fleet)) as progress:
        return _show(state, d.destroy(progress=progress), APPLY_COLUMNS)


@_spec_command("history", "The deployment's runs from the journal (no site is contacted).")
def history_cmd(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                columns: tuple[str, ...], spec: str) -> int:
    from edgeshade.deploy import Spec

    merged(state, clouds, fmt, columns)
    loaded = Spec.load(spec)
    from edgeshade.deploy.api import Deployment

    runs = Deployment.history_of(loaded, state.state_dir)
    rows = [{
        "run": r.run,
        "started": datetime.fromtimestamp(r.started, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(r.ended - r.started, 1),
        "versions": ",".join(r.versions),
        "sites": r.sites,
        "rollback": r.rollback,
        "failed": r.failed,
        "open": r.open,
        "actions": dict(r.actions),
    } for r in runs]
    headers = ["run", "started", "seconds", "versions", "sites", "rollback", "failed", "open",
               "actions"]
    write_rows(rows, state.fmt, headers, cells=lambda row: {
        **row, "actions": " ".join(f"{k}={v}" for k, v in row["actions"].items())})
    if state.fmt == "table":
        click.echo(f"{len(rows)} run(s) of {loaded.op}")
    return 0
