"""``edgeshade history SITE`` and ``edgeshade changes --since 24h``: state transitions.

Both read the local state store only (no site is contacted). History is
bounded: the store keeps the last ``HISTORY_RUNS`` (200) runs of any task, so
how far back they reach depends on how often runs are recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from edgeshade.cli._common import CliState, fail, handle_errors

_COLUMNS = ("at", "site", "previous", "state", "task", "run", "reason")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    previous = row.get("previous")
    return {**row, "at": _when(row["at"]),
            "previous": "(first record)" if previous is None else previous}


def _print(rows: list[dict[str, Any]], fmt: str, columns: tuple[str, ...], empty: str) -> None:
    from edgeshade.output import write_rows

    if fmt not in ("table", "json", "yaml"):
        fail(f"-f {fmt}: history is shown as table, json or yaml")
    if fmt == "table" and not rows:
        click.echo(empty)
        return
    write_rows(rows, fmt, columns, cells=_cells, wrap=("reason",))


def _store(state: CliState) -> Any:
    from edgeshade.state import StateStore

    if not state.use_state:
        fail("history is read from the local state store; it cannot be used with --no-state")
    return StateStore(state.state_dir)


@click.command("history")
@click.argument("site")
@click.option("--all", "every_run", is_flag=True, help="Every recorded run, not only changes.")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "yaml")),
              default=None, help="Output format.")
@click.pass_obj
@handle_errors
def history_command(state: CliState, site: str, every_run: bool, fmt: str | None) -> int:
    """State transitions of SITE from the local state store (last 200 runs)."""
    from edgeshade.history import site_history

    with _store(state) as store:
        rows = site_history(store, site, every_run=every_run)
        known = store.last_known([site])
    if not rows and not known:
        fail(f"site '{site}': nothing recorded in the state store (run a task on it first)")
    columns = tuple(c for c in _COLUMNS if c != "site")
    _print(rows, fmt or state.fmt, columns, f"{site}: no recorded runs in the kept history")
    return 0


@click.command("changes")
@click.option("--cloud", "-C", "clouds", multiple=True, metavar="SELECTOR",
              help="Only these sites (repeatable; default all recorded sites).")
@click.option("--since", default="24h", show_default=True, metavar="DURATION",
              help="How far back: 30m, 24h, 7d, 1w.")
@click.option("--new", "include_new", is_flag=True,
              help="Also list sites recorded for the first time.")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "yaml")),
              default=None, help="Output format.")
@click.pass_obj
@handle_errors
def changes_command(
    state: CliState, clouds: tuple[str, ...], since: str, include_new: bool, fmt: str | None
) -> int:
    """Every site state transition in runs since --since, oldest first."""
    from edgeshade.history import parse_since, transitions

    try:
        cutoff = parse_since(since)
    except ValueError as exc:
        fail(f"--since: {exc}")
    selectors = list(state.clouds) + list(clouds)
    sites = None
    if selectors:
        sites = [s.name for s in state.load_config().select(selectors)]
    with _store(state) as store:
        rows = transitions(store, cutoff, sites=sites, include_new=include_new)
    _print(rows, fmt or state.fmt, _COLUMNS, f"no state changes since {_when(cutoff)}")
    return 0
