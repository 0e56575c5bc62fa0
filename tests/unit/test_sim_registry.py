"""The simulator's route registry, microversion negotiation and paging helpers."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import MultiDict

from edgeshade.sim import SimFleet
from edgeshade.sim.registry import (
    ROUTES,
    ApiError,
    Call,
    Registry,
    paginate,
    parse_microversion,
    truthy,
)
from edgeshade.sim.tokens import TokenStore


def _handler(call: Call) -> None:  # pragma: no cover - never called
    return None


def test_static_dynamic_and_head_fallback() -> None:
    reg = Registry()
    reg.add("compute", "GET", "/v2.1/servers/detail", _handler)
    reg.add("compute", "GET", "/v2.1/servers/{id}", _handler)
    reg.add("volume", "GET", "/v3/{project_id}/os-services/", _handler)
    route, params = reg.match("compute", "GET", "/v2.1/servers/detail")
    assert route is not None and route.pattern == "/v2.1/servers/detail" and params == {}
    route, params = reg.match("compute", "GET", "/v2.1/servers/abc")
    assert route is not None and params == {"id": "abc"}
    route, params = reg.match("volume", "HEAD", "/v3/p1/os-services")
    assert route is not None and route.method == "GET" and params == {"project_id": "p1"}
    assert reg.match("compute", "GET", "/v2.1/servers/abc/extra") == (None, {})
    assert reg.match("compute", "POST", "/v2.1/servers/detail") == (None, {})
    assert reg.match("network", "GET", "/v2.1/servers/detail") == (None, {})
    with pytest.raises(ValueError, match="duplicate"):
        reg.add("compute", "GET", "/v2.1/servers/detail", _handler)


def test_builtin_routes_cover_the_status_calls() -> None:
    for service, path in [
        ("identity", ""), ("identity", "/v3"), ("compute", ""), ("compute", "/v2.1"),
        ("compute", "/v2.1/os-hypervisors/detail"), ("compute", "/v2.1/os-services"),
        ("compute", "/v2.1/servers"), ("compute", "/v2.1/servers/detail"),
        ("compute", "/v2.1/limits"), ("compute", "/v2.1/flavors/detail"),
        ("network", ""), ("network", "/v2.0"), ("network", "/v2.0/agents"),
        ("network", "/v2.0/networks"), ("volume", ""), ("volume", "/v3"),
        ("volume", "/v3/p/os-services"), ("image", ""), ("image", "/versions"),
        ("image", "/v2/images"),
    ]:
        route, _ = ROUTES.match(service, "GET", path)
        assert route is not None, (service, path)
    assert ROUTES.match("identity", "POST", "/v3/auth/tokens")[0] is not None


def _call(headers: dict[str, str]) -> Call:
    fleet = SimFleet(sites=1)
    request = make_mocked_request("GET", "/edge-00001/RegionOne/compute/v2.1", headers=headers)
    return Call(request, fleet, TokenStore(), fleet.clouds["edge-00001"], fleet.site("edge-00001"),
                "compute", {}, "http://x/edge-00001/RegionOne/compute")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, (2, 1)),
        ({"OpenStack-API-Version": "compute 2.53"}, (2, 53)),
        ({"OpenStack-API-Version": "volume 3.5, compute 2.60"}, (2, 60)),
        ({"X-OpenStack-Nova-API-Version": "2.11"}, (2, 11)),
        ({"OpenStack-API-Version": "compute latest"}, (2, 96)),
    ],
)
def test_microversion(headers: dict[str, str], expected: tuple[int, int]) -> None:
    version, answer = parse_microversion(_call(headers), "compute", "X-OpenStack-Nova-API-Version",
                                         (2, 1), (2, 96))
    assert version == expected
    assert answer["OpenStack-API-Version"] == f"compute {expected[0]}.{expected[1]}"


def test_microversion_out_of_range_and_garbage() -> None:
    with pytest.raises(ApiError) as info:
        parse_microversion(_call({"OpenStack-API-Version": "compute 2.97"}), "compute", None,
                           (2, 1), (2, 96))
    assert info.value.status == 406
    with pytest.raises(ApiError) as info:
        parse_microversion(_call({"OpenStack-API-Version": "compute two"}), "compute", None,
                           (2, 1), (2, 96))
    assert info.value.status == 400


def test_paginate() -> None:
    items = [{"id": str(i)} for i in range(10)]
    page, nxt = paginate(items, MultiDict(limit="4"))
    assert [i["id"] for i in page] == ["0", "1", "2", "3"] and nxt == "3"
    page, nxt = paginate(items, MultiDict(limit="4", marker="7"))
    assert [i["id"] for i in page] == ["8", "9"] and nxt is None
    page, nxt = paginate(items, MultiDict())
    assert len(page) == 10 and nxt is None
    with pytest.raises(ApiError):
        paginate(items, MultiDict(marker="nope"))
    with pytest.raises(ApiError):
        paginate(items, MultiDict(limit="-1"))


@pytest.mark.parametrize(("raw", "expected"), [
    (None, False), ("", True), ("1", True), ("True", True), ("0", False), ("false", False),
])
def test_truthy(raw: str | None, expected: bool) -> None:
    assert truthy(raw) is expected


def test_token_store_is_bounded_and_per_cloud() -> None:
    store = TokenStore(capacity=3)
    tokens = [store.issue("a", "p", ["password"])[0] for _ in range(5)]
    assert len(store) == 3
    assert store.lookup(tokens[0], "a") is None and store.lookup(tokens[-1], "a") is not None
    assert store.lookup(tokens[-1], "b") is None
    assert store.lookup(None, "a") is None
