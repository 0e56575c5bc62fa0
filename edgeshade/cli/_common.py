"""Options and helpers shared by every ``edgeshade`` command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from edgeshade import logs
from edgeshade.config import FleetConfig
from edgeshade.errors import ConfigError, EdgeshadeError
from edgeshade.output import FORMATS

EXIT_USAGE = 3


@dataclass
class CliState:
    """Global options, merged with the same options given after the command."""

    clouds: list[str] = field(default_factory=list)
    config_file: str | None = None
    secure_file: str | None = None
    fmt: str = "table"
    columns: list[str] = field(default_factory=list)
    concurrency: int | None = None
    timeout: float = 30.0
    retries: int = 2
    state_dir: str | None = None
    use_state: bool = True
    token_cache: bool = False
    processes: int = 1
    executor: str | None = None
    scheduler: str | None = None
    debug: bool = False
    http_debug: bool = False
    redactor: logs.RedactingFilter | None = None

    def load_config(self) -> FleetConfig:
        config = FleetConfig(self.config_file, self.secure_file)
        if self.redactor is not None:
            self.redactor.secrets |= logs.collect_secrets(config.openstack_config.cloud_config)
        return config


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """One line on stderr, then exit: no tracebacks for bad input."""
    click.echo(f"edgeshade: error: {message}", err=True)
    raise click.exceptions.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn edgeshade's input errors into one line and exit code 3."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, EdgeshadeError) as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    return wrapper


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """-f/-c/--cloud accepted after the command too (``edgeshade status -f json``)."""
    fn = click.option(
        "--cloud",
        "-C",
        "clouds",
        multiple=True,
        metavar="SELECTOR",
        help="Sites to act on (repeatable; default all).",
    )(fn)
    fn = click.option(
        "-f", "--format", "fmt", type=click.Choice(FORMATS), default=None, help="Output format."
    )(fn)
    fn = click.option(
        "-c", "--column", "columns", multiple=True, metavar="COLUMN", help="Show this column."
    )(fn)
    return fn


def merged(
    state: CliState, clouds: tuple[str, ...], fmt: str | None, columns: tuple[str, ...]
) -> CliState:
    state.clouds = list(state.clouds) + list(clouds)
    if fmt:
        state.fmt = fmt
    state.columns = list(state.columns) + list(columns)
    return state


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--cloud",
    "-C",
    "clouds",
    multiple=True,
    metavar="SELECTOR",
    help="Sites: all, names, globs (edge-*), cloud:region, @group, !exclude. Repeatable.",
)
@click.option("--os-cloud", "os_clouds", multiple=True, hidden=True)
@click.option(
    "--os-config-file",
    type=click.Path(dir_okay=False),
    envvar=None,
    help="clouds.yaml to use (default: openstack.config search path).",
)
@click.option(
    "--os-secure-file",
    type=click.Path(dir_okay=False),
    help="secure.yaml to merge (default: next to --os-config-file, then search path).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-c",
    "--column",
    "columns",
    multiple=True,
    metavar="COLUMN",
    help="Show only this column (repeatable).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10000),
    default=None,
    help="Sites in flight at once [default: 128, bounded by open files].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 86400),
    default=30.0,
    show_default=True,
    help="Per-site deadline in seconds: connect, auth and every call.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="Retries for connection resets and 502/503/504.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Local state store [default: $EDGESHADE_STATE_DIR or ~/.local/state/edgeshade].",
)
@click.option("--no-state", is_flag=True, help="Neither read nor write the local state store.")
@click.option(
    "--token-cache",
    is_flag=True,
    help="Keep tokens between runs (tokens.json, mode 0600 in the state dir).",
)
@click.option("--processes", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Local processes sharing the sites (use every core on big fleets).")
@click.option(
    "--executor",
    type=click.Choice(["threads", "processes", "dask"]),
    default=None,
    help="Where sites run: threads (default), processes (every local core; --processes N), "
    "dask (a Dask cluster; --scheduler).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Dask scheduler, e.g. tcp://10.0.0.5:8786 [default: $EDGESHADE_DASK_SCHEDULER]; "
    "implies --executor dask.",
)
@click.option("--debug", is_flag=True, help="Log every call with its timing (stderr).")
@click.option(
    "--http-debug", is_flag=True, help="Log every HTTP exchange, secrets redacted (stderr)."
)
@click.version_option(package_name="edgeshade")
@click.pass_context
def main_group(
    ctx: click.Context,
    clouds: tuple[str, ...],
    os_clouds: tuple[str, ...],
    os_config_file: str | None,
    os_secure_file: str | None,
    fmt: str,
    columns: tuple[str, ...],
    concurrency: int | None,
    timeout: float,
    retries: int,
    state_dir: str | None,
    no_state: bool,
    token_cache: bool,
    processes: int,
    executor: str | None,
    scheduler: str | None,
    debug: bool,
    http_debug: bool,
) -> None:
    """Run tasks across a fleet of OpenStack clouds: every region of every cloud at once."""
    redactor = logs.setup(debug=debug, http_debug=http_debug)
    ctx.obj = CliState(
        clouds=list(clouds) + list(os_clouds),
        config_file=os_config_file,
        secure_file=os_secure_file,
        fmt=fmt,
        columns=list(columns),
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        state_dir=state_dir,
        use_state=not no_state,
        token_cache=token_cache,
        processes=processes,
        executor=executor,
        scheduler=scheduler,
        debug=debug,
        http_debug=http_debug,
        redactor=redactor,
    )


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def run_fleet(state: CliState, task: Any, columns: dict[str, Any] | None = None,
              *, progress: bool = True, config: Any = None, sites: Any = None,
              **params: Any) -> Any:
    """Load config, select sites, run ``task`` (progress bar on a terminal); the FleetResult.

    ``config`` and ``sites`` skip loading and selecting again. With the state
    store on, each answered site's details (hint, per-service results,
    ``columns``) are kept for ``--cached`` views.
    """
    fleet = make_fleet(state, config=config, sites=sites)
    show_progress = progress and stderr_is_tty() and not (state.debug or state.http_debug)
    with progress_bar(len(fleet.sites), enabled=show_progress) as bar:
        result = fleet.run(task, progress=bar, **params)
    keep_details(state, result, columns)
    return result


def make_fleet(state: CliState, *, config: Any = None, sites: Any = None,
               **overrides: Any) -> Any:
    """A Fleet with the global options (config loaded and sites selected unless given).

    ``overrides`` replace Fleet settings: operations that journal and lock
    (baselines, images, deployments) run on threads in this process.
    """
    from edgeshade.fleet import Fleet

    executor = state.executor or ("dask" if state.scheduler else None)
    if executor in ("threads", "dask") and state.processes > 1:
        fail(f"--processes {state.processes} needs --executor processes (not {executor})")
    if state.scheduler and executor != "dask":
        fail(f"--scheduler is for --executor dask (not {executor})")
    config = config if config is not None else state.load_config()
    sites = sites if sites is not None else config.select(state.clouds or ["all"])
    settings = dict(
        concurrency=state.concurrency,
        timeout=state.timeout,
        retries=state.retries,
        state_dir=state.state_dir,
        use_state=state.use_state,
        token_cache=state.token_cache,
        processes=state.processes,
        executor=executor,
        scheduler=state.scheduler,
    )
    return Fleet(config, sites, **{**settings, **overrides})


def keep_details(state: CliState, result: Any, columns: dict[str, Any] | None) -> None:
    """Store each answered site's details for ``--cached`` views (state store on only)."""
    if not state.use_state:
        return
    from edgeshade.history import record_details
    from edgeshade.state import StateStore

    with StateStore(state.state_dir) as store:
        record_details(store, result, columns)


