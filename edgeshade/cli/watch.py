"""``edgeshade status --watch``: a live terminal view that refreshes in place.

Runs the task again every ``interval`` seconds (after the previous run ends,
so runs never overlap) and redraws worst sites first with the summary line,
as many rows as the terminal has. Ctrl-C stops the run in flight (its sites
end ``cancelled``) or the wait, and rich's Live restores the cursor before
the command exits with 130.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edgeshade.cli._common import CliState, keep_details, make_fleet
from edgeshade.output import _STATE_STYLE
from edgeshade.results import EXIT_CANCELLED

#: Lines the view needs besides the table rows (header, table head, summary, more).
_CHROME_LINES = 7


class WatchView:
    """What the screen shows: the last finished run, plus progress of the one in flight."""

    def __init__(self, console: Console, interval: float, columns: dict[str, Any]) -> None:
        self.console = console
        self.interval = interval
        self.columns = columns
        self.result: Any = None
        self.finished_at: float | None = None
        self.runs = 0
        self.done = 0
        self.total = 0
        self.running = False
        self.next_at: float | None = None

    def progress(self, _result: Any, done: int, total: int) -> None:
        self.done, self.total = done, total

    def __rich__(self) -> Group:
        header = Text(f"edgeshade status — every {self.interval:g} s", style="bold")
        if self.running:
            header.append(f" — checking {self.done}/{self.total} sites…", style="cyan")
        elif self.next_at is not None:
            header.append(f" — next run in {max(0.0, self.next_at - time.time()):.0f} s")
        if self.finished_at is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(self.finished_at))
            header.append(f" — run {self.runs} finished {stamp}", style="dim")
        header.append("  (Ctrl-C to stop)", style="dim")
        if self.result is None:
            return Group(header, Text("first run in progress…", style="dim"))
        room = max(3, self.console.size.height - _CHROME_LINES)
        ordered = self.result.worst_first()
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        widest = max((len(r.site) for r in ordered[:room]), default=4)
        for name in self.columns:  # Site and State never shrink; Reason takes what is left
            minimum = {"Site": min(40, widest), "State": 11}.get(name)
            table.add_column(name, overflow="ellipsis", no_wrap=True, min_width=minimum)
        for r in ordered[:room]:
            cells = []
            for name, fn in self.columns.items():
                value = fn(r)
                text = "" if value is None else str(value)
                style = _STATE_STYLE.get(text, "") if name == "State" else ""
                cells.append(Text(text, style=style))
            table.add_row(*cells)
        parts: list[Any] = [header, table]
        if len(ordered) > room:
            parts.append(Text(f"… {len(ordered) - room} more sites (all ok or better)"
                              if all(r.state == "ok" for r in ordered[room:])
                              else f"… {len(ordered) - room} more sites", style="dim"))
        parts.append(Text(self.result.summary_line(), style="bold"))
        return Group(*parts)


def watch(state: CliState, task: Any, columns: dict[str, Any], interval: float,
          **params: Any) -> int:
    """Run ``task`` every ``interval`` seconds with a live view until Ctrl-C; returns 130."""
    fleet = make_fleet(state)
    console = Console()
    view = WatchView(console, interval, columns)
    with Live(view, console=console, refresh_per_second=4, transient=False,
              redirect_stderr=False, vertical_overflow="crop"):
        try:
            while True:
                view.running, view.done, view.total = True, 0, len(fleet.sites)
                result = fleet.run(task, progress=view.progress, **params)
                view.running = False
                if result.cancelled:
                    break
                keep_details(state, result, columns)
                view.result, view.finished_at = result, time.time()
                view.runs += 1
                view.next_at = time.time() + interval
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
    console.print("edgeshade: watch stopped", style="dim", highlight=False)
    return EXIT_CANCELLED
