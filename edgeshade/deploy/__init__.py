"""Fleet deployments: a spec of server sets and Heat stacks, planned, rolled out in waves,
journalled, resumable, reversible. See ``docs/deploy.md``.

Modules: :mod:`.spec` (load, validate, render per site), :mod:`.plan` (observed vs
wanted, read-only), :mod:`.tasks` (the per-site fleet tasks), :mod:`.api`
(:class:`Deployment`, what ``fleet.deploy(spec)`` returns).
"""

from edgeshade.deploy.api import Deployment, plan_rows
from edgeshade.deploy.spec import Spec

__all__ = ["Deployment", "Spec", "plan_rows"]
