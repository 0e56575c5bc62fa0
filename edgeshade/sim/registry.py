"""How simulated APIs plug in: a route registry, the per-request context, reply helpers.

Why a registry of our own rather than aiohttp routes: 10,000 sites would mean
hundreds of thousands of aiohttp routes, so the server has one catch-all
handler (:mod:`edgeshade.sim.app`) that parses ``/{cloud}/{region}/{service}``
itself and looks the rest of the path up here. A new API call is one
decorated function in a service module, nothing in the core::

    @route("compute", "POST", "/v2.1/servers")
    async def create_server(call: Call) -> web.Response:
        body = await call.json()
        ...
        return reply({"server": {...}}, status=202)

Paths are relative to the service root (``/{cloud}/{region}/compute``),
without a trailing slash (the root itself is ``""``); ``{name}`` segments are
parameters (``call.params``). Handlers may be plain or async functions, and
raise :class:`ApiError` for an error answer in the service's own format.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

if TYPE_CHECKING:
    from edgeshade.sim.contents import SiteContents
    from edgeshade.sim.model import Cloud, SimFleet, Site
    from edgeshade.sim.tokens import TokenInfo, TokenStore

Handler = Callable[["Call"], "web.StreamResponse | Awaitable[web.StreamResponse]"]

#: Who may call a route: anyone (version documents), a valid token of the
#: cloud, or the token request itself (where a ``401`` fault bites).
AUTH_NONE, AUTH_TOKEN, AUTH_CREDENTIALS = "none", "token", "credentials"


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    service: str
    method: str
    pattern: str
    handler: Handler
    auth: str
    is_async: bool
    segments: tuple[str, ...]


class Registry:
    """Routes by (service, method, path): static paths by dict, parameters by segments."""

    def __init__(self) -> None:
        self._static: dict[tuple[str, str, str], Route] = {}
        self._dynamic: dict[tuple[str, str, int], list[Route]] = {}

    def add(self, service: str, method: str, pattern: str, handler: Handler,
            auth: str = AUTH_TOKEN) -> Route:
        pattern = pattern.rstrip("/")
        segments = tuple(pattern.split("/"))
        route = Route(service, method.upper(), pattern, handler, auth,
                      inspect.iscoroutinefunction(handler), segments)
        if "{" in pattern:
            key = (service, route.method, len(segments))
            self._dynamic.setdefault(key, []).append(route)
        else:
            if (service, route.method, pattern) in self._static:
                raise ValueError(f"duplicate sim route {method} {service} {pattern}")
            self._static[(service, route.method, pattern)] = route
        return route

    def match(self, service: str, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        """The route for ``path`` (no trailing slash) and its parameters; HEAD falls back to GET."""
        route = self._static.get((service, method, path))
        if route is not None:
            return route, {}
        segments = path.split("/")
        for candidate in self._dynamic.get((service, method, len(segments)), ()):
            params: dict[str, str] = {}
            for want, got in zip(candidate.segments, segments, strict=True):
                if want[:1] == "{":
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return candidate, params
        if method == "HEAD":
            return self.match(service, "GET", path)
        return None, {}

    def routes(self) -> list[Route]:
        return [*self._static.values(), *(r for rs in self._dynamic.values() for r in rs)]


ROUTES = Registry()


def route(service: str, method: str, pattern: str, *, auth: str = AUTH_TOKEN
          ) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method`` ``pattern`` of ``service`` (see module docstring)."""

    def register(handler: Handler) -> Handler:
        ROUTES.add(service, method, pattern, handler, auth)
        return handler

    return register


class ApiError(Exception):
    """An error answer; the service module formats the body as the real service does."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class Call:
    """One request as a handler sees it: the site, its contents, the token, parameters."""

    __slots__ = ("request", "fleet", "tokens", "cloud", "site", "service", "params", "token",
                 "root")

    def __init__(self, request: web.BaseRequest, fleet: SimFleet, tokens: TokenStore,
                 cloud: Cloud, site: Site | None, service: str, params: dict[str, str],
                 root: str) -> None:
        self.request = request
        self.fleet = fleet
        self.tokens = tokens
        self.cloud = cloud
        self.site = site  # None for Keystone, which serves the cloud, not one region
        self.service = service
        self.params = params
        self.token: TokenInfo | None = None
        self.root = root  # absolute URL of the service root, for links

    @property
    def contents(self) -> SiteContents:
        assert self.site is not None
        return self.fleet.contents(self.site.name)

    @property
    def query(self) -> Any:
        return self.request.query

    @property
    def project_id(self) -> str:
        """The token's project (the admin project of the cloud when unscoped)."""
        if self.token is not None and self.token.project_id:
            return self.token.project_id
        return self.cloud.project_id

    async def json(self) -> Any:
        """The request body as JSON, or a 400 ApiError."""
        raw = await self.request.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise ApiError(400, "Malformed request body: invalid JSON") from None

    def link(self, path: str, **query: Any) -> str:
        """Absolute URL under this service's root, with a query string."""
        qs = urlencode([(k, v) for k, v in query.items() if v is not None])
        return f"{self.root}{path}{'?' + qs if qs else ''}"


