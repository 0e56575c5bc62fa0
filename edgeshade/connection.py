"""What a task receives as ``conn``: one site's authenticated connection.

:class:`Connector` is built once per run. It shares what sites of a run can
share — the loaded config, one discovery cache (persisted in the state
store), one auth plugin (and so one token) per cloud across its regions, the
opt-in token cache — and gives each site its own :class:`SiteConnection` with
its own connection pool and deadline.

A task uses ``conn.get(service_type, path)`` for plain JSON reads (cheap: no
service version discovery, the catalog URL is used as is) and ``conn.cloud``
for the openstacksdk cloud layer when it changes things (built lazily on the
same keystoneauth session, so it reuses the token and the deadline).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from keystoneauth1 import discover as ks_discover

from edgeshade.config import FleetConfig, Site
from edgeshade.errors import MalformedResponse, SiteTimedOut
from edgeshade.state import DISCOVERY_TTL, StateStore, TokenCache
from edgeshade.transport import ReauthGuard, SiteSession

#: Service types tried in order for each kind of service (catalog aliases).
SERVICE_ALIASES: dict[str, tuple[str, ...]] = {
    "compute": ("compute",),
    "network": ("network",),
    "block-storage": ("block-storage", "volumev3", "volume"),
    "image": ("image",),
    "identity": ("identity",),
    "orchestration": ("orchestration",),
}
#: API version appended when the catalog URL carries none (Neutron and Glance
#: catalogs are usually unversioned).
_VERSION_SUFFIX = {"compute": "v2.1", "network": "v2.0", "image": "v2", "block-storage": "v3"}
_HAS_VERSION = re.compile(r"/v\d+(\.\d+)?(/|$)")
#: How long parallel() waits past the deadline for calls to end with their own reason
#: (well inside the fleet watchdog's grace).
_CALL_GRACE = 0.2


def _environment_settings() -> tuple[bool, str | None]:
    """(trust_env, CA bundle) so requests need not re-read os.environ per request.

    requests scans the whole environment for proxies on every request (~0.3 ms
    of CPU, a third of a plain GET). Without proxy variables that scan finds
    nothing, so edgeshade turns it off and applies the one thing it would
    find, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, itself. With proxies set,
    requests keeps reading the environment (no_proxy is per URL).
    """
    import urllib.request

    if urllib.request.getproxies():
        return True, None
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return False, bundle or None


def _discovery_from_data(url: str, data: list[dict[str, Any]]) -> ks_discover.Discover:
    """Rebuild a keystoneauth Discover from its cached version list.

    Relies on Discover keeping ``_url`` and ``_data``; pinned by a unit test.
    """
    disc = ks_discover.Discover.__new__(ks_discover.Discover)
    disc._url = url
    disc._data = data
    return disc


def _reject_constant(name: str) -> Any:
    """Strict JSON: Python's decoder takes NaN and Infinity, which no OpenStack API sends."""
    raise ValueError(f"{name} is not JSON")


