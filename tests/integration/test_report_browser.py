"""`edgeshade report` end to end: a live run against the simulator, opened in real Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from chromium_helper import available, chromium_page, wait_until

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser_ready() -> None:
    reason = available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def edgeshade(sim, state_dir, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "edgeshade", "--os-config-file", sim.clouds,
           "--state-dir", str(state_dir), "--timeout", "3", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def embedded(html: str) -> dict:
    match = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(faulty_sim, tmp_path_factory) -> tuple[Path, dict, dict]:
    """(report.html, its embedded data, the status run's JSON) after two recorded runs."""
    tmp = tmp_path_factory.mktemp("report")
    status = edgeshade(faulty_sim, tmp / "state", "status", "-f", "json")
    assert status.returncode == 2, status.stderr
    out = tmp / "fleet.html"
    made = edgeshade(faulty_sim, tmp / "state", "report", "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert f"wrote {out}" in made.stderr
    html = out.read_text(encoding="utf-8")
    return out, embedded(html), json.loads(status.stdout)


def visible(page) -> int:
    return page.evaluate("document.querySelectorAll('#map .t:not([hidden])').length")


def test_report_in_chromium(browser_ready, report, faulty_sim) -> None:
    path, data, _status = report
    states = data["states"]
    expected = {}
    for row in data["sites"]:
        expected[states[row[4]]] = expected.get(states[row[4]], 0) + 1
    refused = [s for s in faulty_sim.fleet.sites
               if (f := faulty_sim.fleet.fault_of(s)) is not None and f.kind == "refused"]
    denied = [s for s in faulty_sim.fleet.sites
              if (f := faulty_sim.fleet.fault_of(s)) is not None and f.kind == "401"]
    assert refused and denied

    requests: list[str] = []
    errors: list[str] = []
    with chromium_page() as page:
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        wait_until(page, "window.edgeshadeRendered > 0")

        # One tile per site; the counts match the tiles of each colour and the data.
        assert page.locator("#map .t").count() == 40 == visible(page)
        shown = {}
        for button in page.locator("#counts .st").all():
            state = button.get_attribute("data-state")
            count = int(button.locator("b").inner_text())
            idx = states.index(state)
            assert page.locator(f"#map .t.s{idx}").count() == count, state
            shown[state] = count
        assert shown == expected and sum(shown.values()) == 40
        assert shown.get("unreachable", 0) >= len(refused)
        assert shown.get("auth_failed", 0) >= len(denied)
        assert "40 of 40 sites shown" in page.inner_text("#shown")

        # The filter box: typing narrows the tiles to the matching sites.
        page.fill("#filter", "edge-0000")
        matching = sum(1 for row in data["sites"] if "edge-0000" in row[0].lower())
        wait_until(page, f"document.querySelector('#shown').dataset.shown == '{matching}'")
        assert 0 < matching < 40 and visible(page) == matching
        page.fill("#filter", "no-such-site-anywhere")
        wait_until(page, "document.querySelector('#shown').dataset.shown == '0'")
        assert visible(page) == 0 and page.is_visible("#empty")
        page.fill("#filter", "")
        wait_until(page, "document.querySelector('#shown').dataset.shown == '40'")

        # State toggles: hiding ok leaves the others.
        page.click("#counts .st[data-state=ok]")
        assert visible(page) == 40 - shown["ok"]
        page.click("#counts .st[data-state=ok]")
        assert visible(page) == 40

        # Click a site: its details (state, reason, hint, checks, trend of both runs).
        site = denied[0]
        idx = next(i for i, row in enumerate(data["sites"]) if row[0] == site)
        page.click(f"#map .t[data-i='{idx}']")
        detail = page.inner_text("#detail")
        assert page.is_visible("#detail")
        assert site in detail and "auth_failed" in detail
        assert data["sites"][idx][5] and data["sites"][idx][5][:30] in detail
        assert page.locator("#detail .trend i").count() == 2
        ok_idx = next(i for i, row in enumerate(data["sites"]) if states[row[4]] == "ok")
        page.click(f"#map .t[data-i='{ok_idx}']")
        assert "compute" in page.inner_text("#detail")  # per-check results of a live run
        page.click(f"#map .t[data-i='{idx}']")  # the screenshot shows a failing site
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10000
        page.keyboard.press("Escape")
        assert not page.is_visible("#detail")

        # Grouping: configured groups of the simulated fleet (core, edge), then by cloud.
        groups = page.locator("#map section.g h3 .gn").all_inner_texts()
        assert sorted(groups) == ["core", "edge"]
        page.select_option("#groupby", "cloud")
        clouds = {row[1] for row in data["sites"]}
        assert page.locator("#map section.g").count() == len(clouds)
        assert visible(page) == 40

    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def test_cached_report_contacts_no_site(browser_ready, report, faulty_sim, tmp_path) -> None:
    path, data, _status = report
    state_dir = path.parent / "state"
    faulty_sim.server.reset_stats()
    out = tmp_path / "cached.html"
    made = edgeshade(faulty_sim, state_dir, "report", "--cached", "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert faulty_sim.server.stats()["total"] == 0
    cached = embedded(out.read_text(encoding="utf-8"))
    assert cached["source"] == "cached"
    assert [(r[0], r[4]) for r in cached["sites"]] == [(r[0], r[4]) for r in data["sites"]]
    with chromium_page() as page:
        page.goto(out.as_uri())
        wait_until(page, "window.edgeshadeRendered > 0")
        assert page.locator("#map .t").count() == 40
        assert "from the local state store" in page.inner_text("#meta")