def run_task(state: CliState, task: Any, columns: dict[str, Any] | None, **params: Any) -> int:
    """Load config, select sites, run ``task`` with a progress bar, render; returns exit code."""
    from edgeshade.output import DEFAULT_COLUMNS

    check_columns(state, columns or DEFAULT_COLUMNS)
    result = run_fleet(state, task, columns, **params)
    last_success = None
    if state.fmt == "prometheus" and state.use_state:
        from edgeshade.state import StateStore

        with StateStore(state.state_dir) as store:
            known = store.last_known([r.site for r in result])
        last_success = {site: row["last_ok"] for site, row in known.items() if row["last_ok"]}
    return show_result(state, result, columns, last_success=last_success)


def check_columns(state: CliState, columns: dict[str, Any]) -> None:
    """An unknown ``-c`` column is bad input: say so before contacting any site."""
    from edgeshade.output import pick_columns

    try:
        pick_columns(columns, state.columns)
    except ValueError as exc:
        fail(str(exc))


def show_result(state: CliState, result: Any, columns: dict[str, Any] | None,
                **render_kw: Any) -> int:
    """Render ``result`` in the chosen format; the exit code scripts and monitoring read."""
    from edgeshade.output import render
    from edgeshade.results import EXIT_CANCELLED

    try:
        render(result, state.fmt, columns=columns, wanted=state.columns, **render_kw)
    except ValueError as exc:  # an unknown -c column
        fail(str(exc))
    if result.cancelled:
        click.echo("edgeshade: interrupted; sites not finished are marked cancelled", err=True)
        return EXIT_CANCELLED
    return int(result.exit_code)


class progress_bar:  # noqa: N801 - used as a context manager like rich's own
    """A rich progress bar on stderr (only on a terminal); yields the fleet callback."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._progress: Any = None

    def __enter__(self) -> Callable[..., None] | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]sites"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[problems]} not ok"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self._progress.start()
        bar = self._progress.add_task("sites", total=self.total, problems=0)
        problems = 0

        def callback(result: Any, done: int, total: int) -> None:
            nonlocal problems
            if result.state != "ok":
                problems += 1
            self._progress.update(bar, completed=done, problems=problems)

        return callback

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