# -- replies --------------------------------------------------------------------------


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer."""
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        headers=headers, content_type="application/json")


def empty(status: int = 204, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)


# -- formatting and query helpers -------------------------------------------------------

_now_cache: list[Any] = [0, "", ""]


def now_iso() -> str:
    """Current UTC time as ``2024-05-01T12:00:00Z`` (cached per second: heartbeats)."""
    second = int(time.time())
    if _now_cache[0] != second:
        stamp = datetime.fromtimestamp(second, UTC)
        _now_cache[:] = [second, stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         stamp.strftime("%Y-%m-%d %H:%M:%S")]
    return _now_cache[1]


def now_neutron() -> str:
    """Current UTC time in Neutron's agent format (``2024-05-01 12:00:00``)."""
    now_iso()
    return _now_cache[2]


def iso(when: datetime | None, micro: bool = False) -> str | None:
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def truthy(value: str | None) -> bool:
    """Query flags as OpenStack reads them (``all_tenants=1``, ``=True``, bare ``=``)."""
    return value is not None and value.strip().lower() not in ("0", "false", "off", "no", "f")


def int_param(query: Any, name: str, default: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid input for query parameters {name}. Value: {raw}.") from None
    if value < 0:
        raise ApiError(400, f"Invalid input for query parameters {name}. Value: {raw}.")
    return value


def paginate(items: Sequence[Any], query: Any, *, key: str = "id", max_limit: int = 1000
             ) -> tuple[list[Any], str | None]:
    """``limit``/``marker`` paging: the page and the marker of the next one (None: last page).

    Items are objects or dicts; ``key`` names the attribute (or key) markers refer to.
    """
    def key_of(item: Any) -> str:
        return str(item[key] if isinstance(item, dict) else getattr(item, key))

    start = 0
    marker = query.get("marker")
    if marker:
        for i, item in enumerate(items):
            if key_of(item) == marker:
                start = i + 1
                break
        else:
            raise ApiError(400, f"marker [{marker}] not found")
    limit = int_param(query, "limit")
    size = max_limit if limit is None else min(limit, max_limit)
    page = list(items[start : start + size])
    more = start + size < len(items)
    return page, (key_of(page[-1]) if more and page else None)


def parse_microversion(call: Call, service: str, header: str | None, minimum: tuple[int, int],
                       maximum: tuple[int, int]) -> tuple[tuple[int, int], dict[str, str]]:
    """The requested microversion (default: the minimum) and the headers to answer with.

    Reads ``OpenStack-API-Version: {service} X.Y`` (or the legacy header), as
    Nova and Cinder do; ``latest`` means the maximum; out of range is 406.
    """
    headers = call.request.headers
    raw = None
    value = headers.get("OpenStack-API-Version")
    if value:
        for part in value.split(","):
            name, _, ver = part.strip().partition(" ")
            if name.lower() == service:
                raw = ver.strip()
    if raw is None and header:
        raw = headers.get(header)
    if not raw:
        version = minimum
    elif raw.lower() == "latest":
        version = maximum
    else:
        major, _, minor = raw.partition(".")
        try:
            version = (int(major), int(minor or 0))
        except ValueError:
            raise ApiError(400, f"Invalid API version request: {raw}") from None
        if not minimum <= version <= maximum:
            raise ApiError(
                406,
                f"Version {raw} is not supported by the API. Minimum is "
                f"{minimum[0]}.{minimum[1]} and maximum is {maximum[0]}.{maximum[1]}.",
            )
    text = f"{version[0]}.{version[1]}"
    out = {"OpenStack-API-Version": f"{service} {text}",
           "Vary": "OpenStack-API-Version"}
    if header:
        out[header] = text
        out["Vary"] = f"OpenStack-API-Version, {header}"
    return version, out
