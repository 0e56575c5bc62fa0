"""The one request handler behind every simulated site.

Why one catch-all handler: per-site aiohttp routes would cost memory and
start-up time proportional to the fleet (10,000 sites x 5 services), while
parsing ``/{cloud}/{region}/{service}/...`` ourselves is a few string
operations. Per request: find the site, count it, apply latency and faults,
check the token, dispatch through :data:`edgeshade.sim.registry.ROUTES`.

What a client sees for each fault (``SERVICE`` scoping limits it to one API;
a single-region cloud's Keystone shares its site's faults, see
:meth:`SimFleet.keystone_faults`):

=============  =========================================================================
``refused``    endpoints (or the auth_url) point to a port where nothing listens:
               ECONNREFUSED. A request reaching the real port anyway is cut off.
``blackhole``  endpoints (or the auth_url) point to a port whose accept queue is full:
               the TCP connect gets no answer at all (a firewall dropping packets, a
               catalog listing an address not routable from the client).
``tls``        endpoints (or the auth_url) are ``https://`` on a TLS port with a
               self-signed certificate: clients verifying against system CAs refuse it.
``hang``       accept-then-hang: the request is read and never answered (cancelled
               when the client disconnects or the server stops; at most an hour).
``hang-body``  200 and the headers with the full Content-Length, half the body, then
               nothing more (same release rules as ``hang``).
``slow:MS``    MS milliseconds more before answering, on top of the fleet latency.
``500``        HTTP 500, JSON error body in the service's format.
``503:S``      HTTP 503 with ``Retry-After: S``, every time.
``flaky:N``    the first N requests to each distinct path of the site answer 503 with
               ``Retry-After: 0``, then normal answers.
``401``        Keystone rejects the credentials; service endpoints (a region of a
               multi-region cloud, or ``401@compute``) answer 401 to every
               authenticated call. Version documents still answer.
``expire``     the first token presented to the site's service APIs is refused (401,
               an expired token); a new token from Keystone works.
``rotated``    the password changes mid-run: the first token presented to the
               services is refused (401, revoked) and from then on Keystone refuses
               the credentials in the config.
``malformed``  200 with the body cut in half (invalid JSON); Keystone keeps working.
``truncated``  200 with the full Content-Length, then the connection closes after
               half the body (a link dropped mid-transfer); Keystone keeps working.
``404``        the endpoint answers 404 to everything, version documents included.
=============  =========================================================================
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from edgeshade.sim.faults import Fault
from edgeshade.sim.model import Cloud, SimFleet
from edgeshade.sim.registry import AUTH_NONE, AUTH_TOKEN, ROUTES, ApiError, Call, reply
from edgeshade.sim.services import ERROR_BODIES, SERVICES, image_transfer
from edgeshade.sim.services.identity import error_body as keystone_error
from edgeshade.sim.services.identity import unauthorized
from edgeshade.sim.tokens import TokenStore

LOG = logging.getLogger("edgeshade.sim")

#: A hanging request is dropped after this long even if the client stays.
HANG_SECONDS = 3600.0
_SITE_SERVICES = frozenset(s for s in SERVICES if s != "identity")


class Stats:
    """Request counters: total, per site, per (method, service, route), per status.

    Keystone of a multi-region cloud serves all its regions, so its requests
    are counted under the cloud name; everything else under the site name.
    Paths outside any simulated cloud and ``/_sim/*`` are not counted.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_site: dict[str, int] = {}
        self.by_kind: dict[tuple[str, str, str], int] = {}
        self.by_status: dict[int, int] = {}
        self.since = time.time()

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "sites_seen": len(self.by_site),
            "seconds": round(time.time() - self.since, 3),
            "by_site": dict(self.by_site),
            "by_kind": {" ".join(k): v for k, v in sorted(self.by_kind.items())},
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
        }


class SimApp:
    """The aiohttp handler: ``web.Server(SimApp(fleet))``."""

    def __init__(self, fleet: SimFleet, tokens: TokenStore | None = None) -> None:
        self.fleet = fleet
        self.tokens = tokens or TokenStore()
        self.stats = Stats()
        self._flaky: dict[str, dict[str, int]] = {}
        self._first_token: dict[str, str] = {}  # ``expire``/``rotated``: the token to refuse
        self._rotated: set[str] = set()  # clouds whose password ``rotated`` has changed
        self.hanging = 0  # requests held by a ``hang``/``hang-body`` fault right now

    def reset(self) -> None:
        """Zero the counters and the ``flaky`` budgets: a rehearsal starts afresh."""
        self.stats.reset()
        self._flaky.clear()
        self._first_token.clear()
        self._rotated.clear()
        image_transfer.reset(self.fleet)
        from edgeshade.sim.config_state import reset_object_bytes

        reset_object_bytes(self.fleet)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        parts = request.path.split("/")
        if len(parts) > 1 and parts[1] == "_sim":
            return await self._admin(request, parts)
        cloud = self.fleet.clouds.get(parts[1]) if len(parts) > 2 else None
        if cloud is None:  # not a simulated endpoint: not counted
            return _not_found()
        segment = parts[2]
        if segment == "identity":
            service, site, key = "identity", None, cloud.name
            faults: Sequence[Fault] = self.fleet.keystone_faults(cloud.name)
            rest = parts[3:]
        else:
            site = self.fleet.site_at(cloud.name, segment)
            service = parts[3] if len(parts) > 3 else ""
            if site is None or service not in _SITE_SERVICES or (
                service == "volume" and not site.has_volume
            ):
                return _not_found()
            key = site.name
            faults = self.fleet.faults_of(key)
            if faults:
                faults = [f for f in faults if f.applies_to(service)]
            rest = parts[4:]
        path = "/".join(rest).rstrip("/")
        path = "/" + path if path else ""
        stats = self.stats
        stats.total += 1
        stats.by_site[key] = stats.by_site.get(key, 0) + 1
        method = request.method
        route, params = ROUTES.match(service, method, path)
        kind = (method, service, (route.pattern or "/") if route else "?")
        stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1

        delay = self.fleet.latency_ms
        malformed = False
        cut: str | None = None  # "truncated" or "hang-body"
        if faults:
            for fault in faults:
                if fault.kind == "slow":
                    delay += float(fault.arg or 0)
                elif fault.kind == "malformed":
                    malformed = True
                elif fault.kind in ("truncated", "hang-body"):
                    cut = fault.kind
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        if faults:
            answer = await self._fault_answer(request, faults, key, service, cloud, route)
            if answer is not None:
                return self._finish(answer)

        if route is None:
            return self._finish(self._error(service, 404, "The resource could not be found."))
        root = f"{self.fleet.base_url}/{cloud.name}/" + (
            "identity" if site is None else f"{site.region}/{service}"
        )
        call = Call(request, self.fleet, self.tokens, cloud, site, service, params, root)
        if route.auth == AUTH_TOKEN:
            info = self.tokens.lookup(request.headers.get("X-Auth-Token"), cloud.name)
            if info is None or (site is not None and info.project_id is None):
                return self._finish(unauthorized(self.fleet, cloud.name))
            call.token = info
        try:
            response = route.handler(call)
            if route.is_async:
                response = await response  # type: ignore[misc]
        except ApiError as exc:
            response = self._error(service, exc.status, exc.message, exc.headers)
        except Exception:  # a sim bug must look like a broken service, not kill the server
            LOG.exception("simulated %s %s %s failed", service, method, path)
            response = self._error(service, 500, "Unexpected simulator error")
        if malformed and isinstance(response, web.Response) and response.body:
            body = bytes(response.body)  # type: ignore[arg-type]
            response.body = body[: max(1, len(body) // 2)]
        if cut and isinstance(response, web.Response) and response.body:
            return await self._cut_short(request, response, cut)
        return self._finish(response)  # type: ignore[arg-type]

    async def _cut_short(self, request: web.BaseRequest, response: web.Response,
                         how: str) -> web.StreamResponse:
        """Send the headers (full Content-Length) and half the body, then stall or hang up."""
        body = bytes(response.body)  # type: ignore[arg-type]
        partial = web.StreamResponse(status=response.status, headers=response.headers)
        partial.content_length = len(body)
        self._finish(partial)
        await partial.prepare(request)
        await partial.write(body[: max(1, len(body) // 2)])
        if how == "truncated":
            if request.transport is not None:
                request.transport.close()  # flushes what was written, then FIN
            raise asyncio.CancelledError
        self.hanging += 1
        try:
            await asyncio.sleep(HANG_SECONDS)
        finally:
            self.hanging -= 1
        return partial

    # -- faults ----------------------------------------------------------------

    async def _fault_answer(self, request: web.BaseRequest, faults: Sequence[Fault], key: str,
                            service: str, cloud: Cloud, route: Any) -> web.StreamResponse | None:
        """The answer the first applicable fault dictates, or None to answer normally."""
        for fault in faults:
            kind = fault.kind
            if kind in ("slow", "malformed", "truncated", "hang-body", "blackhole", "tls"):
                continue
            if kind == "refused":  # only reached by clients ignoring the catalog: hang up
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # aiohttp then drops the connection silently
            if kind == "hang":
                self.hanging += 1
                try:
                    await asyncio.sleep(HANG_SECONDS)
                finally:
                    self.hanging -= 1
                return self._error(service, 503, "Hung request released")
            if kind == "500":
                return self._error(service, 500, "Simulated internal error")
            if kind == "503":
                return self._error(service, 503, "Simulated: service unavailable",
                                   {"Retry-After": str(int(fault.arg or 0))})
            if kind == "flaky":
                seen = self._flaky.setdefault(key, {})
                count = seen.get(request.path, 0)
                if count < int(fault.arg or 1):
                    seen[request.path] = count + 1
                    return self._error(service, 503, "Simulated: flaky, retry",
                                       {"Retry-After": "0"})
                continue
            if kind == "401":
                if route is None or route.auth == AUTH_NONE:
                    continue
                if service == "identity":
                    return self._error(service, 401,
                                       "The request you have made requires authentication.",
                                       {"WWW-Authenticate":
                                        f'Keystone uri="{self.fleet.auth_url(cloud.name)}"'})
                return unauthorized(self.fleet, cloud.name)
            if kind == "404":
                return self._error(service, 404, "The resource could not be found.")
            if kind in ("expire", "rotated"):
                refused = self._token_fault(request, kind, key, service, cloud, route)
                if refused is not None:
                    return refused
        return None

    def _token_fault(self, request: web.BaseRequest, kind: str, key: str, service: str,
                     cloud: Cloud, route: Any) -> web.Response | None:
        """``expire``/``rotated``: refuse the site's first token, then (rotated) the password."""
        if route is None:
            return None
        if service == "identity":
            if kind == "rotated" and route.auth != AUTH_NONE and cloud.name in self._rotated:
                return self._error(service, 401,
                                   "The request you have made requires authentication.")
            return None
        if route.auth != AUTH_TOKEN:
            return None
        token = request.headers.get("X-Auth-Token") or ""
        first = self._first_token.setdefault(key, token)
        if token != first:
            return None
        if kind == "rotated":
            self._rotated.add(cloud.name)
        return unauthorized(self.fleet, cloud.name)

    # -- helpers -----------------------------------------------------------------

    def _error(self, service: str, status: int, message: str,
               headers: dict[str, str] | None = None) -> web.Response:
        fmt = ERROR_BODIES.get(service, keystone_error)
        return reply(fmt(status, message), status=status, headers=headers)

    def _finish(self, response: web.StreamResponse) -> web.StreamResponse:
        response.headers["X-OpenStack-Request-Id"] = f"req-{uuid.uuid4()}"
        status = response.status
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        return response

    async def _admin(self, request: web.BaseRequest, parts: list[str]) -> web.StreamResponse:
        """``GET /_sim/stats``, ``POST /_sim/reset``, ``GET /_sim/fleet`` (not counted)."""
        what = "/".join(parts[2:]).rstrip("/")
        if what == "stats" and request.method == "GET":
            return reply(self.snapshot())
        if what == "reset" and request.method == "POST":
            self.reset()
            return reply({"reset": True})
        if what == "fleet" and request.method == "GET":
            fleet = self.fleet
            return reply({
                "sites": len(fleet.sites),
                "clouds": len(fleet.clouds),
                "seed": fleet.seed,
                "latency_ms": fleet.latency_ms,
                "bandwidth_mbps": fleet.bandwidth_mbps,
                "base_url": fleet.base_url,
                "refused_url": fleet.refused_url,
                "faults": {s: [str(f) for f in fleet.faults_of(s)]
                           for s in fleet.sites if fleet.faults_of(s)},
            })
        return reply(keystone_error(404, "unknown simulator endpoint (stats, reset, fleet)"),
                     status=404)

    def snapshot(self) -> dict[str, Any]:
        """Stats plus a few gauges (must run on the server's loop thread)."""
        snap = self.stats.snapshot()
        snap["tokens"] = len(self.tokens)
        snap["hanging"] = self.hanging
        snap["sites_generated"] = self.fleet.generated()
        snap["images"] = image_transfer.snapshot(self.fleet)
        from edgeshade.sim.config_state import object_bytes

        snap["object_bytes_in"] = object_bytes(self.fleet)
        return snap


def _not_found() -> web.Response:
    return reply(keystone_error(404, "The resource could not be found."), status=404)
