"""``python -m edgeshade.cli``: the same as the ``edgeshade`` command."""

from edgeshade.cli import main

main()
