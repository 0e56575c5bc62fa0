"""Configuration baselines: the library calls behind ``edgeshade config`` and ``sync``.

    >>> from edgeshade import baseline
    >>> fleet = edgeshade.connect("edge-*")
    >>> baseline.diff(fleet, "baseline.yaml").summary
    >>> baseline.apply(fleet, "baseline.yaml").deferred      # queued for sync
    >>> baseline.status(fleet, "baseline.yaml", cached=True)
    >>> baseline.sync(fleet)
    >>> baseline.push(fleet, "agent.conf.j2")

Modules: :mod:`~edgeshade.render` (render once, hashes), :mod:`.schema` (types and
fields), :mod:`.resources` (read and compare), :mod:`.converge` (changes in dependency
order), :mod:`.store` (versions, last checks), :mod:`.api` (fleet operations),
:mod:`.bundle` (files in each site's object store).
"""

from edgeshade.baseline.api import apply, diff, load, pending, status, sync
from edgeshade.baseline.bundle import push

__all__ = ["apply", "diff", "load", "pending", "push", "status", "sync"]
