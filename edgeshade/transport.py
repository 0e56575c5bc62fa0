"""HTTP for one site: a keystoneauth Session that knows the site's deadline.

Why keystoneauth and plain JSON, not openstacksdk proxies, for read-only
checks: keystoneauth gives us every auth plugin users configure (password,
application credentials, token, v3oidc...) and the catalog, while a plain GET
on the catalog endpoint costs ~0.5 ms of CPU against ~80 ms per site for
openstacksdk's connection set-up, service version discovery and resource
parsing. With the GIL, CPU per site is what bounds a thousand-site run, so
tasks that read use :class:`SiteSession` directly; tasks that change things
use the openstacksdk cloud layer built on the *same* session (same token,
same connection pool).

What this adds to keystoneauth's Session:

* a **site deadline**: every request's socket timeout is the time left, and
  no request starts after it, so one hanging site costs its own deadline only;
* **retries** that respect the deadline: connection resets and 502/503/504
  (honouring ``Retry-After``) are retried with jittered exponential backoff,
  at most ``retries`` times, never sleeping past the deadline;
* **cancellation**: a shared event stops the site between requests;
* **re-authentication once per token**: a 401 on a token-authenticated call
  invalidates the token and retries the call once. keystoneauth does this by
  itself, but not safely across threads: when a site's six parallel checks get
  a 401 together, only the first to invalidate retries and the others fail.
  Here the sessions of a cloud share a :class:`ReauthGuard`: one thread
  fetches the new token, the others retry with it, and a re-auth that fails
  (password rotated) is not attempted again by every thread;
* a per-site **call log** (method, URL, status, milliseconds) for ``--debug``
  and request counting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session

from edgeshade.errors import SiteAuthFailed, SiteCancelled, SiteTimedOut

LOG = logging.getLogger("edgeshade.http")

_RETRY_STATUSES = (502, 503, 504)
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
_RESET_MARKERS = ("reset", "aborted", "RemoteDisconnected", "Broken pipe", "EOF occurred")
#: A response whose body stopped short of its Content-Length (retried like a reset).
_TRUNCATED_MARKERS = ("IncompleteRead", "Connection broken")
_HINT_CONNECT = ("nothing answers at this address (a firewall, or a catalog endpoint not "
                 "reachable from here): check the URL and the interface (public/internal)")
_HINT_HANG = "the site accepted the request but did not answer; raise --timeout if it is slow"


class ReauthGuard:
    """Shared by the sessions of one auth plugin (one cloud): one re-auth per stale token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failed: tuple[str, str | None] | None = None  # (reason, hint) of a failed re-auth

    def renew(self, session: SiteSession, used_token: str) -> bool:
        """Make sure the plugin holds a token other than ``used_token``; False: cannot."""
        auth = session.auth
        with self.lock:
            if self.failed is not None:
                raise SiteAuthFailed(self.failed[0], hint=self.failed[1])
            ref = getattr(auth, "auth_ref", None)
            current = getattr(ref, "auth_token", None)
            if current is not None and current != used_token:
                return True  # another thread already re-authenticated
            if not auth.invalidate():
                return False
            try:
                auth.get_access(session)
            except ks_exc.Unauthorized as exc:
                from edgeshade.classify import classify

                state, reason, hint = classify(exc)
                self.failed = (f"re-authentication after a rejected token failed: {reason}",
                               hint)
                raise SiteAuthFailed(self.failed[0], hint=hint) from None
            return True


@dataclass
class Call:
    """One HTTP exchange, kept for --debug and request counting."""

    method: str
    url: str
    status: int | None
    ms: float
    attempt: int


