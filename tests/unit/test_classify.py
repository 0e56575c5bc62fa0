"""Exceptions raised while working on a site become one state and a one-line reason."""

from __future__ import annotations

import json

import pytest
from keystoneauth1 import exceptions as ks

from edgeshade.classify import classify
from edgeshade.errors import (
    MalformedResponse,
    SiteAuthFailed,
    SiteCancelled,
    SiteError,
    SiteTimedOut,
    SiteUnreachable,
)

#: keystoneauth's own message format: "Unable to establish connection to {url}: {error}".
REFUSED = (
    "Unable to establish connection to {url}: HTTPSConnectionPool(host='h', port=443): "
    "Max retries exceeded with url: /v3/auth/tokens (Caused by NewConnectionError("
    "'<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new "
    "connection: [Errno 111] Connection refused'))"
)


def _http(cls, url: str, status: int | None = None):
    kwargs = {"http_status": status} if status else {}
    return cls(url=url, method="POST", **kwargs)


def _raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except type(cause) as inner:
            raise exc from inner
    except type(exc) as outer:
        return outer


@pytest.mark.parametrize(
    ("exc", "state", "fragment"),
    [
        (ks.ConnectFailure(REFUSED.format(url="http://h:5000/v3/auth/tokens")), "unreachable",
         "connection refused: h:5000/v3/auth/tokens"),
        (ks.ConnectFailure("Unable to establish connection to http://h:5000/v3: [Errno -2] "
                           "Name or service not known"), "unreachable", "name does not resolve"),
        (ks.ConnectFailure("Unable to establish connection to http://h:5000/v3: "
                           "('Connection aborted.', RemoteDisconnected('closed'))"),
         "unreachable", "connection reset"),
        (ks.ConnectTimeout("Request to http://h/v3 timed out"), "timed_out", "timed out"),
        (ks.SSLError("SSL exception connecting to https://h/v3: certificate verify failed"),
         "unreachable", "TLS error"),
        (_http(ks.Unauthorized, "http://h/identity/v3/auth/tokens"), "auth_failed",
         "authentication rejected (HTTP 401 from h/identity/v3/auth/tokens)"),
        (_http(ks.Forbidden, "http://h/compute/v2.1/servers"), "auth_failed",
         "not allowed (HTTP 403 from h/compute/v2.1/servers)"),
        (_http(ks.InternalServerError, "http://h:5000/v3/auth/tokens"), "critical",
         "Keystone failing: HTTP 500 from h:5000/v3/auth/tokens"),
        (_http(ks.ServiceUnavailable, "http://h/identity/v3/projects"), "critical",
         "Keystone failing: HTTP 503"),
        (_http(ks.ServiceUnavailable, "http://h:8774/v2.1/limits?x=1"), "critical",
         "HTTP 503 from h:8774/v2.1/limits"),
        (_http(ks.NotFound, "http://h:9696/v2.0/agents"), "critical", "HTTP 404 from"),
        (ks.MissingRequiredOptions([]), "error", "auth config"),
        (ks.EndpointNotFound("no compute"), "error", "catalog: no compute"),
        (MalformedResponse("malformed JSON from compute /limits"), "error",
         "malformed JSON from compute /limits"),
        (json.JSONDecodeError("Expecting value", "<html>", 0), "error", "malformed JSON"),
        (TimeoutError(), "timed_out", "timed out"),
        (ConnectionResetError(104, "Connection reset by peer"), "unreachable",
         "ConnectionResetError"),
        (RuntimeError("boom\nsecond line"), "error", "RuntimeError: boom second line"),
        (KeyError("servers"), "error", "KeyError: 'servers'"),
    ],
)
def test_classification(exc, state, fragment) -> None:
    result = classify(exc)
    assert result.state == state
    assert fragment in result.reason, result.reason
    assert "\n" not in result.reason


@pytest.mark.parametrize(
    ("cls", "state"),
    [(SiteUnreachable, "unreachable"), (SiteAuthFailed, "auth_failed"),
     (SiteTimedOut, "timed_out"), (SiteCancelled, "cancelled"), (MalformedResponse, "error"),
     (SiteError, "error")],
)
def test_site_errors_keep_their_state_reason_and_hint(cls, state) -> None:
    exc = cls("vpn\ndown", hint="check the tunnel")
    assert tuple(classify(exc)) == (state, "vpn down", "check the tunnel")


