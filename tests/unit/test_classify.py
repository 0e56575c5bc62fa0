"""Exceptions raised while working on a site become one state and a one-line reason."""

from __future__ import annotations

import pytest
from keystoneauth1 import exceptions as ks

from edgeshade.classify import classify
from edgeshade.errors import MalformedResponse, SiteTimedOut


def _http(cls, url: str):
    return cls(url=url, method="POST")


@pytest.mark.parametrize(
    ("exc", "state", "fragment"),
    [
        (ks.ConnectFailure("Unable to establish connection to http://h:5000/v3: "
                           "[Errno 111] Connection refused"), "unreachable", "refused"),
        (ks.ConnectTimeout("Request to http://h/v3 timed out"), "timed_out", "timed out"),
        (ks.SSLError("certificate verify failed"), "unreachable", "TLS"),
        (_http(ks.Unauthorized, "http://h/identity/v3/auth/tokens"), "auth_failed", "401"),
        (_http(ks.Forbidden, "http://h/compute/v2.1/servers"), "auth_failed", "403"),
        (_http(ks.InternalServerError, "http://h/identity/v3/auth/tokens"), "critical",
         "Keystone failing"),
        (_http(ks.ServiceUnavailable, "http://h/compute/v2.1/limits"), "critical", "503"),
        (MalformedResponse("malformed JSON from compute /limits"), "error", "malformed"),
        (SiteTimedOut("deadline reached"), "timed_out", "deadline"),
        (RuntimeError("boom\nsecond line"), "error", "RuntimeError: boom second line"),
    ],
)
def test_classification(exc, state, fragment) -> None:
    result = classify(exc)
    assert result.state == state
    assert fragment in result.reason and "\n" not in result.reason


def test_discovery_failure_reports_its_cause() -> None:
    try:
        try:
            raise ks.ConnectFailure("Unable to establish connection to http://h: refused")
        except ks.ConnectFailure as cause:
            raise ks.DiscoveryFailure("Could not find versioned identity endpoints") from cause
    except ks.DiscoveryFailure as exc:
        assert classify(exc).state == "unreachable"


def test_hints_for_auth_and_tls() -> None:
    assert "credentials" in classify(_http(ks.Unauthorized, "http://h/v3/auth/tokens")).hint
    assert "cacert" in classify(ks.SSLError("bad cert")).hint
