"""Concurrency is bounded by the open-files limit, with a warning when that caps it."""

from __future__ import annotations

import logging
import resource

import pytest

from edgeshade import executors


@pytest.fixture
def nofile(monkeypatch):
    """Pretend the soft and hard open-files limits are ``limit`` (and cannot be raised)."""
    def set_limit(limit: int) -> None:
        monkeypatch.setattr(resource, "getrlimit", lambda _what: (limit, limit))
        monkeypatch.setattr(resource, "setrlimit", lambda *_a: (_ for _ in ()).throw(
            ValueError("not allowed")))

    return set_limit


def test_default_is_128_with_enough_files(nofile, caplog) -> None:
    nofile(65536)
    assert executors.default_concurrency(10_000) == 128
    assert executors.default_concurrency(5) == 5
    assert not caplog.records


@pytest.mark.parametrize("requested", [None, 1000])
def test_a_low_limit_caps_concurrency_with_a_warning(nofile, caplog, requested) -> None:
    nofile(256)
    with caplog.at_level(logging.WARNING, logger="edgeshade"):
        got = executors.default_concurrency(10_000, requested)
    assert got == (256 - 64) // executors.SOCKETS_PER_SITE == 24
    assert "open-files limit 256" in caplog.text and "concurrency 24" in caplog.text


def test_requested_concurrency_within_the_limit_is_kept(nofile, caplog) -> None:
    nofile(256)
    assert executors.default_concurrency(10_000, 10) == 10
    assert executors.default_concurrency(3, 10) == 3
    assert not caplog.records


def test_the_soft_limit_is_raised_towards_the_hard_one(monkeypatch) -> None:
    limits = {"soft": 1024, "hard": 4096}
    monkeypatch.setattr(resource, "getrlimit", lambda _w: (limits["soft"], limits["hard"]))

    def setrlimit(_what, value):
        limits["soft"], limits["hard"] = value

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert executors.raise_open_file_limit() == 4096
    assert executors.default_concurrency(10_000) == 128