def test_site_error_with_an_explicit_state() -> None:
    assert classify(SiteError("disk full", state="critical")).state == "critical"


def test_unreachable_reason_without_a_port_is_just_the_target() -> None:
    """Most Keystone URLs carry no port; the reason must not swallow urllib3's text."""
    result = classify(ks.ConnectFailure(REFUSED.format(url="https://keystone.example/v3")))
    assert result.reason == "connection refused: keystone.example/v3"
    assert result.hint and "VPN" in result.hint


def test_client_errors_from_keystone_are_not_keystone_failing() -> None:
    """Only 5xx means Keystone itself is failing; a 400 from the token API is not."""
    result = classify(_http(ks.BadRequest, "http://h:5000/v3/auth/tokens"))
    assert result.state == "critical"
    assert result.reason == "HTTP 400 from h:5000/v3/auth/tokens"


def test_long_reasons_are_cut_to_one_short_line() -> None:
    result = classify(RuntimeError("x" * 1000))
    assert len(result.reason) <= 200 and result.reason.endswith("…")


def test_discovery_failure_reports_its_cause() -> None:
    cause = ks.ConnectFailure(REFUSED.format(url="http://h:5000/v3"))
    exc = _raised_from(ks.DiscoveryFailure("Could not find versioned identity endpoints"), cause)
    assert classify(exc).state == "unreachable"
    assert classify(exc).reason == "connection refused: h:5000/v3"
    timeout = _raised_from(ks.DiscoveryFailure("nope"), ks.ConnectTimeout("timed out"))
    assert classify(timeout).state == "timed_out"


def test_discovery_failure_without_cause_is_unreachable() -> None:
    result = classify(ks.DiscoveryFailure("Could not find versioned identity endpoints"))
    assert result.state == "unreachable" and "identity discovery failed" in result.reason


def test_hints_for_auth_tls_and_malformed() -> None:
    assert "credentials" in classify(_http(ks.Unauthorized, "http://h/v3/auth/tokens")).hint
    assert "role" in classify(_http(ks.Forbidden, "http://h/v2.1/servers")).hint
    assert "cacert" in classify(ks.SSLError("bad cert")).hint
    assert "--http-debug" in classify(MalformedResponse("bad")).hint


# -- truncated bodies, stalled bodies, untrusted certificates, hints -------------------------


def test_a_body_cut_short_is_an_error_with_a_hint_not_a_connect_failure() -> None:
    exc = ks.UnknownConnectionError(
        "Unexpected exception for http://h:8774/v2.1/servers: ('Connection broken: "
        "IncompleteRead(100 bytes read, 100 more expected)', IncompleteRead(...))", None)
    state, reason, hint = classify(exc)
    assert state == "error" and reason == "response cut short: h:8774/v2.1/servers"
    assert hint and "closed before the whole answer" in hint


def test_a_stalled_body_read_is_timed_out_not_unreachable() -> None:
    exc = ks.ConnectFailure(
        "Unable to establish connection to http://h:9696/v2.0/agents: "
        "HTTPConnectionPool(host='h', port=9696): Read timed out.")
    state, reason, hint = classify(exc)
    assert (state, reason) == ("timed_out", "stopped answering mid-response: h:9696/v2.0/agents")
    assert hint and "--timeout" in hint


def test_an_untrusted_certificate_names_the_reason_and_the_fix() -> None:
    exc = ks.SSLError(
        "SSL exception connecting to https://10.0.0.1:5000/v3: HTTPSConnectionPool(host="
        "'10.0.0.1', port=5000): Max retries exceeded with url: /v3 (Caused by SSLError("
        "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: self-signed certificate (_ssl.c:1006)')))")
    state, reason, hint = classify(exc)
    assert state == "unreachable"
    assert reason == "TLS certificate not trusted (self-signed certificate): 10.0.0.1:5000"
    assert hint and "cacert" in hint


@pytest.mark.parametrize(("status", "words"), [(404, "endpoint URL"), (503, "unavailable"),
                                               (500, "logs"), (409, "--http-debug")])
def test_service_http_errors_carry_a_hint(status: int, words: str) -> None:
    state, _reason, hint = classify(_http(ks.HttpError, "http://h/compute/v2.1/x", status))
    assert state == "critical" and hint and words in hint
