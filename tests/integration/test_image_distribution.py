"""Image distribution end to end: edgeshade.images against the simulator's Glance over HTTP.

What the simulator measures is the proof: bytes received per site (so an upload
skipped is an upload that did not happen), uploads in flight at once, imports.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

import edgeshade
from edgeshade import images
from edgeshade.cli import main
from edgeshade.journal import Journal, StateBusy
from edgeshade.sim import SimFleet, SimServer
from edgeshade.sim.contents import Image

pytestmark = pytest.mark.timeout(180)

SIZE = 192 * 1024


def _image_file(path: Path, seed: bytes, size: int = SIZE) -> Path:
    block = hashlib.sha512(seed).digest()
    path.write_bytes(b"QFI\xfb" + (block * (size // len(block) + 1))[: size - 4])
    return path


def _hashes(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()


def _add_image(server: SimServer, site: str, name: str, *, md5: str = "", sha512: str = "",
               status: str = "active", properties: dict | None = None,
               updated: datetime | None = None) -> str:
    """Put an image straight into a site's contents (what an earlier upload left)."""

    def add() -> str:
        img = Image(f"img-{hashlib.md5(f'{site}{name}{status}{sha512}'.encode()).hexdigest()}",
                    name, "owner", SIZE, "qcow2", datetime(2024, 1, 1, tzinfo=UTC), md5, sha512)
        img.status = status
        if status != "active":
            img.checksum = img.os_hash_value = None
        img.properties = dict(properties or {})
        if updated is not None:
            img.updated_at = updated
        server.fleet.contents(site).images.append(img)
        return img.id

    return server.call_in_loop(add)


def _site_images(server: SimServer, site: str) -> list[Image]:
    return server.call_in_loop(lambda: list(server.fleet.contents(site).images))


def _ours(server: SimServer, site: str, name: str = "app") -> list[Image]:
    return [i for i in _site_images(server, site) if i.properties.get(images.MARK) == name]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[dict]:
    """A factory: ``sim(sites, faults=..., bandwidth_mbps=...)`` -> server, config, fleet."""
    servers: list[SimServer] = []

    def start(sites: int, *, faults: str = "", bandwidth_mbps: float = 0.0,
              latency_ms: float = 0.0, group_vars: bool = False) -> dict:
        server = SimServer(SimFleet(sites=sites, seed=3, faults=faults, latency_ms=latency_ms,
                                    bandwidth_mbps=bandwidth_mbps)).start()
        servers.append(server)
        clouds, _secure = server.write_config(str(tmp_path / f"cfg{len(servers)}"))
        if group_vars:
            doc = yaml.safe_load(Path(clouds).read_text())
            for group, spec in doc["edgeshade"]["groups"].items():
                spec["vars"] = {"region_group": group}
            Path(clouds).write_text(yaml.safe_dump(doc))
        state = str(tmp_path / f"state{len(servers)}")
        fleet = edgeshade.connect("all", config_file=clouds, state_dir=state, timeout=20)
        return {"server": server, "clouds": clouds, "state": state, "fleet": fleet}

    yield start
    for server in servers:
        server.stop()


def test_300_sites_100_hold_it_under_another_name_exactly_200_uploads(sim, tmp_path) -> None:
    env = sim(300, bandwidth_mbps=40)
    server: SimServer = env["server"]
    path = _image_file(tmp_path / "app.qcow2", b"v1")
    md5, sha = _hashes(path)
    holders = server.fleet.sites[::3]
    assert len(holders) == 100
    for site in holders:
        _add_image(server, site, "golden-copy", md5=md5, sha512=sha)

    out = tmp_path / "out.json"
    argv = ["--os-config-file", env["clouds"], "--state-dir", env["state"], "-f", "json",
            "image", "sync", "app", "--file", str(path), "--max-uploads", "4"]
    with open(out, "w") as fh:
        import contextlib

        with contextlib.redirect_stdout(fh):
            code = main(argv)
    assert code == 0
    result = json.loads(out.read_text())
    actions = {s["site"]: s["data"]["action"] for s in result["sites"]}
    assert {a for s, a in actions.items() if s in holders} == {"in_sync"}
    assert sum(a == "uploaded" for a in actions.values()) == 200
    found = {s["site"]: s["data"]["found_as"] for s in result["sites"]}
    assert {found[s] for s in holders} == {"golden-copy"}

    stats = server.stats()["images"]
    assert stats["uploads_done"] == 200 and stats["uploads_started"] == 200
    received = stats["received_by_site"]
    assert set(received) == set(server.fleet.sites) - set(holders)
    assert set(received.values()) == {SIZE}
    assert stats["bytes_received"] == 200 * SIZE
    assert 2 <= stats["max_concurrent_uploads"] <= 4
    # Glance's own hash of what arrived is the file's
    uploaded = [i for i in _ours(server, server.fleet.sites[1]) if i.status == "active"]
    assert [(i.os_hash_value, i.checksum, i.disk_format) for i in uploaded] == [
        (sha, md5, "qcow2")]

    again = images.sync(env["fleet"], "app", file=str(path))
    assert {r.data.action for r in again} == {"in_sync"}
    assert server.stats()["images"]["bytes_received"] == 200 * SIZE  # nothing sent twice
    status = images.status(env["fleet"], "app")
    assert status.summary == {"ok": 300}
    assert {r.data.version for r in status} == {sha[:12]}


