"""Turn whatever a task raised into one site state, a one-line reason and a hint.

Tasks stay simple because of this: they call the cloud and let exceptions
fly; the fleet classifies. The mapping (documented in README "Site states"):

========================================  ============  ==========================
exception                                 state         typical cause
========================================  ============  ==========================
SiteError subclasses                      their own     raised on purpose by a task
connection refused / DNS / unreachable    unreachable   site down, VPN down
TLS verification failure                  unreachable   self-signed cert, wrong CA
timeout / deadline                        timed_out     hanging or very slow site
HTTP 401 / 403 while authenticating       auth_failed   wrong or expired credentials
auth plugin could not load / missing opt  error         clouds.yaml problem for one cloud
HTTP 5xx from Keystone                    critical      Keystone failing
other HTTP errors                         critical      a service failing
bad JSON / unexpected shapes              error         garbage from the site
                                                        (tasks raise MalformedResponse)
anything else                             error         a bug: the exception type is named
========================================  ============  ==========================
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from keystoneauth1 import exceptions as ks_exc

from edgeshade.errors import SiteError

#: The first URL in a message, without its scheme ("host:port/path").
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(\S+?)(?=:\s|\s|$)")
#: OpenSSL's reason in "certificate verify failed: self-signed certificate (_ssl.c:1000)".
_CERT_FAILED = re.compile(r"certificate verify failed: ([^()'\"]+)")


class Classified(NamedTuple):
    state: str
    reason: str
    hint: str | None = None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _http_reason(exc: ks_exc.HttpError) -> str:
    url = getattr(exc, "url", None) or ""
    where = url.split("://", 1)[-1].split("?", 1)[0] if url else ""
    status = getattr(exc, "http_status", None) or "?"
    text = f"HTTP {status}"
    if where:
        text += f" from {where}"
    return text


_HINT_TIMEOUT = "the site did not answer in time; raise --timeout if it is only slow"


def _http_hint(status: int) -> str:
    if status == 404:
        return ("the catalog lists an endpoint that answers 404: check the endpoint URL "
                "registered in Keystone for this region")
    if status == 503:
        return ("the service says it is unavailable (maintenance or overload) and was "
                "retried; try again later")
    if status >= 500:
        return "the service fails at the site: look at its logs (--http-debug shows the request id)"
    return "the service refused the request; look at it with --http-debug"


def classify(exc: BaseException) -> Classified:
    """Map an exception raised while working on a site to a state."""
    if isinstance(exc, SiteError):
        return Classified(exc.state, _one_line(exc.reason), exc.hint)
    if isinstance(exc, ks_exc.SSLError):
        text = str(exc)
        found = _URL.search(text)
        target = found.group(1).split("/", 1)[0] if found else ""
        verify = _CERT_FAILED.search(text)
        if verify:
            return Classified(
                "unreachable",
                _one_line(f"TLS certificate not trusted ({verify.group(1).strip()}): {target}"),
                "give the site's CA with cacert: in clouds.yaml (verify: false only for a "
                "test site)",
            )
        return Classified(
            "unreachable",
            _one_line(f"TLS error: {exc}"),
            "check the site certificate, or set cacert / verify in clouds.yaml",
        )
    if isinstance(exc, ks_exc.ConnectTimeout):
        return Classified("timed_out", _one_line(str(exc) or "timed out"), _HINT_TIMEOUT)
    if isinstance(exc, ks_exc.ConnectFailure | ks_exc.UnknownConnectionError):
        text = str(exc)
        found = _URL.search(text)
        target = found.group(1) if found else ""
        if any(m in text for m in ("IncompleteRead", "Connection broken")):
            return Classified(
                "error",
                _one_line(f"response cut short: {target}" if target else "response cut short"),
                "the connection closed before the whole answer arrived (a dropped WAN "
                "link or a proxy cutting answers); retry, or look with --http-debug",
            )
        if "timed out" in text:
            return Classified(
                "timed_out",
                _one_line(f"stopped answering mid-response: {target}" if target
                          else "stopped answering mid-response"),
                _HINT_TIMEOUT,
            )
        if "refused" in text:
            reason = "connection refused"
        elif "Name or service not known" in text or "resolve" in text:
            reason = "name does not resolve"
        elif "reset" in text or "aborted" in text or "RemoteDisconnected" in text:
            reason = "connection reset"
        else:
            reason = "cannot connect"
        # keystoneauth's message: "Unable to establish connection to {url}: {error}"
        return Classified(
            "unreachable",
            _one_line(f"{reason}: {target}" if target else reason),
            "is the site up and the WAN/VPN link working?",
        )
    if isinstance(exc, ks_exc.Unauthorized):
        return Classified(
            "auth_failed",
            _one_line(f"authentication rejected ({_http_reason(exc)})"),
            "check the credentials in clouds.yaml/secure.yaml; they may have expired or rotated",
        )
    if isinstance(exc, ks_exc.Forbidden):
        return Classified(
            "auth_failed",
            _one_line(f"not allowed ({_http_reason(exc)})"),
            "the user needs the admin (or reader) role on the project",
        )
    if isinstance(exc, ks_exc.MissingRequiredOptions | ks_exc.NoMatchingPlugin):
        return Classified(
            "error", _one_line(f"auth config: {exc}"), "fix this cloud's auth section"
        )
    if isinstance(exc, ks_exc.EndpointNotFound | ks_exc.EmptyCatalog):
        return Classified("error", _one_line(f"catalog: {exc}"))
    if isinstance(exc, ks_exc.DiscoveryFailure):
        cause = exc.__cause__ or exc.__context__
        if cause is not None and not isinstance(cause, ks_exc.DiscoveryFailure):
            return classify(cause)
        return Classified("unreachable", _one_line(f"identity discovery failed: {exc}"))
    if isinstance(exc, ks_exc.HttpError):
        status = getattr(exc, "http_status", 0) or 0
        url = getattr(exc, "url", "") or ""
        if ("/auth/tokens" in url or "identity" in url) and status >= 500:
            return Classified(
                "critical",
                _one_line(f"Keystone failing: {_http_reason(exc)}"),
                "Keystone at the site answers with errors: look at its logs "
                "(--http-debug shows the request id)",
            )
        return Classified("critical", _one_line(_http_reason(exc)), _http_hint(status))
    sdk = _sdk_exception(exc)
    if sdk is not None:
        return sdk
    if isinstance(exc, json.JSONDecodeError):
        return Classified(
            "error",
            _one_line(f"malformed JSON: {exc}"),
            "the site returned data edgeshade cannot read; look at it with --http-debug",
        )
    if isinstance(exc, OSError) and "CA certificate bundle" in str(exc):
        return Classified(
            "error", _one_line(f"cacert: {exc}"), "fix the cacert path of this cloud in clouds.yaml"
        )
    if isinstance(exc, TimeoutError):
        return Classified("timed_out", "timed out", _HINT_TIMEOUT)
    if isinstance(exc, ConnectionError | OSError):
        return Classified("unreachable", _one_line(f"{type(exc).__name__}: {exc}"))
    return Classified("error", _one_line(f"{type(exc).__name__}: {exc}"))


def _sdk_exception(exc: BaseException) -> Classified | None:
    """openstacksdk's errors (the cloud layer's): HTTP answers are not connectivity.

    ``openstack.exceptions.HttpException`` derives from requests' HTTPError,
    an OSError, which would otherwise read as "unreachable" (and a rollout
    would defer a site whose Nova answered 500).
    """
    from openstack import exceptions as sdk_exc

    if isinstance(exc, sdk_exc.ResourceTimeout):
        return Classified("timed_out", _one_line(str(exc) or "timed out waiting"))
    if isinstance(exc, sdk_exc.HttpException):
        status = exc.status_code or 0
        text = _one_line(f"{status}: {exc.details or exc.message}" if status else str(exc))
        if status in (401, 403):
            return Classified("auth_failed", text)
        return Classified("critical", text)
    if isinstance(exc, sdk_exc.SDKException):
        return Classified("error", _one_line(str(exc)))
    return None
