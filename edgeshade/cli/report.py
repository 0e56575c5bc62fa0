"""``edgeshade report``: the self-contained HTML fleet report."""

from __future__ import annotations

import sys

import click

from edgeshade.cli._common import CliState, fail, handle_errors, merged, run_fleet


@click.command("report")
@click.option(
    "--cloud", "-C", "clouds", multiple=True, metavar="SELECTOR",
    help="Sites to show (repeatable; default all).",
)
@click.option(
    "-o", "--output", "output", default="fleet.html", show_default=True, metavar="FILE",
    help="Where to write the HTML file ('-': stdout).",
)
@click.option(
    "--cached", is_flag=True,
    help="Contact no site: use the last-known states in the local state store.",
)
@click.option(
    "--checks", metavar="LIST",
    help="Live run: comma-separated subset of compute,servers,limits,network,volume,image.",
)
@click.option("--title", default=None, help="Page title.")
@click.option(
    "--trend-runs", type=click.IntRange(0, 200), default=30, show_default=True,
    help="Runs from the state store in each site's trend strip.",
)
@click.pass_obj
@handle_errors
def report_command(
    state: CliState,
    clouds: tuple[str, ...],
    output: str,
    cached: bool,
    checks: str | None,
    title: str | None,
    trend_runs: int,
) -> int:
    """Write one HTML file (no network needed to open it): heat map, counts, filter, details."""
    from edgeshade.errors import TaskError
    from edgeshade.report import build_report, write_report
    from edgeshade.results import EXIT_CANCELLED
    from edgeshade.state import StateStore
    from edgeshade.tasks.status import _parse_checks, status

    merged(state, clouds, None, ())
    if cached and not state.use_state:
        fail("--cached reads the local state store; it cannot be combined with --no-state")
    try:
        _parse_checks(checks)
    except TaskError as exc:
        fail(str(exc))
    config = state.load_config()
    sites = config.select(state.clouds or ["all"])
    result = None
    if not cached:
        result = run_fleet(state, status, status.columns, config=config, sites=sites,
                           checks=checks)
    store = StateStore(state.state_dir) if state.use_state else None
    try:
        html = build_report(
            sites, result=result, store=store, columns=status.columns, title=title,
            task="status", trend_runs=trend_runs,
        )
    finally:
        if store is not None:
            store.close()
    if output == "-":
        sys.stdout.write(html)
    else:
        try:
            write_report(output, html)
        except OSError as exc:
            fail(f"{output}: cannot write the report: {exc.strerror}")
        click.echo(f"edgeshade: wrote {output} ({len(sites)} sites, {len(html) // 1024} KiB)",
                   err=True)
    if result is not None and result.cancelled:
        return EXIT_CANCELLED
    return 0