def test_cut_uploads_leave_no_partial_image_and_a_rerun_completes_them(sim, tmp_path) -> None:
    env = sim(30, faults="cut=5", bandwidth_mbps=50)
    server: SimServer = env["server"]
    path = _image_file(tmp_path / "app.qcow2", b"cut")
    cut = [s for s in server.fleet.sites if server.fleet.fault_of(s)]
    assert len(cut) == 5

    first = images.sync(env["fleet"], "app", file=str(path), max_uploads=3)
    failed = {r.site for r in first if r.state != "ok"}
    assert failed == set(cut)
    for site in cut:
        reason = first[site].reason
        assert "upload failed" in reason and "partial image" in reason and "removed" in reason
        assert _ours(server, site) == [], site  # the half-uploaded image is gone
    assert server.stats()["images"]["uploads_cut"] == 5

    second = images.sync(env["fleet"], "app", file=str(path), max_uploads=3)
    assert second.summary == {"ok": 30}
    assert {r.site for r in second if r.data.action == "uploaded"} == set(cut)
    stats = server.stats()["images"]
    for site in cut:
        assert stats["received_by_site"][site] == SIZE + SIZE // 2
        assert [i.status for i in _ours(server, site)] == ["active"]
    with Journal.open(env["state"]) as journal:
        done = journal.site_versions(images.op_name("app"))
    assert set(done) == set(server.fleet.sites)


def test_leftovers_of_an_interrupted_run_are_reused_or_removed(sim, tmp_path) -> None:
    env = sim(12)
    server: SimServer = env["server"]
    path = _image_file(tmp_path / "app.qcow2", b"resume")
    _md5, sha = _hashes(path)
    marks = {images.MARK: "app", images.MARK_SHA: sha}
    site_a, site_b, site_c = "edge-00001", "edge-00002", "edge-00003"
    # site A: a run crashed mid-upload (journal knows the image); and one queued, reusable
    saving = _add_image(server, site_a, "app", status="saving", properties=marks)
    queued = _add_image(server, site_a, "app", status="queued", properties=marks,
                        updated=datetime(2024, 1, 1, tzinfo=UTC))
    # site B: an old stuck upload nobody knows (stale by age): removed
    stuck = _add_image(server, site_b, "app", status="saving", properties=marks,
                       updated=datetime(2024, 1, 1, tzinfo=UTC))
    # site C: another client's upload that is moving right now: left alone, site warns
    _add_image(server, site_c, "app", status="saving", properties=marks,
               updated=datetime.now(UTC))
    with Journal.open(env["state"]) as journal:
        journal.begin(images.op_name("app"), site_a, "upload", resource=saving, version=sha)

    plan = images.sync(env["fleet"], "app", file=str(path), dry_run=True)
    assert [c["id"] for c in plan[site_a].data.cleanup] == [saving]
    assert plan[site_a].data.reuse_id == queued
    assert len(_site_images(server, site_a)) - len(_ours(server, site_a)) >= 0
    assert {i.id for i in _ours(server, site_a)} == {saving, queued}  # dry run: untouched

    result = images.sync(env["fleet"], "app", file=str(path))
    assert result[site_a].state == "ok" and result[site_a].data.image_id == queued
    assert [(i.id, i.status) for i in _ours(server, site_a)] == [(queued, "active")]
    assert [i.status for i in _ours(server, site_b)] == ["active"]
    assert stuck not in {i.id for i in _site_images(server, site_b)}
    assert result[site_c].state == "warning" and result[site_c].data.action == "busy"
    assert len(_ours(server, site_c)) == 1
    assert server.stats()["images"]["uploads_done"] == 11


