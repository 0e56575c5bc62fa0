"""SiteSession: deadline-bounded timeouts, retries honouring Retry-After, cancellation."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from keystoneauth1 import exceptions as ks

from edgeshade.errors import SiteCancelled, SiteTimedOut
from edgeshade.transport import SiteSession

URL = "http://site.example/compute/v2.1/limits"
SERVERS = "http://site.example/compute/v2.1/servers"
TOKENS = "http://site.example/identity/v3/auth/tokens"


def session(seconds: float | None = 10.0, **kw) -> SiteSession:
    deadline = None if seconds is None else time.monotonic() + seconds
    return SiteSession(deadline=deadline, backoff=0.01, **kw)


def test_503_with_retry_after_zero_is_retried_once(requests_mock) -> None:
    requests_mock.get(URL, [{"status_code": 503, "headers": {"Retry-After": "0"}},
                            {"json": {"ok": 1}}])
    s = session()
    assert s.get(URL).json() == {"ok": 1}
    assert requests_mock.call_count == 2
    assert [(c.method, c.status, c.attempt) for c in s.calls] == [
        ("GET", 503, 0), ("GET", 200, 1)
    ]


def test_retry_after_past_the_deadline_gives_up_without_sleeping(requests_mock) -> None:
    requests_mock.get(URL, status_code=503, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(SiteTimedOut, match="pass the deadline") as err:
        session(5.0).get(URL)
    assert time.monotonic() - started < 1.0
    assert requests_mock.call_count == 1
    assert "HTTP 503 from site.example/compute/v2.1/limits" in err.value.reason


def test_retries_exhausted_raise_the_http_error(requests_mock) -> None:
    requests_mock.get(URL, status_code=502)
    s = session(retries=2)
    with pytest.raises(ks.BadGateway) as err:
        s.get(URL)
    assert err.value.http_status == 502
    assert requests_mock.call_count == 3  # the first try and two retries
    assert [c.attempt for c in s.calls] == [0, 1, 2]


def test_no_retries_when_disabled(requests_mock) -> None:
    requests_mock.get(URL, status_code=504)
    with pytest.raises(ks.GatewayTimeout):
        session(retries=0).get(URL)
    assert requests_mock.call_count == 1


def test_post_to_a_non_token_url_is_not_retried_on_502(requests_mock) -> None:
    """A POST that reached a proxy may have created a server: never repeat it."""
    requests_mock.post(SERVERS, status_code=502)
    with pytest.raises(ks.BadGateway):
        session().post(SERVERS, json={})
    assert requests_mock.call_count == 1


def test_post_to_the_token_url_is_retried_on_502(requests_mock) -> None:
    requests_mock.post(TOKENS, [{"status_code": 502}, {"status_code": 201, "json": {}}])
    assert session().post(TOKENS, json={}).status_code == 201
    assert requests_mock.call_count == 2


def test_503_is_retried_even_for_post(requests_mock) -> None:
    """503 means the request was not processed, so even a POST may be repeated."""
    requests_mock.post(SERVERS, [{"status_code": 503, "headers": {"Retry-After": "0"}},
                                 {"status_code": 202, "json": {}}])
    assert session().post(SERVERS, json={}).status_code == 202
    assert requests_mock.call_count == 2


def test_deadline_already_passed_fails_before_any_request(requests_mock) -> None:
    requests_mock.get(URL, json={})
    with pytest.raises(SiteTimedOut, match="deadline reached"):
        session(-1).get(URL)
    assert requests_mock.call_count == 0


def test_cancel_stops_before_the_request(requests_mock) -> None:
    requests_mock.get(URL, json={})
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SiteCancelled):
        session(cancel=cancel).get(URL)
    assert requests_mock.call_count == 0


def test_cancel_during_a_retry_wait_ends_the_wait(requests_mock) -> None:
    requests_mock.get(URL, status_code=503, headers={"Retry-After": "5"})
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(SiteCancelled):
        session(30, cancel=cancel).get(URL)
    assert time.monotonic() - started < 2.0
    assert requests_mock.call_count == 1


def test_socket_timeout_never_exceeds_the_deadline(requests_mock) -> None:
    requests_mock.get(URL, json={})
    session(1.5, timeout=60).get(URL)
    session(60, timeout=2).get(URL)
    first, second = (r.timeout for r in requests_mock.request_history)
    assert 0 < first <= 1.5  # the deadline is nearer than the configured timeout
    assert second == 2  # the configured timeout is nearer than the deadline


def test_timeout_shrinks_on_each_retry(requests_mock) -> None:
    requests_mock.get(URL, [{"status_code": 503, "headers": {"Retry-After": "0.2"}},
                            {"json": {}}])
    session(3.0).get(URL)
    first, second = (r.timeout for r in requests_mock.request_history)
    assert second <= first - 0.2


def test_no_deadline_leaves_the_configured_timeout(requests_mock) -> None:
    requests_mock.get(URL, json={})
    s = session(None, timeout=7)
    s.get(URL)
    assert requests_mock.request_history[0].timeout == 7
    assert s.remaining() is None


def test_connection_reset_on_get_is_retried(requests_mock) -> None:
    reset = requests.exceptions.ConnectionError("Connection reset by peer")
    requests_mock.get(URL, [{"exc": reset}, {"json": {"ok": 1}}])
    s = session()
    assert s.get(URL).json() == {"ok": 1}
    assert [c.status for c in s.calls] == [None, 200]


def test_connection_refused_is_not_retried(requests_mock) -> None:
    requests_mock.get(URL, exc=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(ks.ConnectFailure):
        session().get(URL)
    assert requests_mock.call_count == 1


def test_calls_record_method_url_and_status(requests_mock) -> None:
    requests_mock.get(URL, json={})
    requests_mock.post(SERVERS, status_code=400, json={})
    s = session()
    s.get(URL)
    s.post(SERVERS, json={}, raise_exc=False)
    assert [(c.method, c.url, c.status) for c in s.calls] == [
        ("GET", URL, 200), ("POST", SERVERS, 400)
    ]
    assert all(c.ms >= 0 for c in s.calls)


def test_raise_exc_false_returns_the_error_response(requests_mock) -> None:
    requests_mock.get(URL, status_code=404, json={})
    assert session().get(URL, raise_exc=False).status_code == 404
    with pytest.raises(ks.NotFound):
        session().get(URL)
