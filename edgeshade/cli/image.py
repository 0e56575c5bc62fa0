"""``edgeshade image sync|status|prune``: thin shells over :mod:`edgeshade.images`."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
    show_result,
    stderr_is_tty,
)

SYNC_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Action": lambda r: r.data.get("action", ""),
    "Version": lambda r: r.data.get("version") or "",
    "Found as": lambda r: r.data.get("found_as") or "",
    "Bytes": lambda r: r.data.get("bytes_sent", ""),
    "Time s": lambda r: f"{r.elapsed:.2f}",
    "Reason": lambda r: r.reason,
}
STATUS_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Version": lambda r: r.data.get("version") or "",
    "Found as": lambda r: r.data.get("found_as") or "",
    "Stale": lambda r: len(r.data.get("stale") or []),
    "Partial": lambda r: len(r.data.get("partial") or []),
    "Reason": lambda r: r.reason,
}
PRUNE_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Kept": lambda r: len(r.data.get("kept") or []),
    "In use": lambda r: len(r.data.get("in_use") or []),
    "Deleted": lambda r: len(r.data.get("deleted") or []),
    "Reason": lambda r: r.reason,
}


def _fleet(state: CliState) -> Any:
    return make_fleet(state, executor="threads", processes=1)


class _SyncProgress:
    """Sites done and bytes sent, on stderr when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    def __enter__(self) -> Callable[[Any], None] | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True,
        )
        self._progress.start()
        sites = self._progress.add_task("sites", total=None, what="")
        data = self._progress.add_task("bytes", total=None, what="", visible=False)
        counts = MofNCompleteColumn()
        size, speed = DownloadColumn(), TransferSpeedColumn()

        def callback(info: Any) -> None:
            p = self._progress
            p.update(sites, total=info.sites_total, completed=info.sites_done,
                     description=f"sites ({info.phase})")
            p.update(sites, what=counts.render(p.tasks[sites]))
            if info.bytes_total:
                p.update(data, total=info.bytes_total, completed=info.bytes_sent, visible=True)
                p.update(data, what=f"{size.render(p.tasks[data])} "
                                    f"{speed.render(p.tasks[data])}")

        return callback

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _properties(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--property '{item}': expected KEY=VALUE")
        out[key.strip()] = value
    return out


@click.group("image")
def image_group() -> None:
    """Distribute images: content dedup, bounded uploads, mirror import, versions."""


@image_group.command("sync")
@output_options
@click.argument("name")
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="Local image file.")
@click.option("--url", help="Download the image from here once, then distribute it.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Image property for new images (repeatable).")
@click.option("--disk-format", help="Glance disk_format [default: from the file's header].")
@click.option("--visibility", type=click.Choice(["public", "private", "shared", "community"]))
@click.option("--adopt", type=click.Choice(["none", "tag", "rename"]), default="none",
              show_default=True,
              help="Same content under another name: leave it, mark it ours, or rename it.")
@click.option("--mirror", metavar="URL_TEMPLATE",
              help="Sites import from here (web-download), e.g. "
                   "'http://mirror-{{ site.vars.region_group }}/img.qcow2'.")
@click.option("--no-fallback", is_flag=True,
              help="With --mirror: fail sites that cannot import instead of uploading.")
@click.option("--max-uploads", type=click.IntRange(1, 10000), default=4, show_default=True,
              help="Uploads in flight at once (API calls use --concurrency).")
@click.option("--bandwidth-mbps", type=click.FloatRange(0.001, 1e7), default=None,
              help="Cap on all uploads together, Mbit/s [default: none].")
@click.option("--upload-timeout", type=click.FloatRange(1, 30 * 86400), default=None,
              help="Deadline of each upload, s [default: 300 + size at 256 KiB/s].")
@click.option("--import-timeout", type=click.FloatRange(1, 30 * 86400), default=1800.0,
              show_default=True, help="Deadline of each mirror import, s.")
@click.option("--stall-timeout", type=click.FloatRange(1, 86400), default=120.0,
              show_default=True, help="Fail an upload whose link moves no byte this long, s.")
@click.option("--dry-run", is_flag=True, help="Plan only: what each site would get.")
@click.pass_obj
@handle_errors
def sync_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                 columns: tuple[str, ...], name: str, file_: str | None, url: str | None,
                 properties: tuple[str, ...], disk_format: str | None, visibility: str | None,
                 adopt: str, mirror: str | None, no_fallback: bool, max_uploads: int,
                 bandwidth_mbps: float | None, upload_timeout: float | None,
                 import_timeout: float, stall_timeout: float, dry_run: bool) -> int:
    """Make every selected site hold image NAME with the content of --file or --url."""
    from edgeshade import images

    merged(state, clouds, fmt, columns)
    if (file_ is None) == (url is None):
        fail("image sync: give exactly one of --file or --url")
    check_columns(state, SYNC_COLUMNS)
    props = _properties(properties)
    fleet = _fleet(state)
    show = stderr_is_tty() and not (state.debug or state.http_debug)
    with _SyncProgress(show) as progress:
        result = images.sync(
            fleet, name, file=file_, url=url, properties=props, disk_format=disk_format,
            visibility=visibility, adopt=adopt, mirror=mirror, fallback=not no_fallback,
            max_uploads=max_uploads, bandwidth_mbps=bandwidth_mbps,
            upload_timeout=upload_timeout, import_timeout=import_timeout,
            stall_timeout=stall_timeout, dry_run=dry_run, progress=progress,
        )
    return show_result(state, result, SYNC_COLUMNS)


@image_group.command("status")
@output_options
@click.argument("name")
@click.option("--file", "file_", type=click.Path(dir_okay=False),
              help="The wanted content [default: the version last synced].")
@click.pass_obj
@handle_errors
def status_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                   columns: tuple[str, ...], name: str, file_: str | None) -> int:
    """Per site: which version of NAME it holds, missing sites, stale and partial copies."""
    from edgeshade import images

    merged(state, clouds, fmt, columns)
    check_columns(state, STATUS_COLUMNS)
    result = images.status(_fleet(state), name, file=file_)
    return show_result(state, result, STATUS_COLUMNS)


@image_group.command("prune")
@output_options
@click.argument("name")
@click.option("--keep", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Newest versions to keep (the current one included).")
@click.option("--file", "file_", type=click.Path(dir_okay=False),
              help="The current content [default: the version carrying the name].")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted.")
@click.pass_obj
@handle_errors
def prune_command(state: CliState, clouds: tuple[str, ...], fmt: str | None,
                  columns: tuple[str, ...], name: str, keep: int, file_: str | None,
                  dry_run: bool) -> int:
    """Delete old versions of NAME that no server uses, keeping the newest --keep."""
    from edgeshade import images

    merged(state, clouds, fmt, columns)
    check_columns(state, PRUNE_COLUMNS)
    result = images.prune(_fleet(state), name, keep=keep, file=file_, dry_run=dry_run)
    return show_result(state, result, PRUNE_COLUMNS)
