"""``python -m edgeshade``: the same as the ``edgeshade`` command."""

from edgeshade.cli import main

main()