class Connector:
    """Opens :class:`SiteConnection` objects for one run."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        store: StateStore | None = None,
        token_cache: TokenCache | None = None,
        retries: int = 2,
        call_timeout: float | None = None,
        subcall_workers: int = 64,
    ) -> None:
        self.config = config
        self.store = store
        self.token_cache = token_cache
        self.retries = retries
        self.call_timeout = call_timeout
        self.discovery_cache: dict[str, Any] = {}
        self._loaded_discovery: set[str] = set()
        if store is not None:
            for url, data in store.cache_get("discovery", max_age=DISCOVERY_TTL).items():
                self.discovery_cache[url] = _discovery_from_data(url, data)
                self._loaded_discovery.add(url)
        self._plugins: dict[str, Any] = {}
        self._reauth: dict[str, ReauthGuard] = {}
        self._trust_env, self._env_ca_bundle = _environment_settings()
        self._plugins_lock = threading.Lock()
        self._subcalls = cf.ThreadPoolExecutor(
            max_workers=subcall_workers, thread_name_prefix="edgeshade-call"
        )

    def _auth_for(self, site: Site, cloud_region: Any) -> Any:
        """One auth plugin per cloud: its regions share discovery and the token."""
        with self._plugins_lock:
            plugin = self._plugins.get(site.cloud)
            if plugin is not None:
                return plugin
            plugin = cloud_region.get_auth()
            if self.token_cache is not None and plugin is not None:
                key = self._token_key(site, cloud_region)
                state = self.token_cache.get(key)
                if state and hasattr(plugin, "set_auth_state"):
                    plugin.set_auth_state(state)
            self._plugins[site.cloud] = plugin
            self._reauth[site.cloud] = ReauthGuard()
            return plugin

    @staticmethod
    def _token_key(site: Site, cloud_region: Any) -> str:
        return TokenCache.key(site.cloud, dict(cloud_region.config.get("auth") or {}))

    def open(
        self, site: Site, *, deadline: float | None, cancel: threading.Event | None
    ) -> SiteConnection:
        cloud_region = self.config.cloud_region(site)
        auth = self._auth_for(site, cloud_region)
        verify, cert = cloud_region.get_requests_verify_args()
        if verify is True and not self._trust_env and self._env_ca_bundle:
            verify = self._env_ca_bundle
        session = SiteSession(
            auth=auth,
            verify=verify,
            cert=cert,
            timeout=self.call_timeout or cloud_region.config.get("api_timeout"),
            discovery_cache=self.discovery_cache,
            app_name="edgeshade",
            deadline=deadline,
            retries=self.retries,
            cancel=cancel,
            site_name=site.name,
            reauth=self._reauth.get(site.cloud),
        )
        session.session.trust_env = self._trust_env
        cloud_region._keystone_session = session  # the sdk layer reuses our session
        return SiteConnection(site, cloud_region, session, self)

    def close_site(self, conn: SiteConnection) -> None:
        """Release the site's sockets and keep its token if the user opted in."""
        if self.token_cache is not None and conn.session.auth is not None:
            plugin = conn.session.auth
            if hasattr(plugin, "get_auth_state"):
                try:
                    state = plugin.get_auth_state()
                except Exception:  # noqa: BLE001 - a plugin without state support
                    state = None
                self.token_cache.put(self._token_key(conn.site, conn.cloud_region), state)
        conn.session.session.close()

    def close(self) -> None:
        """Persist discovery and tokens; stop the sub-call pool."""
        self._subcalls.shutdown(wait=False, cancel_futures=True)
        if self.store is not None:
            fresh = {
                url: disc._data
                for url, disc in list(self.discovery_cache.items())
                if url not in self._loaded_discovery and getattr(disc, "_data", None)
            }
            if fresh:
                self.store.cache_put("discovery", fresh)
        if self.token_cache is not None:
            self.token_cache.save()