def test_second_writer_is_refused(sim, tmp_path) -> None:
    env = sim(3)
    path = _image_file(tmp_path / "app.qcow2", b"lock")
    with Journal.open(env["state"]) as journal, journal.lock(images.op_name("app")):
        with pytest.raises(StateBusy):
            images.sync(env["fleet"], "app", file=str(path))
    plan = images.sync(env["fleet"], "app", file=str(path), dry_run=True)  # plans need no lock
    assert plan.summary == {"ok": 3}


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP mirror serving ``tmp_path/mirror``."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_mirror_import_with_fallback_to_upload(sim, mirror, tmp_path) -> None:
    env = sim(16, faults="noimport=2", group_vars=True)
    server: SimServer = env["server"]
    base, root = mirror
    path = _image_file(tmp_path / "app.qcow2", b"mirror")
    (root / "edge").mkdir()
    (root / "edge" / "app.qcow2").write_bytes(path.read_bytes())
    # the core mirror lacks the file: those imports fail, then fall back to upload
    noimport = {s for s in server.fleet.sites if server.fleet.fault_of(s)}
    template = base + "/{{ site.vars.region_group }}/{{ image.name }}.qcow2"

    result = images.sync(env["fleet"], "app", file=str(path), mirror=template)
    assert result.summary == {"ok": 16}
    core = {s for s in server.fleet.sites if s.startswith("core-")}
    via = {r.site: r.data.action for r in result}
    assert {s for s, a in via.items() if a == "uploaded"} == core | noimport
    assert {s for s, a in via.items() if a == "imported"} == set(server.fleet.sites) - core - \
        noimport
    imported = next(r for r in result if r.data.action == "imported")
    assert imported.data.mirror == f"{base}/edge/app.qcow2"
    stats = server.stats()["images"]
    assert set(stats["received_by_site"]) == core | noimport  # no central bytes for the rest
    assert stats["imports_done"] == 16 - len(core) - len(noimport)
    assert stats["imports_failed"] == len(core)
    for site in core:
        assert "import from" in result[site].data.fallback
        assert [i.status for i in _ours(server, site)] == ["active"]  # failed import removed

    other = _image_file(tmp_path / "other.qcow2", b"other")
    (root / "edge" / "other.qcow2").write_bytes(other.read_bytes())
    strict = images.sync(env["fleet"], "other", file=str(other), mirror=template,
                         fallback=False)
    assert {r.site for r in strict if r.state != "ok"} == core | noimport
    assert "no web-download" in strict[sorted(noimport)[0]].reason
    assert "import from" in strict["core-a/RegionOne"].reason
    assert all(_ours(server, s, "other") == [] for s in core | noimport)


def test_prune_keeps_the_current_version_and_images_in_use(sim, tmp_path) -> None:
    env = sim(4)
    server: SimServer = env["server"]
    fleet = env["fleet"]
    ids = []
    for version in (b"v1", b"v2", b"v3"):
        path = _image_file(tmp_path / f"{version.decode()}.qcow2", version)
        result = images.sync(fleet, "app", file=str(path))
        assert result.summary == {"ok": 4}
        ids.append({r.site: r.data.image_id for r in result})
    site = next(s for s in server.fleet.sites if server.fleet.contents(s).servers)
    names = sorted(i.name for i in _ours(server, site))
    assert names[0] == "app" and all(n.startswith("app@") for n in names[1:])
    status = images.status(fleet, "app")
    assert status.summary == {"ok": 4}
    assert len(status[site].data.stale) == 2

    def boot_from_v1() -> None:
        server.fleet.contents(site).servers[0].image_id = ids[0][site]

    server.call_in_loop(boot_from_v1)
    plan = images.prune(fleet, "app", keep=1, dry_run=True)
    assert len(plan[site].data.deleted) == 1 and plan[site].data.changed
    assert len(_ours(server, site)) == 3

    pruned = images.prune(fleet, "app", keep=1)
    assert pruned.summary == {"ok": 4}
    assert {i.id for i in _ours(server, site)} == {ids[2][site], ids[0][site]}
    assert [i["id"] for i in pruned[site].data.in_use] == [ids[0][site]]
    other = next(s for s in server.fleet.sites if s != site)
    assert {i.id for i in _ours(server, other)} == {ids[2][other]}


