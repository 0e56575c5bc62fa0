"""The simulated fleet's shape: clouds, regions, sites, credentials, URL layout.

Why this is separate from the contents (:mod:`edgeshade.sim.contents`): the
shape of 10,000 sites is built eagerly (a few small objects per cloud, tens of
milliseconds) while each site's contents are generated only when a request
first touches the site, then cached and mutable.

Shape for ``SimFleet(sites=N)``: N is the number of (cloud, region) pairs.
When N >= 10, two core clouds ``core-a`` and ``core-b`` with regions
``RegionOne``, ``RegionTwo`` and ``RegionThree`` take 6 sites; the rest are
single-region edge clouds ``edge-00001``(region ``RegionOne``). A site is
named ``cloud`` for a single-region cloud, ``cloud/region`` otherwise.

URL layout on the server's port P (``base`` = ``http://127.0.0.1:P``)::

    {base}/{cloud}/identity                      Keystone (auth_url, unversioned)
    {base}/{cloud}/{region}/compute/v2.1         Nova
    {base}/{cloud}/{region}/network              Neutron (unversioned; API under /v2.0)
    {base}/{cloud}/{region}/volume/v3/{project}  Cinder (block-storage and volumev3)
    {base}/{cloud}/{region}/image                Glance (unversioned; API under /v2)
    {base}/{cloud}/{region}/orchestration/v1/{project}  Heat

Credentials are derived from the seed (user ``admin``, project ``admin``,
domain ``Default``): a config written earlier stays valid when the sim is
restarted with the same seed. They protect nothing but the sim itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgeshade.sim.faults import Fault, assign_faults, parse_faults

if TYPE_CHECKING:
    from edgeshade.sim.contents import SiteContents

CORE_CLOUDS = ("core-a", "core-b")
CORE_REGIONS = ("RegionOne", "RegionTwo", "RegionThree")
EDGE_REGION = "RegionOne"
#: Below this many sites the fleet is edge clouds only.
CORE_MIN_SITES = 10
#: Share of edge sites with Cinder in their catalog (core sites always have it).
EDGE_VOLUME_SHARE = 0.5
#: Share of edge clouds whose config uses an application credential.
APP_CRED_SHARE = 0.02
#: Where ``refused`` endpoints point until a server reserves a real port.
DEFAULT_REFUSED_URL = "http://127.0.0.1:9"

#: Faults that move a site's URLs to another port of the server (attribute of the URL).
_URL_FAULTS = {"refused": "refused_url", "blackhole": "blackhole_url", "tls": "tls_url"}
#: Faults about the data service APIs return: Keystone only gets them with ``@identity``.
_DATA_FAULTS = ("malformed", "truncated", "hang-body")

DOMAIN = {"id": "default", "name": "Default"}
USER_NAME = "admin"
PROJECT_NAME = "admin"


def _digest(seed: int, *parts: str) -> str:
    return hashlib.sha256(":".join(("edgeshade-sim", str(seed), *parts)).encode()).hexdigest()


def _uuid_hex(seed: int, *parts: str) -> str:
    """A Keystone-style id (32 hex digits) stable for the seed."""
    return _digest(seed, *parts)[:32]


def _fraction(seed: int, *parts: str) -> float:
    """A seeded number in [0, 1) for per-site/cloud decisions that must not need contents."""
    return int(_digest(seed, *parts)[:13], 16) / float(16**13)


@dataclasses.dataclass(frozen=True, slots=True)
class Cloud:
    """One cloud: its Keystone, its regions and the credentials to use it."""

    name: str
    regions: tuple[str, ...]
    core: bool
    user_id: str
    project_id: str
    workload_project_id: str
    password: str
    app_cred_id: str | None = None
    app_cred_secret: str | None = None

    @property
    def multi_region(self) -> bool:
        return len(self.regions) > 1

    def site_name(self, region: str) -> str:
        return f"{self.name}/{region}" if self.multi_region else self.name


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """One (cloud, region) pair."""

    name: str
    cloud: str
    region: str
    core: bool
    has_volume: bool


class SimFleet:
    """N simulated sites: shape, credentials, faults and (lazily) contents::

        fleet = SimFleet(sites=200, seed=1, latency_ms=20, faults="hang=2,401=edge-0001*",
                         bandwidth_mbps=10)
        fleet.sites[:2]                 # ['core-a/RegionOne', 'core-a/RegionTwo']
        fleet.fault_of("edge-00012")    # Fault(kind='401', ...) or None
        fleet.contents("edge-00012")    # SiteContents: hypervisors, servers, agents...
    """

    def __init__(
        self,
        sites: int = 200,
        seed: int = 1,
        latency_ms: float = 0.0,
        faults: str | Sequence[Fault] | None = "",
        bandwidth_mbps: float = 0.0,
    ) -> None:
        if sites < 1:
            raise ValueError("a simulated fleet needs at least one site")
        self.seed = seed
        self.latency_ms = float(latency_ms)
        #: Each site's WAN link for image uploads, Mbit/s (0: unlimited); see image_transfer.
        self.bandwidth_mbps = float(bandwidth_mbps)
        self.clouds: dict[str, Cloud] = {}
        self._sites: dict[str, Site] = {}
        self._by_path: dict[tuple[str, str], Site] = {}
        self._contents: dict[str, SiteContents] = {}
        self._contents_lock = threading.Lock()
        self.base_url = "http://127.0.0.1:0"
        self.refused_url = DEFAULT_REFUSED_URL
        self.blackhole_url = DEFAULT_REFUSED_URL
        self.tls_url = DEFAULT_REFUSED_URL
        self._build(sites)
        self.sites: list[str] = list(self._sites)
        self.fault_items = parse_faults(faults) if isinstance(faults, str | None) else list(faults)
        self._faults = assign_faults(
            self.fault_items,
            self.sites,
            cloud_of=lambda s: self._sites[s].cloud,
            eligible=[s.name for s in self._sites.values() if not s.core],
            seed=seed,
            has_service=lambda s, service: service != "volume" or self._sites[s].has_volume,
        )
        self._cloud_faults = self._keystone_faults()

    # -- shape ---------------------------------------------------------------

    def _build(self, n: int) -> None:
        layout: list[tuple[str, tuple[str, ...], bool]] = []
        if n >= CORE_MIN_SITES:
            layout += [(name, CORE_REGIONS, True) for name in CORE_CLOUDS]
            n -= len(CORE_CLOUDS) * len(CORE_REGIONS)
        layout += [(f"edge-{i:05d}", (EDGE_REGION,), False) for i in range(1, n + 1)]
        edge_names = [name for name, _regions, core in layout if not core]
        app_cred = self._app_cred_clouds(edge_names)
        seed = self.seed
        for name, regions, core in layout:
            cred = name in app_cred
            cloud = Cloud(
                name=name,
                regions=regions,
                core=core,
                user_id=_uuid_hex(seed, name, "user"),
                project_id=_uuid_hex(seed, name, "project"),
                workload_project_id=_uuid_hex(seed, name, "workloads"),
                password=_digest(seed, name, "password")[:24],
                app_cred_id=_uuid_hex(seed, name, "app-cred") if cred else None,
                app_cred_secret=_digest(seed, name, "app-cred-secret")[:32] if cred else None,
            )
            self.clouds[name] = cloud
            for region in regions:
                site_name = cloud.site_name(region)
                has_volume = core or _fraction(seed, site_name, "volume") < EDGE_VOLUME_SHARE
                site = Site(site_name, name, region, core, has_volume)
                self._sites[site_name] = site
                self._by_path[(name, region)] = site

    def _app_cred_clouds(self, edge_names: list[str]) -> set[str]:
        """A few edge clouds (2 %, at least one from 5 edge clouds) use app credentials."""
        if len(edge_names) < 5:
            return set()
        wanted = max(1, math.floor(len(edge_names) * APP_CRED_SHARE + 0.5))
        ranked = sorted(edge_names, key=lambda c: _digest(self.seed, c, "auth-type"))
        return set(ranked[:wanted])

    def site(self, name: str) -> Site:
        """The site called ``name`` (KeyError if there is none)."""
        return self._sites[name]

    def site_at(self, cloud: str, region: str) -> Site | None:
        """The site of ``cloud`` and ``region``, as found in a request path."""
        return self._by_path.get((cloud, region))

    def sites_of(self, cloud: str) -> list[Site]:
        return [self._by_path[(cloud, r)] for r in self.clouds[cloud].regions]

    def contents(self, name: str) -> SiteContents:
        """The site's seeded, mutable contents, generated on first use (KeyError: no site)."""
        found = self._contents.get(name)
        if found is not None:
            return found
        from edgeshade.sim.contents import generate

        site = self._sites[name]
        made = generate(self.seed, site, self.clouds[site.cloud])
        with self._contents_lock:  # two threads may race; keep the first
            return self._contents.setdefault(name, made)

    def generated(self) -> int:
        """How many sites have had their contents generated so far."""
        return len(self._contents)

    # -- faults --------------------------------------------------------------

    def faults_of(self, site_name: str) -> tuple[Fault, ...]:
        """Every fault of the site, in spec order (may be several with globs)."""
        if site_name not in self._sites:
            raise KeyError(site_name)
        return self._faults.get(site_name, ())

    def fault_of(self, site_name: str) -> Fault | None:
        """The site's (first) fault, or None for a healthy site."""
        found = self.faults_of(site_name)
        return found[0] if found else None

    def set_faults(self, site_name: str, faults: str | Sequence[Fault] | None = None) -> None:
        """Replace a site's faults while the fleet is served (a site going down, coming back).

        Endpoints in new tokens follow; ``refused`` then cuts off requests that
        reach the real port with an old catalog, as a site that went down would.
        """
        if site_name not in self._sites:
            raise KeyError(site_name)
        if isinstance(faults, str | None):  # kinds: "refused" or "slow:500,500@compute"
            kinds = [k.strip() for k in (faults or "").split(",") if k.strip()]
            items = parse_faults(",".join(f"{k}={site_name}" for k in kinds))
        else:
            items = list(faults)
        if items:
            self._faults[site_name] = tuple(items)
        else:
            self._faults.pop(site_name, None)
        self._cloud_faults = self._keystone_faults()

    def keystone_faults(self, cloud: str) -> tuple[Fault, ...]:
        """Faults that hit the cloud's Keystone (auth_url)."""
        return self._cloud_faults.get(cloud, ())

    def _keystone_faults(self) -> dict[str, tuple[Fault, ...]]:
        """A cloud's Keystone gets a fault only when every site of the cloud carries it.

        So single-region clouds share their site's faults with Keystone, and a
        fault on one region of a multi-region cloud leaves its Keystone alone.
        ``malformed``, ``truncated`` and ``hang-body`` without ``@identity``
        never reach Keystone: they are about the data the service APIs return
        (a garbled token answer would just be an auth failure).
        """
        out: dict[str, tuple[Fault, ...]] = {}
        for cloud in {self._sites[s].cloud for s in self._faults}:
            per_site = [self._faults.get(s.name, ()) for s in self.sites_of(cloud)]
            common = [
                f
                for f in per_site[0]
                if all(any(f is g for g in other) for other in per_site[1:])
                and f.applies_to("identity")
                and not (f.kind in _DATA_FAULTS and f.service is None)
            ]
            if common:
                out[cloud] = tuple(common)
        return out

    # -- URLs ----------------------------------------------------------------

    def bind(self, base_url: str, refused_url: str | None = None, *,
             blackhole_url: str | None = None, tls_url: str | None = None) -> None:
        """Record where the fleet is served (done by :class:`SimServer`)."""
        self.base_url = base_url.rstrip("/")
        if refused_url:
            self.refused_url = refused_url.rstrip("/")
        if blackhole_url:
            self.blackhole_url = blackhole_url.rstrip("/")
        if tls_url:
            self.tls_url = tls_url.rstrip("/")

    def uses(self, kind: str) -> bool:
        """Whether any fault of the spec is of ``kind`` (the server then opens its port)."""
        return any(f.kind == kind for f in self.fault_items)

    def _base(self, faults: Sequence[Fault], service: str) -> str:
        """Where requests to ``service`` go: the real port or the port a fault dictates."""
        for fault in faults:
            if fault.kind in _URL_FAULTS and fault.applies_to(service):
                return getattr(self, _URL_FAULTS[fault.kind])
        return self.base_url

    def auth_url(self, cloud: str) -> str:
        """The cloud's Keystone as written in clouds.yaml (unversioned)."""
        return f"{self._base(self.keystone_faults(cloud), 'identity')}/{cloud}/identity"

    def endpoint(self, site: Site, service: str, project_id: str = "") -> str:
        """The catalog URL of ``service`` at ``site`` (a fault's port if so faulted)."""
        faults = self._faults.get(site.name, ())
        if service == "identity":
            base = self._base(faults, "identity")
            if base == self.base_url:
                base = self._base(self.keystone_faults(site.cloud), "identity")
            return f"{base}/{site.cloud}/identity"
        base = self._base(faults, service)
        prefix = f"{base}/{site.cloud}/{site.region}"
        if service == "compute":
            return f"{prefix}/compute/v2.1"
        if service == "network":
            return f"{prefix}/network"
        if service == "volume":
            return f"{prefix}/volume/v3/{project_id}"
        if service == "image":
            return f"{prefix}/image"
        if service == "object-store":
            return f"{prefix}/object-store/v1/AUTH_{project_id}"
        if service == "orchestration":
            return f"{prefix}/orchestration/v1/{project_id}"
        raise ValueError(f"unknown service {service!r}")

    # -- config ----------------------------------------------------------------

    def write_config(self, directory: str, server_url: str | None = None) -> tuple[str, str]:
        """Write clouds.yaml and secure.yaml (mode 0600) for this fleet; returns their paths."""
        from edgeshade.sim.writeconfig import write_config

        if server_url:
            self.bind(server_url)
        return write_config(self, directory)

    def __repr__(self) -> str:
        return (
            f"SimFleet(sites={len(self.sites)}, seed={self.seed}, latency_ms={self.latency_ms:g}, "
            f"faults={','.join(map(str, self.fault_items))!r})"
        )
