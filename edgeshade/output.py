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


def _render_table(result: FleetResult, columns: dict[str, Column], stream: TextIO) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tty = stream.isatty()
    console = Console(file=stream, width=None if tty else 250, no_color=not tty, soft_wrap=False)
    table = Table(box=box.SIMPLE_HEAD if tty else box.ASCII2, show_edge=False, pad_edge=False)
    for header in columns:
        table.add_column(header, overflow="fold" if header == "Reason" else "ellipsis")
    for r in result.worst_first():
        cells = []
        for header, fn in columns.items():
            value = fn(r)
            text = "" if value is None else str(value)
            style = _STATE_STYLE.get(text, "") if header == "State" and tty else ""
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    console.print(table, highlight=False)
    console.print(result.summary_line(), markup=False, highlight=False)