class SiteSession(ks_session.Session):
    """keystoneauth Session with a deadline, bounded retries and cancellation."""

    def __init__(
        self,
        *args: Any,
        deadline: float | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        cancel: threading.Event | None = None,
        site_name: str = "",
        reauth: ReauthGuard | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reauth = reauth or ReauthGuard()
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.cancel = cancel
        self.site_name = site_name
        self.calls: list[Call] = []
        self._calls_lock = threading.Lock()

    def remaining(self) -> float | None:
        """Seconds left before the site's deadline (None: no deadline)."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise if the run was cancelled or the site is out of time."""
        if self.cancel is not None and self.cancel.is_set():
            raise SiteCancelled("cancelled")
        left = self.remaining()
        if left is not None and left <= 0:
            raise SiteTimedOut("deadline reached")

    def _sleep(self, delay: float, why: str) -> None:
        left = self.remaining()
        if left is not None and delay >= left:
            raise SiteTimedOut(f"{why}; retry in {delay:.1f} s would pass the deadline")
        if self.cancel is not None:
            if self.cancel.wait(delay):
                raise SiteCancelled("cancelled")
        else:
            time.sleep(delay)

    def _backoff_delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        base = self.backoff * (2**attempt)
        return base * (0.5 + random.random() / 2)  # jitter: sites must not retry in lockstep

    def request(self, url: str, method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        raise_exc = kwargs.pop("raise_exc", True)
        allow_reauth = kwargs.pop("allow_reauth", True)
        kwargs["allow_reauth"] = False  # done below, safely across threads
        kwargs.setdefault("connect_retries", 0)
        kwargs.setdefault("status_code_retries", 0)
        retriable_method = method.upper() in _IDEMPOTENT or url.endswith("/auth/tokens")
        attempt = 0
        reauthed = False
        while True:
            self.check()
            left = self.remaining()
            if left is not None:
                configured = self.timeout
                kwargs["timeout"] = min(left, configured) if configured else left
            started = time.monotonic()
            status: int | None = None
            try:
                resp = super().request(url, method, raise_exc=False, **kwargs)
                status = resp.status_code
            except (ks_exc.ConnectFailure, ks_exc.UnknownConnectionError) as exc:
                self._record(method, url, None, started, attempt)
                text = str(exc)
                left = self.remaining()
                if "timed out" in text and left is not None and left <= 0.05:
                    # requests reports a body read that stalls as a connection error
                    raise SiteTimedOut(
                        f"{_short(url)} stopped answering mid-response before the deadline",
                        hint=_HINT_HANG,
                    ) from None
                reset = any(m in text for m in _RESET_MARKERS + _TRUNCATED_MARKERS)
                if not (reset and retriable_method and attempt < self.retries):
                    raise
                self._sleep(self._backoff_delay(attempt, None), "connection reset")
                attempt += 1
                continue
            except ks_exc.ConnectTimeout as exc:
                self._record(method, url, None, started, attempt)
                left = self.remaining()
                if left is not None and left <= 0.05:
                    if isinstance(exc.__context__, requests.exceptions.ConnectTimeout):
                        where = _short(url).split("/", 1)[0]
                        raise SiteTimedOut(
                            f"no TCP answer from {where} before the deadline",
                            hint=_HINT_CONNECT,
                        ) from None
                    raise SiteTimedOut(
                        f"no answer from {_short(url)} before the deadline", hint=_HINT_HANG
                    ) from None
                raise
            finally:
                if status is not None:
                    self._record(method, url, status, started, attempt)
            if status == 401 and allow_reauth and not reauthed and self.auth is not None:
                used = resp.request.headers.get("X-Auth-Token") if resp.request else None
                if used and self.reauth.renew(self, used):
                    reauthed = True
                    continue
            if (
                status in _RETRY_STATUSES
                and attempt < self.retries
                and (retriable_method or status == 503)
            ):
                delay = self._backoff_delay(attempt, resp.headers.get("Retry-After"))
                self._sleep(delay, f"HTTP {status} from {_short(url)}")
                attempt += 1
                continue
            if raise_exc and status >= 400:
                raise ks_exc.from_response(resp, method, url)
            return resp

    def _record(self, method: str, url: str, status: int | None, started: float, attempt: int):
        ms = (time.monotonic() - started) * 1000
        with self._calls_lock:
            self.calls.append(Call(method, url, status, ms, attempt))
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug(
                "%s %s %s -> %s in %.0f ms%s",
                self.site_name,
                method,
                url,
                status if status is not None else "no response",
                ms,
                f" (retry {attempt})" if attempt else "",
            )


def _short(url: str) -> str:
    """``http://host:port/a/b/c`` -> ``host:port/a/b/c`` for one-line reasons."""
    return url.split("://", 1)[-1]
