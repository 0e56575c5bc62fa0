"""SiteSession: deadline-bounded timeouts, retries honouring Retry-After, cancellation."""

from __future__ import annotations

import threading
import time

import pytest
from keystoneauth1 import exceptions as ks

from edgeshade.errors import SiteCancelled, SiteTimedOut
from edgeshade.transport import SiteSession

URL = "http://site.example/compute/v2.1/limits"


def session(seconds: float = 10.0, **kw) -> SiteSession:
    return SiteSession(deadline=time.monotonic() + seconds, backoff=0.01, **kw)


def test_503_with_retry_after_is_retried(requests_mock) -> None:
    requests_mock.get(URL, [{"status_code": 503, "headers": {"Retry-After": "0"}},
                            {"json": {"ok": 1}}])
    s = session()
    assert s.get(URL).json() == {"ok": 1}
    assert requests_mock.call_count == 2
    assert [c.status for c in s.calls] == [503, 200]


def test_retry_after_past_the_deadline_gives_up_at_once(requests_mock) -> None:
    requests_mock.get(URL, status_code=503, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(SiteTimedOut, match="pass the deadline"):
        session(2.0).get(URL)
    assert time.monotonic() - started < 1.0
    assert requests_mock.call_count == 1


def test_retries_are_bounded(requests_mock) -> None:
    requests_mock.get(URL, status_code=502)
    with pytest.raises(ks.BadGateway):
        session(retries=2).get(URL)
    assert requests_mock.call_count == 3


def test_post_is_not_retried_on_502(requests_mock) -> None:
    requests_mock.post("http://site.example/compute/v2.1/servers", status_code=502)
    with pytest.raises(ks.BadGateway):
        session().post("http://site.example/compute/v2.1/servers", json={})
    assert requests_mock.call_count == 1


def test_socket_timeout_never_exceeds_the_deadline(requests_mock) -> None:
    requests_mock.get(URL, json={})
    session(1.5, timeout=60).get(URL)
    assert 0 < requests_mock.request_history[0].timeout <= 1.5


def test_no_request_after_the_deadline(requests_mock) -> None:
    requests_mock.get(URL, json={})
    with pytest.raises(SiteTimedOut):
        session(-1).get(URL)
    assert requests_mock.call_count == 0


def test_cancel_stops_before_the_request(requests_mock) -> None:
    requests_mock.get(URL, json={})
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SiteCancelled):
        session(cancel=cancel).get(URL)
    assert requests_mock.call_count == 0
