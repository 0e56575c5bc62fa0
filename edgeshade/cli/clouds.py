"""``edgeshade clouds``: the resolved sites, without contacting any of them."""

from __future__ import annotations

import json
import sys

import click
import yaml

from edgeshade.cli._common import CliState, fail, handle_errors, merged, output_options


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
    if state.fmt == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif state.fmt == "yaml":
        yaml.safe_dump(rows, sys.stdout, sort_keys=False)
    else:
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        tty = sys.stdout.isatty()
        table = Table(box=box.SIMPLE_HEAD if tty else box.ASCII2, show_edge=False)
        headers = ["site", "cloud", "region", "groups", "auth_type", "auth_url"]
        wanted = [c.lower() for c in state.columns] or headers
        for header in wanted:
            table.add_column(header.replace("_", " ").title())
        for row in rows:
            values = {**row, "groups": ",".join(row["groups"]), "region": row["region"] or ""}
            table.add_row(*(Text(str(values.get(h) or "")) for h in wanted))
        console = Console(width=None if tty else 250, no_color=not tty)
        console.print(table)
        console.print(f"{len(rows)} site{'s' * (len(rows) != 1)} from {config.path}", markup=False)
    return 0
