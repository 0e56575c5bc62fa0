"""The ``edgeshade`` command: a thin shell over the library.

Exit codes (Nagios plugin convention, so monitoring can run it directly):

====  ===========================================================
0     every site ok
1     at least one site warning (none worse)
2     at least one site critical, unreachable, auth_failed, timed_out or error
3     unknown: bad input (config, selector, option), nothing was checked
130   interrupted (Ctrl-C); the table of what finished is still printed
====  ===========================================================
"""

from __future__ import annotations

import os
import sys

import click

from edgeshade.cli._common import EXIT_USAGE, main_group
from edgeshade.cli.clouds import clouds_command
from edgeshade.cli.config import config_group, sync_command
from edgeshade.cli.deploy import deploy_group
from edgeshade.cli.exporter import exporter_command
from edgeshade.cli.history import changes_command, history_command
from edgeshade.cli.image import image_group
from edgeshade.cli.report import report_command
from edgeshade.cli.sim import demo_command, sim_group
from edgeshade.cli.status import status_command

main_group.add_command(status_command)
main_group.add_command(clouds_command)
main_group.add_command(demo_command)
main_group.add_command(sim_group)
main_group.add_command(report_command)
main_group.add_command(exporter_command)
main_group.add_command(history_command)
main_group.add_command(changes_command)
main_group.add_command(image_group)
main_group.add_command(config_group)
main_group.add_command(sync_command)
main_group.add_command(deploy_group)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the documented code."""
    try:
        code = main_group.main(args=argv, prog_name="edgeshade", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.Abort:
        click.echo("edgeshade: interrupted", err=True)
        code = 130
    except click.ClickException as exc:
        click.echo(f"edgeshade: error: {exc.format_message()}", err=True)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        click.echo("edgeshade: interrupted", err=True)
        code = 130
    code = int(code or 0)
    if argv is None:
        if code == 130:
            # Sites still blocked in a socket read would hold the interpreter's
            # exit until their deadline; everything is printed and stored.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        sys.exit(code)
    return code
