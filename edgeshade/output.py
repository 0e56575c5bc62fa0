"""Rendering fleet results: table, JSON, YAML, Prometheus text.

Tables are worst-first with the summary line under them; JSON and YAML carry
the same data as :meth:`FleetResult.to_dict`. ``-c COLUMN`` picks columns in
every format, as in openstackclient. ``prometheus`` is the node-exporter
textfile format (:mod:`edgeshade.metrics`); it has no columns.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import yaml

from edgeshade.results import FleetResult, SiteResult

FORMATS = ("table", "json", "yaml", "prometheus")
Column = Callable[[SiteResult], Any]

DEFAULT_COLUMNS: dict[str, Column] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Time s": lambda r: f"{r.elapsed:.2f}",
    "Reason": lambda r: r.reason,
}

_STATE_STYLE = {
    "ok": "green",
    "warning": "yellow",
    "critical": "bold red",
    "unreachable": "red",
    "auth_failed": "magenta",
    "timed_out": "red",
    "error": "bold magenta",
    "cancelled": "dim",
}


def _key(header: str) -> str:
    return header.lower().replace(" ", "_")


def pick_columns(columns: dict[str, Column], wanted: Sequence[str] | None) -> dict[str, Column]:
    """Columns by header or key (``-c auth_ms`` or ``-c "Auth ms"``), in the asked order."""
    if not wanted:
        return columns
    by_key = {_key(h): h for h in columns}
    picked: dict[str, Column] = {}
    for name in wanted:
        header = by_key.get(_key(name))
        if header is None:
            known = ", ".join(by_key)
            raise ValueError(f"unknown column '{name}' (known: {known})")
        picked[header] = columns[header]
    return picked


def _rows(result: FleetResult, columns: dict[str, Column]) -> list[dict[str, Any]]:
    return [{_key(h): fn(r) for h, fn in columns.items()} for r in result.worst_first()]


def render(
    result: FleetResult,
    fmt: str = "table",
    *,
    columns: dict[str, Column] | None = None,
    wanted: Sequence[str] | None = None,
    stream: TextIO | None = None,
    last_success: dict[str, float] | None = None,
) -> None:
    """Write ``result`` to ``stream``; ``last_success`` (site → time) feeds Prometheus."""
    stream = stream or sys.stdout
    all_columns = columns or DEFAULT_COLUMNS
    chosen = pick_columns(all_columns, wanted)
    if fmt == "table":
        _render_table(result, chosen, stream)
        return
    if fmt == "prometheus":
        from edgeshade.metrics import exposition, snapshot_of

        stream.write(exposition(snapshot_of(result, last_success=last_success)))
        return
    data: Any = result.to_dict()
    if wanted:
        data["sites"] = _rows(result, chosen)
    if fmt == "json":
        json.dump(data, stream, indent=2, default=str)
        stream.write("\n")
    elif fmt == "yaml":
        yaml.safe_dump(_plain(data), stream, sort_keys=False, default_flow_style=False)
    else:
        raise ValueError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")


def _plain(value: Any) -> Any:
    """Munch and other dict/list subclasses as plain types, for safe_dump."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


#: Above this many rows a terminal gets the plain table too: rich lays out every
#: cell of a 10,000-row table (tens of seconds) for a view nobody scrolls.
RICH_MAX_ROWS = 2000


def _cells(result: FleetResult, columns: dict[str, Column]) -> list[list[str]]:
    rows = []
    for r in result.worst_first():
        row = []
        for fn in columns.values():
            value = fn(r)
            row.append("" if value is None else " ".join(str(value).split()))
        rows.append(row)
    return rows


def _render_plain(result: FleetResult, columns: dict[str, Column], stream: TextIO) -> None:
    """One line per site, never folded or cut, so grep/awk see whole reasons."""
    headers = list(columns)
    rows = _cells(result, columns)
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    out.append(result.summary_line())
    stream.write("\n".join(out) + "\n")


def _render_table(result: FleetResult, columns: dict[str, Column], stream: TextIO) -> None:
    tty = stream.isatty()
    if not tty or len(result) > RICH_MAX_ROWS:
        _render_plain(result, columns, stream)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, soft_wrap=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in columns:
        table.add_column(header, overflow="fold" if header == "Reason" else "ellipsis")
    for row in _cells(result, columns):
        cells = [
            Text(text, style=_STATE_STYLE.get(text, "") if header == "State" else "")
            for header, text in zip(columns, row, strict=True)
        ]
        table.add_row(*cells)
    console.print(table, highlight=False)
    console.print(result.summary_line(), markup=False, highlight=False)


def write_rows(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    headers: Sequence[str],
    *,
    cells: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    wrap: Sequence[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Plain records (site lists, histories) as JSON, YAML or a table of ``headers``.

    JSON and YAML get ``rows`` as they are; ``cells(row)`` formats a row for the
    table only; columns in ``wrap`` fold long text instead of cutting it.
    """
    stream = stream or sys.stdout
    if fmt == "json":
        json.dump(list(rows), stream, indent=2)
        stream.write("\n")
        return
    if fmt == "yaml":
        yaml.safe_dump(list(rows), stream, sort_keys=False)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    tty = stream.isatty()
    table = Table(box=box.SIMPLE_HEAD if tty else box.ASCII2, show_edge=False, pad_edge=False)
    for header in headers:
        table.add_column(header.replace("_", " ").title(),
                         overflow="fold" if header in wrap else "ellipsis")
    for row in rows:
        shown = cells(row) if cells is not None else row
        table.add_row(*("" if shown.get(h) is None else str(shown[h]) for h in headers))
    console = Console(file=stream, width=None if tty else 250, no_color=not tty, soft_wrap=False)
    console.print(table, highlight=False, markup=False)

