"""A 2,000-site simulated fleet starts at once and serves every site quickly."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import yaml

from edgeshade.sim import SimFleet, SimServer

pytestmark = pytest.mark.timeout(120)

SITES = 2000


async def _visit_all(clouds: dict, secure: dict, concurrency: int = 100) -> int:
    """Per site: a token, then hypervisors and agents from the catalog (like a status run)."""
    jobs = [(name, entry, region) for name, entry in clouds.items()
            for region in entry.get("regions") or [entry["region_name"]]]
    done = 0

    async def one(session: aiohttp.ClientSession, name: str, entry: dict, region: str) -> None:
        nonlocal done
        auth, secret = entry["auth"], secure[name]["auth"]
        if "password" in secret:
            identity = {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"name": "Default"},
                "password": secret["password"]}}}
            body = {"auth": {"identity": identity, "scope": {
                "project": {"name": "admin", "domain": {"name": "Default"}}}}}
        else:
            body = {"auth": {"identity": {"methods": ["application_credential"],
                                          "application_credential": {
                                              "id": auth["application_credential_id"],
                                              "secret": secret["application_credential_secret"]}}}}
        async with session.post(auth["auth_url"] + "/v3/auth/tokens", json=body) as resp:
            assert resp.status == 201
            token = resp.headers["X-Subject-Token"]
            catalog = (await resp.json())["token"]["catalog"]
        urls = {e["type"]: next(x["url"] for x in e["endpoints"] if x["region"] == region)
                for e in catalog}
        headers = {"X-Auth-Token": token}
        for url in (urls["compute"] + "/os-hypervisors/detail",
                    urls["network"] + "/v2.0/agents"):
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 200
                await resp.read()
        done += 1

    queue = iter(jobs)

    async def worker(session: aiohttp.ClientSession) -> None:
        for job in queue:
            await one(session, *job)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done


def test_two_thousand_sites_start_and_serve(tmp_path) -> None:
    started = time.monotonic()
    fleet = SimFleet(sites=SITES, seed=9, latency_ms=1, faults="hang=1%,500=1%")
    server = SimServer(fleet).start()
    try:
        startup = time.monotonic() - started
        assert startup < 2.0, f"start-up took {startup:.2f} s"
        clouds_path, secure_path = server.write_config(str(tmp_path))
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        clouds = yaml.load(open(clouds_path), Loader=loader)["clouds"]
        secure = yaml.load(open(secure_path), Loader=loader)["clouds"]
        # serve the healthy sites (faulty ones are covered elsewhere)
        healthy = {name for name in clouds if all(not fleet.faults_of(s.name)
                                                  for s in fleet.sites_of(name))}
        clouds = {n: c for n, c in clouds.items() if n in healthy}
        t0 = time.monotonic()
        visited = asyncio.run(_visit_all(clouds, secure))
        elapsed = time.monotonic() - t0
        assert visited == SITES - 40
        assert elapsed < 20, f"{visited} sites took {elapsed:.1f} s"
        stats = server.stats()
        assert stats["total"] == 3 * visited
        assert stats["sites_generated"] == visited
        served = {s for s in fleet.sites if not fleet.faults_of(s)}
        # a multi-region cloud's Keystone is counted under the cloud's name
        assert set(stats["by_site"]) == served | {"core-a", "core-b"}
    finally:
        server.stop()
