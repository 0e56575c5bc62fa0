"""``edgeshade exporter``: serve fleet state as Prometheus metrics, auditing on a schedule."""

from __future__ import annotations

import signal
import threading

import click

from edgeshade.cli._common import CliState, fail, handle_errors, make_fleet, merged


@click.command("exporter")
@click.option(
    "--cloud", "-C", "clouds", multiple=True, metavar="SELECTOR",
    help="Sites to audit (repeatable; default all).",
)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=9595, show_default=True,
              help="Port for /metrics (0: any free port, printed on stderr).")
@click.option("--interval", type=click.FloatRange(0.1, 86400), default=60.0, show_default=True,
              help="Seconds between cheap audits.")
@click.option("--full-interval", type=click.FloatRange(0.1, 604800), default=900.0,
              show_default=True, help="Seconds between full audits (every check).")
@click.option("--cheap-checks", default="", show_default=True, metavar="LIST",
              help="Checks of a cheap audit ('': authentication and catalog only).")
@click.option("--checks", "full_checks", default=None, metavar="LIST",
              help="Checks of a full audit [default: all].")
@click.option("--offline-after", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Consecutive failed audits before a site is shown failed and offline.")
@click.option("--threshold", "-t", "thresholds", multiple=True, metavar="KEY=VALUE",
              help="Override a status threshold (repeatable).")
@click.pass_obj
@handle_errors
def exporter_command(
    state: CliState,
    clouds: tuple[str, ...],
    address: str,
    port: int,
    interval: float,
    full_interval: float,
    cheap_checks: str,
    full_checks: str | None,
    offline_after: int,
    thresholds: tuple[str, ...],
) -> int:
    """Serve /metrics; audit cheaply every --interval, fully every --full-interval."""
    from edgeshade.cli.status import _parse_thresholds
    from edgeshade.errors import TaskError
    from edgeshade.exporter import Exporter, serve
    from edgeshade.results import EXIT_CANCELLED
    from edgeshade.tasks.status import Thresholds, _parse_checks

    merged(state, clouds, None, ())
    try:
        limits = Thresholds.from_params(_parse_thresholds(thresholds))
        _parse_checks(cheap_checks)
        _parse_checks(full_checks)
    except TaskError as exc:
        fail(str(exc))
    fleet = make_fleet(state)
    exporter = Exporter(
        fleet, interval=interval, full_interval=full_interval, cheap_checks=cheap_checks,
        full_checks=full_checks, offline_after=offline_after, thresholds=limits,
    )
    try:
        server, bound = serve(exporter, address, port)
    except OSError as exc:
        fail(f"--address {address} --port {port}: cannot listen: {exc.strerror}")
    host = f"[{address}]" if ":" in address else address
    click.echo(
        f"edgeshade exporter: serving http://{host}:{bound}/metrics for {len(fleet.sites)} sites",
        err=True,
    )
    # SIGTERM (systemd, docker stop) ends the exporter the way Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        exporter.run_forever(threading.Event())
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    click.echo("edgeshade exporter: stopped", err=True)
    return EXIT_CANCELLED
