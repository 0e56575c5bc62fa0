"""``edgeshade status``: the fleet health view."""

from __future__ import annotations

import click

from edgeshade.cli._common import CliState, fail, handle_errors, merged, output_options, run_task
from edgeshade.errors import TaskError


def _parse_thresholds(values: tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--threshold '{item}': expected KEY=VALUE (e.g. quota_warning_percent=80)")
        parsed[key.strip()] = value.strip()
    return parsed


@click.command("status")
@output_options
@click.option(
    "--checks",
    metavar="LIST",
    help="Comma-separated subset of compute,servers,limits,network,volume,image.",
)
@click.option(
    "--threshold",
    "-t",
    "thresholds",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a threshold, e.g. quota_warning_percent=80 (repeatable).",
)
@click.option(
    "--watch",
    "watch_interval",
    type=click.FloatRange(0.5, 86400),
    is_flag=False,
    flag_value=10.0,
    default=None,
    metavar="[SECONDS]",
    help="Live view on the terminal, re-checking every SECONDS (default 10) until Ctrl-C.",
)
@click.pass_obj
@handle_errors
def status_command(
    state: CliState,
    clouds: tuple[str, ...],
    fmt: str | None,
    columns: tuple[str, ...],
    checks: str | None,
    thresholds: tuple[str, ...],
    watch_interval: float | None,
) -> int:
    """Check every selected site: auth, compute, network, volume, image, quotas."""
    from edgeshade.tasks.status import Thresholds, _parse_checks, status

    merged(state, clouds, fmt, columns)
    try:  # validate before contacting any site
        limits = Thresholds.from_params(_parse_thresholds(thresholds))
        _parse_checks(checks)
    except TaskError as exc:
        fail(str(exc))
    if watch_interval is not None:
        from edgeshade.cli.watch import watch
        from edgeshade.output import pick_columns

        try:
            shown = pick_columns(status.columns, state.columns)
        except ValueError as exc:
            fail(str(exc))
        return watch(state, status, shown, watch_interval, checks=checks, thresholds=limits)
    return run_task(state, status, status.columns, checks=checks, thresholds=limits)
