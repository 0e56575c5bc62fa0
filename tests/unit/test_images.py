"""edgeshade.images pieces that need no site: hashing, the bandwidth cap, the upload body,
mirror templates, deadlines and the deployment hook's spec checks."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from edgeshade.config import Site
from edgeshade.errors import ConfigError, SiteCancelled, SiteError
from edgeshade.images import Bandwidth, ImageSource, ensure_image, upload_deadline
from edgeshade.images._tasks import SyncOptions, render_mirror
from edgeshade.images._transfer import Meter, UploadBody
from edgeshade.state import StateStore


def test_source_hashes_match_hashlib_and_sniff_the_format(tmp_path) -> None:
    path = tmp_path / "img"
    data = b"QFI\xfb" + bytes(range(256)) * 9000  # several read chunks
    path.write_bytes(data)
    src = ImageSource.from_file(str(path))
    assert src.sha512 == hashlib.sha512(data).hexdigest()
    assert src.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert (src.size, src.disk_format, src.version) == (len(data), "qcow2", src.sha512[:12])
    raw = tmp_path / "raw"
    raw.write_bytes(b"\0" * 10)
    assert ImageSource.from_file(str(raw)).disk_format == "raw"
    assert ImageSource.from_file(str(raw), disk_format="iso").disk_format == "iso"


def test_source_hash_is_cached_until_the_file_changes(tmp_path) -> None:
    path = tmp_path / "img"
    path.write_bytes(b"one")
    with StateStore(str(tmp_path / "state")) as store:
        first = ImageSource.from_file(str(path), store=store)
        # a cached entry is used as is: prove it by planting a different value
        key = next(iter(store.cache_get("image-hash")))
        store.cache_put("image-hash", {key: ["f" * 128, "e" * 32, "raw"]})
        assert ImageSource.from_file(str(path), store=store).sha512 == "f" * 128
        path.write_bytes(b"two!")  # size and mtime change: hashed again
        again = ImageSource.from_file(str(path), store=store)
    assert again.sha512 == hashlib.sha512(b"two!").hexdigest() != first.sha512


def test_missing_file_is_a_one_line_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"image file .*nope: No such file"):
        ImageSource.from_file(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not a regular file"):
        ImageSource.from_file(str(tmp_path))


def test_bandwidth_cap_holds_across_threads() -> None:
    cap = Bandwidth(rate=4_000_000, burst=100_000)  # 4 MB/s
    sent = 0
    lock = threading.Lock()

    def pump() -> None:
        nonlocal sent
        for _ in range(20):
            cap.take(50_000)
            with lock:
                sent += 50_000

    started = time.monotonic()
    threads = [threading.Thread(target=pump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # 4 MB minus the burst at 4 MB/s: at least ~0.97 s; generous upper bound for a busy box
    assert sent == 4_000_000
    assert 0.9 <= elapsed < 5.0


def test_upload_body_streams_counts_and_stops_when_cancelled(tmp_path) -> None:
    path = tmp_path / "img"
    path.write_bytes(b"x" * 100_000)
    seen: list[int] = []
    meter = Meter(100_000, report=lambda sent, total: seen.append(sent), every=0)
    with UploadBody(str(path), 100_000, meter=meter) as body:
        assert len(body) == 100_000
        chunks = []
        while chunk := body.read(16384):
            chunks.append(chunk)
    assert b"".join(chunks) == b"x" * 100_000 and body.sent == 100_000
    assert meter.sent == 100_000 and seen[-1] == 100_000

    def cancelled() -> None:
        raise SiteCancelled("cancelled")

    with UploadBody(str(path), 100_000, check=cancelled) as body, pytest.raises(SiteCancelled):
        body.read(16384)


def test_mirror_template_per_site() -> None:
    from edgeshade.images._source import ImageSource as Src

    src = Src("/x", 1, "ab" * 64, "cd" * 16)
    site = Site("edge-1", "RegionOne", "edge-1", vars={"region_group": "eu-west"})
    url = render_mirror("http://mirror-{{ site.vars.region_group }}/{{image.name}}-"
                        "{{ image.version }}.qcow2", site, "app", src)
    assert url == f"http://mirror-eu-west/app-{'ab' * 6}.qcow2"
    bare = Site("edge-2", "RegionOne", "edge-2")
    with pytest.raises(SiteError, match="edge-2 has no value for 'site.vars.region_group'"):
        render_mirror("http://m-{{ site.vars.region_group }}/x", bare, "app", src)
    with pytest.raises(ConfigError, match="unknown name 'region'"):
        SyncOptions(mirror="http://{{ region }}/x")
    with pytest.raises(ConfigError, match="adopt"):
        SyncOptions(adopt="steal")
    with pytest.raises(ConfigError, match="reserved"):
        SyncOptions(properties={"edgeshade_image": "x"})


def test_upload_deadline_follows_size_and_cap() -> None:
    size = 10 * 1024**3
    assert upload_deadline(size, max_uploads=4, bandwidth_mbps=None) == 300 + size / 262144
    # a 40 Mbit/s cap shared by 8 uploads is 625 kB/s each: faster than the floor, floor wins
    assert upload_deadline(size, max_uploads=8, bandwidth_mbps=40) == 300 + size / 262144
    # 8 Mbit/s shared by 8: 125 kB/s each, so the deadline allows for that
    assert upload_deadline(size, max_uploads=8, bandwidth_mbps=8) == 300 + size / 125000


def test_ensure_image_checks_the_spec_before_anything_runs(fleet_files) -> None:
    import edgeshade

    clouds, _secure = fleet_files
    fleet = edgeshade.connect("all", config_file=clouds, use_state=False)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) flie"):
        ensure_image(fleet, {"name": "app", "flie": "x"})
    with pytest.raises(ConfigError, match="'name' is required"):
        ensure_image(fleet, {"file": "x"})
    with pytest.raises(ConfigError, match="not in the fleet: edge-nowhere"):
        ensure_image(fleet, {"name": "app", "file": "x"}, sites=["edge-nowhere"])
    with pytest.raises(ConfigError, match="give fleet="):
        ensure_image(["edge-berlin"], "app", file="x")
    with pytest.raises(ConfigError, match="exactly one of file, url or source"):
        ensure_image(fleet, "app")


def test_mirror_credentials_never_shown() -> None:
    from edgeshade.images._tasks import public_url

    assert public_url("https://bob:s3cret@mirror.eu/x.qcow2") == "https://***@mirror.eu/x.qcow2"
    assert public_url("http://mirror.eu/a@b.qcow2") == "http://mirror.eu/a@b.qcow2"
