"""The HTML report's data and page (the page itself is tested in Chromium, integration)."""

from __future__ import annotations

import json
import re

from edgeshade.config import Site
from edgeshade.history import record_details
from edgeshade.report import STATES, UNKNOWN, build_report, report_data, write_report
from edgeshade.results import FleetResult, SiteResult
from edgeshade.state import StateStore

SITES = [
    Site("core", "RegionOne", "core/RegionOne", groups=("datacenters",)),
    Site("edge-1", "R", "edge-1", groups=("edge", "pilot")),
    Site("edge-2", "R", "edge-2"),
]


def live() -> FleetResult:
    return FleetResult(
        "status",
        [
            SiteResult.make(SITES[0], "ok", data={"checks": {"compute": {"state": "ok"}}}),
            SiteResult.make(SITES[1], "critical", "compute: </script><b>x</b>", hint="restart",
                            data={"checks": {"compute": {"state": "critical", "reason": "500"}},
                                  "services": {"compute": "critical", "volume": "absent"}}),
            SiteResult.make(SITES[2], "unreachable", "connection refused"),
        ],
        elapsed=1.0,
    )


def embedded(html: str) -> dict:
    match = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "data block missing"
    return json.loads(match.group(1))


def test_live_report_rows_and_details(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        store.record_run(live())
        data = report_data(SITES, result=live(), store=store, columns=None)
    assert data["source"] == "live" and data["has_groups"]
    names = [row[0] for row in data["sites"]]
    assert names == ["core/RegionOne", "edge-1", "edge-2"]
    core, edge1, edge2 = data["sites"]
    assert STATES[core[4]] == "ok" and STATES[edge1[4]] == "critical"
    assert edge1[3] == "edge,pilot" and edge2[3] == ""
    detail = edge1[6]
    assert detail["hint"] == "restart"
    # Checks as one letter per name sent once; reasons only where a check gave one.
    assert data["check_names"] == ["compute"]
    assert detail["checks"] == "c" and detail["check_reasons"] == {"compute": "500"}
    assert detail["services"] == {"compute": "critical", "volume": "absent"}
    assert core[6]["checks"] == "o" and "check_reasons" not in core[6]
    assert detail["trend"] == "c" and edge2[6]["failures"] == 1
    assert data["summary"].startswith("3 sites: 1 ok, 1 critical, 1 unreachable")


def test_cached_report_uses_the_store_and_marks_unseen_sites_unknown(tmp_path) -> None:
    with StateStore(tmp_path) as store:
        result = live()
        store.record_run(FleetResult("status", result.sites[:2], elapsed=1.0))
        record_details(store, result.sites[:2], {"Auth ms": lambda r: 7})
        data = report_data(SITES, store=store)
    assert data["source"] == "cached"
    edge1, edge2 = data["sites"][1], data["sites"][2]
    assert STATES[edge1[4]] == "critical" and edge1[6]["hint"] == "restart"
    assert data["fact_names"] == ["Auth ms"] and edge1[6]["facts"] == ["7"]
    assert isinstance(edge1[6]["at"], int) and edge1[6]["at"] > 0
    assert STATES[edge2[4]] == UNKNOWN and "no result" in edge2[5]


def test_page_is_self_contained_and_survives_hostile_text(tmp_path) -> None:
    html = build_report(SITES, result=live(), title="Fleet <&> report")
    assert "<title>Fleet &lt;&amp;&gt; report</title>" in html
    # Nothing to fetch: no external URL in any src/href, and a CSP that forbids it anyway.
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)
    assert "default-src 'none'" in html
    # A reason containing </script> cannot end the data block early.
    data = embedded(html)
    assert data["sites"][1][5] == "compute: </script><b>x</b>"
    path = tmp_path / "r.html"
    write_report(path, html)
    assert path.read_text(encoding="utf-8") == html
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_checks_and_facts_are_packed_against_names_sent_once() -> None:
    full = SiteResult.make(SITES[0], "warning", data={"checks": {
        "compute": {"state": "ok"}, "volume": {"state": "warning", "reason": "1 down"},
        "image": {"state": "ok"}}})
    no_volume = SiteResult.make(SITES[1], "ok", data={"checks": {
        "compute": {"state": "ok"}, "image": {"state": "ok"}}})
    columns = {"Auth ms": lambda r: 5, "Quota": lambda r: "12%" if r.site == "edge-1" else ""}
    data = report_data(SITES[:2], result=FleetResult("status", [full, no_volume], elapsed=1),
                       columns=columns)
    assert data["check_names"] == ["compute", "volume", "image"]
    assert data["fact_names"] == ["Auth ms", "Quota"]
    first, second = (row[6] for row in data["sites"])
    assert first["checks"] == "owo" and first["check_reasons"] == {"volume": "1 down"}
    assert second["checks"] == "o-o"  # volume not run there
    assert first["facts"] == ["5"] and second["facts"] == ["5", "12%"]


def test_site_details_show_the_versions_the_journal_completed(tmp_path) -> None:
    from edgeshade.journal import Journal

    with StateStore(tmp_path) as store:
        store.record_run(live())
        journal = Journal(store)
        with journal.step("deploy:web", "edge-1", "complete", version="8"):
            pass
        with journal.step("config:edge", "edge-1", "complete", version="3"):
            pass
        data = report_data(SITES, result=live(), store=store)
    core, edge1, _edge2 = data["sites"]
    assert edge1[6]["versions"] == {"deploy:web": "8", "config:edge": "3"}
    assert "versions" not in core[6]
