"""``edgeshade config diff|apply|status|push`` and ``edgeshade sync``: baselines over the fleet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from edgeshade.cli._common import (
    CliState,
    check_columns,
    handle_errors,
    make_fleet,
    merged,
    output_options,
    progress_bar,
    show_result,
    stderr_is_tty,
)


def _changes(r: Any) -> str:
    texts = [c.get("text", "") for c in (r.data.get("changes") or [])]
    return "; ".join(texts[:4]) + (f"; … {len(texts) - 4} more" if len(texts) > 4 else "")


DIFF_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Diffs": lambda r: r.data.get("differences", ""),
    "Changes": lambda r: _changes(r) or r.reason,
}
APPLY_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Applied": lambda r: r.data.get("applied", ""),
    "Version": lambda r: r.data.get("version", ""),
    "Time s": lambda r: f"{r.elapsed:.2f}",
    "Reason": lambda r: r.reason,
}
STATUS_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "Status": lambda r: r.data.get("status", ""),
    "Diffs": lambda r: r.data.get("differences", ""),
    "Applied": lambda r: r.data.get("applied_version") or "",
    "Current": lambda r: r.data.get("current_version", ""),
    "Contact": lambda r: r.data.get("contact", ""),
    "Last known": lambda r: (f"{r.data.get('last_known')} ({r.data.get('age')} ago)"
                             if r.data.get("last_known") and r.data.get("status") == "unknown"
                             else ""),
    "Reason": lambda r: r.reason,
}
PUSH_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Uploaded": lambda r: r.data.get("uploaded", ""),
    "Unchanged": lambda r: r.data.get("unchanged", ""),
    "Bytes sent": lambda r: r.data.get("bytes_sent", ""),
    "Reason": lambda r: r.reason,
}


def _fleet(state: CliState) -> Any:
    config = state.load_config()
    sites = config.select(state.clouds or ["all"])
    fleet = make_fleet(state, config=config, sites=sites, executor="threads", processes=1)
    if state.redactor is not None:  # baseline secrets never reach a log line
        from edgeshade.baseline.api import secrets_for

        lookup = secrets_for(config)
        for site in sites:
            state.redactor.secrets |= {v for v in lookup(site).values() if len(v) >= 4}
    return fleet


def _run(state: CliState, columns: dict[str, Callable[[Any], Any]],
         call: Callable[[Any, Any], Any]) -> int:
    check_columns(state, columns)
    fleet = _fleet(state)
    show = stderr_is_tty() and not (state.debug or state.http_debug)
    with progress_bar(len(fleet.sites), enabled=show) as progress:
        result = call(fleet, progress)
    return show_result(state, result, columns)


@click.group("config")
def config_group() -> None:
    """Configuration baselines: render once, diff, converge, drift, store-and-forward."""


@config_group.command("diff")
@output_options
@click.argument("baseline", type=click.Path(dir_okay=False))
@click.pass_obj
@handle_errors
def diff_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                 columns: tuple[str, ...], baseline: str) -> int:
    """Per site, what differs from BASELINE (missing, field old → new, extra); changes nothing.

    Exit 0 when every site is in sync, 1 when some differ, 2 when some failed.
    """
    from edgeshade.baseline import api

    merged(state, clouds, fmt, columns)
    return _run(state, DIFF_COLUMNS, lambda f, p: api.diff(f, baseline, progress=p))


@config_group.command("apply")
@output_options
@click.argument("baseline", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show the plan per site; change nothing.")
@click.pass_obj
@handle_errors
def apply_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                  columns: tuple[str, ...], baseline: str, dry_run: bool) -> int:
    """Converge every selected site to BASELINE in rollout waves.

    Unreachable sites end 'deferred' and are queued: `edgeshade sync` (or the
    next apply) finishes them when they are back.
    """
    from edgeshade.baseline import api

    merged(state, clouds, fmt, columns)
    return _run(state, DIFF_COLUMNS if dry_run else APPLY_COLUMNS,
                lambda f, p: api.apply(f, baseline, progress=p, dry_run=dry_run))


@config_group.command("status")
@output_options
@click.argument("baseline", type=click.Path(dir_okay=False))
@click.option("--cached", is_flag=True,
              help="From the local state store only; no site is contacted.")
@click.pass_obj
@handle_errors
def status_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                   columns: tuple[str, ...], baseline: str, cached: bool) -> int:
    """Per site: in_sync, drifted (differences), behind (older version) or unknown."""
    from edgeshade.baseline import api

    merged(state, clouds, fmt, columns)
    return _run(state, STATUS_COLUMNS,
                lambda f, p: api.status(f, baseline, cached=cached, progress=p))


@config_group.command("push")
@output_options
@click.argument("template", type=click.Path(exists=False))
@click.option("--container", default="edgeshade-config", show_default=True,
              help="Swift container the bundle goes to at every site.")
@click.pass_obj
@handle_errors
def push_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                 columns: tuple[str, ...], template: str, container: str) -> int:
    """Render TEMPLATE (a file or a directory of files) per site and upload it to the
    site's object store; objects whose content is unchanged are not sent again."""
    from edgeshade.baseline import bundle

    merged(state, clouds, fmt, columns)
    return _run(state, PUSH_COLUMNS,
                lambda f, p: bundle.push(f, template, container=container, progress=p))


@click.command("sync")
@output_options
@click.option("--force", is_flag=True, help="Ignore backoff and attempt limits.")
@click.pass_obj
@handle_errors
def sync_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                 columns: tuple[str, ...], force: bool) -> int:
    """Replay work queued for sites that were unreachable (newest version only)."""
    from edgeshade.baseline import api

    merged(state, clouds, fmt, columns)
    return _run(state, APPLY_COLUMNS, lambda f, p: api.sync(f, force=force, progress=p))