class SiteConnection:
    """One site's connection, handed to tasks as ``conn``."""

    def __init__(self, site: Site, cloud_region: Any, session: SiteSession, connector: Connector):
        self.site = site
        self.cloud_region = cloud_region
        self.session = session
        self._connector = connector
        self._endpoints: dict[str, str | None] = {}
        self._catalogs: dict[str, dict[str, str]] = {}
        self._sdk: Any = None

    # -- time --------------------------------------------------------------

    def remaining(self) -> float | None:
        return self.session.remaining()

    def check(self) -> None:
        """Stop here if the run was cancelled or the deadline passed."""
        self.session.check()

    # -- identity ----------------------------------------------------------

    def authenticate(self) -> float:
        """Get a token (or reuse the cloud's); returns the seconds it took."""
        started = time.monotonic()
        self.session.get_token()
        return time.monotonic() - started

    @property
    def project_id(self) -> str | None:
        return self.session.get_project_id()

    # -- catalog -----------------------------------------------------------

    def endpoint(self, service: str) -> str | None:
        """Versioned endpoint of ``service`` for this site's region, or None if absent."""
        if service in self._endpoints:
            return self._endpoints[service]
        # Read clouds.yaml overrides straight from the config dict: CloudRegion's
        # getters deep-copy the whole config on every call (~1 ms each).
        conf = self.cloud_region.config
        key = service.replace("-", "_")
        url = conf.get(f"{key}_endpoint_override") or conf.get(f"{key}_endpoint")
        if not url:
            interface = conf.get(f"{key}_interface") or conf.get("interface") or "public"
            catalog = self._catalog(interface)
            for service_type in SERVICE_ALIASES.get(service, (service,)):
                if catalog.get(service_type):
                    url = catalog[service_type]
                    break
        if url:
            url = url.rstrip("/")
            suffix = _VERSION_SUFFIX.get(service)
            if suffix and not _HAS_VERSION.search(url.split("://", 1)[-1]):
                url = f"{url}/{suffix}"
                if service == "block-storage" and self.project_id:
                    url = f"{url}/{self.project_id}"
        self._endpoints[service] = url
        return url

    def _catalog(self, interface: str) -> dict[str, str]:
        """Service type -> URL for this site's region, from one pass over the catalog."""
        if interface not in self._catalogs:
            access = self.session.auth.get_access(self.session)
            found = access.service_catalog.get_endpoints(
                interface=interface, region_name=self.site.region or None
            )
            self._catalogs[interface] = {
                stype: eps[0]["url"] for stype, eps in found.items() if eps and eps[0].get("url")
            }
        return self._catalogs[interface]

    def has_service(self, service: str) -> bool:
        return self.endpoint(service) is not None

    # -- plain JSON ----------------------------------------------------------

    def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One call to ``service``; returns the decoded JSON (None for an empty body).

        Plain dicts and lists, not Munch: munchifying a large server list costs
        more CPU than fetching it. Results are Munch (SiteResult.data).
        """
        base = self.endpoint(service)
        if base is None:
            raise MalformedResponse(f"{service} is not in the catalog of {self.site.name}")
        url = f"{base}/{path.lstrip('/')}"
        resp = self.session.request(
            url, method, params=params, json=json_body, headers=headers or {}
        )
        if not resp.content:
            return None
        try:
            return json.loads(resp.content, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise MalformedResponse(f"malformed JSON from {service} {path}") from None

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.request("GET", service, path, params=params or None)

    # -- parallel sub-calls --------------------------------------------------

    def parallel(self, calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Run independent calls of this site at once; each value is a result or exception.

        The fleet bounds sites; this bounds nothing more than the sub-call pool,
        so a site's checks take one round trip instead of one per check.
        """
        futures = {name: self._connector._subcalls.submit(fn) for name, fn in calls.items()}
        left = self.remaining()
        # A moment past the deadline: calls then end with their own, more precise,
        # timeout (connect vs read) since their socket timeouts are the time left.
        done, pending = cf.wait(
            futures.values(), timeout=None if left is None else max(0.0, left) + _CALL_GRACE
        )
        results: dict[str, Any] = {}
        for name, fut in futures.items():
            if fut in pending:
                fut.cancel()
                results[name] = SiteTimedOut(
                    "no answer before the deadline",
                    hint="the site accepted the request but did not answer; "
                    "raise --timeout if it is slow",
                )
            elif fut.exception() is not None:
                results[name] = fut.exception()
            else:
                results[name] = fut.result()
        return results

    # -- openstacksdk ----------------------------------------------------------

    @property
    def cloud(self) -> Any:
        """openstacksdk Connection (cloud layer and proxies) on this site's session."""
        if self._sdk is None:
            import openstack.connection

            self._sdk = openstack.connection.Connection(
                config=self.cloud_region, strict_proxies=False
            )
        return self._sdk

    @property
    def calls(self) -> list[Any]:
        """HTTP exchanges made for this site so far (for --debug and counting)."""
        return list(self.session.calls)
