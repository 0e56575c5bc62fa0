"""The simulated APIs, one module per service; importing this registers their routes.

To add an API call, decorate a function in the service's module with
:func:`edgeshade.sim.registry.route`; to add a service (Heat...), add a module
here with an ``error_body(status, message)`` and list it in :data:`SERVICES`
(the URL segment) — the core and the catalog need nothing else but a catalog
entry in :mod:`edgeshade.sim.services.identity`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeshade.sim.services import (
    compute,
    compute_admin,
    identity,
    identity_admin,
    image,
    network,
    network_admin,
    object_store,
    orchestration,
    volume,
)
from edgeshade.sim.services import floating_ips as _floating_ips  # noqa: F401 - routes
from edgeshade.sim.services import image_transfer as _image_transfer  # noqa: F401 - routes
from edgeshade.sim.services import servers as _servers  # noqa: F401 - Nova writes

_ADMIN_ROUTES = (compute_admin, identity_admin, network_admin)  # registered

#: URL segment -> the module serving it.
SERVICES = {
    "identity": identity,
    "compute": compute,
    "network": network,
    "volume": volume,
    "image": image,
    "object-store": object_store,
    "orchestration": orchestration,
}

#: URL segment -> the service's error body format.
ERROR_BODIES: dict[str, Callable[[int, str], dict[str, Any]]] = {
    name: module.error_body for name, module in SERVICES.items()
}

__all__ = ["ERROR_BODIES", "SERVICES"]
