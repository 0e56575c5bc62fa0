"""edgeshade: run tasks across a fleet of OpenStack clouds and edge sites.

    >>> import edgeshade
    >>> fleet = edgeshade.connect("all")          # clouds.yaml + secure.yaml, once
    >>> result = fleet.run("status")              # every region of every cloud, in parallel
    >>> for site in result.by_state("critical"):
    ...     print(site.site, site.reason)
    >>> result.summary, result.exit_code

Everything public is importable from here; submodules are the implementation.
"""

from edgeshade.config import FleetConfig, Site
from edgeshade.connection import SiteConnection
from edgeshade.errors import (
    ConfigError,
    EdgeshadeError,
    MalformedResponse,
    SelectorError,
    SiteAuthFailed,
    SiteCancelled,
    SiteError,
    SiteTimedOut,
    SiteUnreachable,
    TaskError,
)
from edgeshade.fleet import Fleet, connect
from edgeshade.render import Baseline
from edgeshade.results import FleetResult, SiteResult, State
from edgeshade.tasks import task

__version__ = "0.1.0"

__all__ = [
    "Baseline",
    "ConfigError",
    "EdgeshadeError",
    "Fleet",
    "FleetConfig",
    "FleetResult",
    "MalformedResponse",
    "SelectorError",
    "Site",
    "SiteAuthFailed",
    "SiteCancelled",
    "SiteConnection",
    "SiteError",
    "SiteResult",
    "SiteTimedOut",
    "SiteUnreachable",
    "State",
    "TaskError",
    "__version__",
    "connect",
    "task",
]
