"""Pins keystoneauth internals the discovery cache relies on."""

from __future__ import annotations

from keystoneauth1 import discover

from edgeshade.connection import _discovery_from_data

VERSIONS = [{"id": "v3.14", "status": "stable",
             "links": [{"rel": "self", "href": "http://k.example/identity/v3/"}]}]


def test_rebuilt_discovery_answers_like_a_fetched_one(requests_mock) -> None:
    from keystoneauth1 import session

    requests_mock.get("http://k.example/identity", json={"versions": {"values": VERSIONS}})
    fetched = discover.Discover(session.Session(), "http://k.example/identity")
    assert fetched._data == VERSIONS  # what the state store persists
    rebuilt = _discovery_from_data("http://k.example/identity", fetched._data)
    assert rebuilt.url_for("3.0") == fetched.url_for("3.0") == "http://k.example/identity/v3/"
    assert rebuilt.version_data() == fetched.version_data()
