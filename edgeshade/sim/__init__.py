"""The built-in simulated OpenStack fleet.

One process, one aiohttp server on 127.0.0.1, serving Keystone v3, Nova, Heat,
Neutron, Cinder and Glance for N sites with seeded contents, latency and
faults: operators rehearse against it, tests and benchmarks run on it::

    from edgeshade.sim import SimFleet, SimServer

    with SimServer(SimFleet(sites=200, seed=1, latency_ms=20, faults="hang=2")) as server:
        clouds_yaml, secure_yaml = server.write_config("/tmp/fleet")

Modules: :mod:`~edgeshade.sim.model` (fleet shape, URLs, credentials),
:mod:`~edgeshade.sim.contents` (seeded per-site contents),
:mod:`~edgeshade.sim.faults` (fault specs), :mod:`~edgeshade.sim.app` (the
request handler and what each fault looks like), :mod:`~edgeshade.sim.registry`
and :mod:`~edgeshade.sim.services` (the APIs), :mod:`~edgeshade.sim.server`
(the server thread), :mod:`~edgeshade.sim.writeconfig` (clouds.yaml and
secure.yaml).
"""

from edgeshade.sim.faults import Fault, FaultSpecError, parse_faults
from edgeshade.sim.model import SimFleet
from edgeshade.sim.server import SimServer

__all__ = ["Fault", "FaultSpecError", "SimFleet", "SimServer", "parse_faults"]
