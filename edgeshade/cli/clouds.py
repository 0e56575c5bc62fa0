"""``edgeshade clouds``: the resolved sites, without contacting any of them."""

from __future__ import annotations

import click

from edgeshade.cli._common import CliState, fail, handle_errors, merged, output_options
from edgeshade.output import write_rows


@click.command("clouds")
@output_options
@click.argument("selectors", nargs=-1)
@click.pass_obj
@handle_errors
def clouds_command(
    state: CliState,
    clouds: tuple[str, ...],
    fmt: str | None,
    columns: tuple[str, ...],
    selectors: tuple[str, ...],
) -> int:
    """List the sites SELECTORS (or --cloud) resolve to: cloud, region, groups, auth URL."""
    merged(state, clouds, fmt, columns)
    if state.fmt not in ("table", "json", "yaml"):
        fail(f"-f {state.fmt}: the site list is shown as table, json or yaml")
    config = state.load_config()
    sites = config.select(list(selectors) + state.clouds or ["all"])
    rows = [config.describe(s) for s in sites]
    headers = ["site", "cloud", "region", "groups", "auth_type", "auth_url"]
    write_rows(
        rows,
        state.fmt,
        [c.lower() for c in state.columns] or headers,
        cells=lambda row: {**row, "groups": ",".join(row["groups"])},
    )
    if state.fmt == "table":
        click.echo(f"{len(rows)} site{'s' * (len(rows) != 1)} from {config.path}")
    return 0
