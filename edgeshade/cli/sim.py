"""``edgeshade sim serve`` and ``edgeshade demo``: the built-in simulated fleet."""

from __future__ import annotations

import os
import tempfile

import click

from edgeshade.cli._common import CliState, fail, handle_errors, merged, output_options, run_task

#: The demo's faults: a few sites of each kind, so every state shows up.
DEMO_FAULTS = "refused=2,hang=2,slow:800=2,500=1,flaky=3,401=2,malformed=1,404@volume=1"


def _make_fleet(sites: int, seed: int, latency_ms: float, faults: str | None,
                bandwidth_mbps: float = 0.0):
    from edgeshade.sim import FaultSpecError, SimFleet

    try:
        return SimFleet(sites=sites, seed=seed, latency_ms=latency_ms, faults=faults or "",
                        bandwidth_mbps=bandwidth_mbps)
    except FaultSpecError as exc:
        fail(f"--faults: {exc}")


@click.group("sim")
def sim_group() -> None:
    """The built-in simulated fleet (Keystone, Nova, Neutron, Cinder, Glance per site)."""


@sim_group.command("serve")
@click.option("--sites", type=click.IntRange(1, 100000), default=200, show_default=True)
@click.option(
    "--latency-ms",
    type=click.FloatRange(0, 60000),
    default=0.0,
    show_default=True,
    help="Delay added to every request.",
)
@click.option(
    "--faults",
    default="",
    metavar="SPEC",
    help="e.g. 'refused=2,hang=1%,slow:3000=5,500@compute=1,401=edge-0000[1-3]'.",
)
@click.option(
    "--bandwidth-mbps",
    type=click.FloatRange(0, 1e6),
    default=0.0,
    show_default=True,
    help="Each site's link for image uploads, Mbit/s (0: unlimited).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0: any free port.")
@click.option(
    "--write-config",
    "config_dir",
    type=click.Path(file_okay=False),
    help="Write clouds.yaml and secure.yaml for the simulated fleet here.",
)
@handle_errors
def sim_serve(
    sites: int,
    latency_ms: float,
    faults: str,
    bandwidth_mbps: float,
    seed: int,
    port: int,
    config_dir: str | None,
) -> int:
    """Serve N simulated sites on 127.0.0.1 until interrupted."""
    from edgeshade.sim import SimServer

    fleet = _make_fleet(sites, seed, latency_ms, faults, bandwidth_mbps)
    server = SimServer(fleet, port=port)
    server.start()
    try:
        if config_dir:
            os.makedirs(config_dir, exist_ok=True)
            clouds, _secure = server.write_config(config_dir)
            click.echo(f"config: {clouds}")
        click.echo(f"edgeshade sim: {sites} sites on {server.url} (Ctrl-C to stop)", err=False)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


@click.command("demo")
@output_options
@click.option("--sites", type=click.IntRange(1, 20000), default=200, show_default=True)
@click.option("--latency-ms", type=click.FloatRange(0, 10000), default=20.0, show_default=True)
@click.option("--faults", default=DEMO_FAULTS, show_default=True, metavar="SPEC")
@click.option("--seed", type=int, default=7, show_default=True)
@click.pass_obj
@handle_errors
def demo_command(
    state: CliState,
    clouds: tuple[str, ...],
    fmt: str | None,
    columns: tuple[str, ...],
    sites: int,
    latency_ms: float,
    faults: str,
    seed: int,
) -> int:
    """Start a simulated fleet in-process and run `status` across all of it."""
    from edgeshade.sim import SimServer
    from edgeshade.tasks.status import status

    merged(state, clouds, fmt, columns)
    fleet = _make_fleet(sites, seed, latency_ms, faults)
    with tempfile.TemporaryDirectory(prefix="edgeshade-demo-") as tmp, SimServer(fleet) as server:
        state.config_file, state.secure_file = server.write_config(tmp)
        if state.state_dir is None:
            state.state_dir = os.path.join(tmp, "state")  # never mix demo and real fleet state
        if state.timeout == 30.0:
            state.timeout = 5.0  # the demo's hanging sites should not hold it up for long
        click.echo(
            f"edgeshade demo: {sites} simulated sites on {server.url}, "
            f"{latency_ms:g} ms latency, faults: {faults or 'none'}",
            err=True,
        )
        code = run_task(state, status, status.columns)
    click.echo(
        f"edgeshade demo: `edgeshade status` would exit {code} here (Nagios: 0 ok, 1 warning,"
        " 2 critical); try -f json, --cloud 'edge-0001*', or `edgeshade sim serve`.",
        err=True,
    )
    return 0 if code in (0, 1, 2) else code