def test_uploads_have_their_own_deadline_not_the_api_one(sim, tmp_path) -> None:
    """The fleet's API deadline (1 s) is far shorter than an upload (~1.6 s at 1 Mbit/s)."""
    env = sim(2, bandwidth_mbps=1.0)
    server: SimServer = env["server"]
    path = _image_file(tmp_path / "app.qcow2", b"slow")
    fleet = edgeshade.connect("all", config_file=env["clouds"], state_dir=env["state"],
                              timeout=1.0)
    result = images.sync(fleet, "app", file=str(path), max_uploads=2)
    assert result.summary == {"ok": 2}
    assert min(r.elapsed for r in result) > 1.0  # longer than the API deadline

    late = _image_file(tmp_path / "late.qcow2", b"late")
    short = images.sync(fleet, "late", file=str(late), upload_timeout=0.5)
    assert short.summary == {"timed_out": 2}
    for r in short:
        assert "upload failed" in r.reason and "removed" in r.reason
        assert _ours(server, r.site, "late") == []


def test_bandwidth_cap_is_shared_by_all_uploads(sim, tmp_path) -> None:
    env = sim(8)
    server: SimServer = env["server"]
    path = _image_file(tmp_path / "app.qcow2", b"capped", size=256 * 1024)
    import time

    started = time.monotonic()
    result = images.sync(env["fleet"], "app", file=str(path), max_uploads=8, bandwidth_mbps=8)
    elapsed = time.monotonic() - started
    assert result.summary == {"ok": 8}
    total = server.stats()["images"]["bytes_received"]
    assert total == 8 * 256 * 1024
    # 2 MiB at 1 MB/s less the bucket's burst (250 kB): never faster than ~1.8 s
    assert elapsed >= (total - 250_000) / 1_000_000 * 0.95


def test_url_source_is_downloaded_once_then_distributed(sim, mirror, tmp_path) -> None:
    env = sim(5)
    server: SimServer = env["server"]
    base, root = mirror
    path = _image_file(root / "app.qcow2", b"url")
    md5, sha = _hashes(path)
    result = images.sync(env["fleet"], "app", url=f"{base}/app.qcow2")
    assert result.summary == {"ok": 5}
    assert {r.data.version for r in result} == {sha[:12]}
    assert server.stats()["images"]["bytes_received"] == 5 * SIZE
    cached = list(Path(env["state"], "images").iterdir())
    assert [p.read_bytes() == path.read_bytes() for p in cached] == [True]


def test_cli_bad_input_is_one_line_and_exit_3(sim, tmp_path, capsys) -> None:
    env = sim(2)
    path = _image_file(tmp_path / "app.qcow2", b"cli")
    common = ["--os-config-file", env["clouds"], "--state-dir", env["state"], "image"]
    cases = [
        (["sync", "app"], "exactly one of --file or --url"),
        (["sync", "app", "--file", str(tmp_path / "nope")], "image file"),
        (["sync", "app", "--file", str(path), "--mirror", "http://{{ zone }}/x"],
         "unknown name 'zone'"),
        (["sync", "app", "--file", str(path), "--property", "novalue"], "--property"),
        (["sync", "app", "--file", str(path), "-c", "bogus"], "unknown column 'bogus'"),
    ]
    for argv, message in cases:
        assert main(common + argv) == 3, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    with Journal.open(env["state"]) as journal, journal.lock(images.op_name("app")):
        assert main(common + ["sync", "app", "--file", str(path)]) == 3
        assert "is running 'image:app'" in capsys.readouterr().err
    assert main(common + ["status", "app"]) == 1  # missing everywhere: warning
    assert main(common + ["sync", "app", "--file", str(path)]) == 0
    assert main(common + ["status", "app", "--file", str(path)]) == 0
    assert main(common + ["prune", "app", "--keep", "1", "--dry-run"]) == 0


def test_ctrl_c_during_uploads_removes_the_partial_images(sim, tmp_path) -> None:
    """SIGINT mid-upload: the run returns cancelled and no half-uploaded image stays behind."""
    import signal
    import time

    env = sim(6, bandwidth_mbps=1.0)  # each upload takes ~1.6 s
    server: SimServer = env["server"]
    path = _image_file(tmp_path / "app.qcow2", b"sigint")
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = images.sync(env["fleet"], "app", file=str(path), max_uploads=3)
    finally:
        timer.cancel()
    assert result.cancelled and result.exit_code == 130
    assert result.summary == {"cancelled": 6}
    deadline = time.monotonic() + 10
    leftovers: list = [None]
    while leftovers and time.monotonic() < deadline:  # cleanup runs in the upload threads
        leftovers = [i for s in server.fleet.sites for i in _ours(server, s)]
        time.sleep(0.1)
    assert leftovers == []
    assert images.sync(env["fleet"], "app", file=str(path), max_uploads=6).summary == {"ok": 6}
