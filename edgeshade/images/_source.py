"""The image to distribute: one local file, hashed once, as Glance will hash it.

Why hash locally and once: a site's Glance reports ``checksum`` (md5) and
``os_hash_value`` (sha512) for every image it holds, so comparing those with the
local file's tells, without moving a byte, which sites already have the content
(under any name). Hashing a 10 GB file takes a minute, so the result is cached in
the state store keyed by path, size and mtime: waves of a rollout and reruns reuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from typing import Any

from edgeshade.errors import ConfigError

#: Read size while hashing and uploading (large reads keep Python's per-call cost low).
CHUNK = 1 << 20

_MAGIC = ((0, b"QFI\xfb", "qcow2"), (0, b"KDMV", "vmdk"), (0, b"vhdxfile", "vhdx"),
          (0x8001, b"CD001", "iso"))


def _sniff(head: bytes) -> str:
    """Glance disk_format from the file's first bytes (raw when nothing matches)."""
    for offset, magic, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    return "raw"


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """A hashed local image file::

        source = ImageSource.from_file("ubuntu.qcow2")
        source.sha512, source.md5, source.size, source.disk_format
    """

    path: str
    size: int
    sha512: str
    md5: str
    disk_format: str = "raw"
    container_format: str = "bare"

    @property
    def version(self) -> str:
        """Short content version: the first 12 hex digits of the sha512."""
        return self.sha512[:12]

    @classmethod
    def from_file(cls, path: str, *, disk_format: str | None = None,
                  store: Any = None) -> ImageSource:
        """Hash ``path`` (streamed, never whole in memory); reuse a cached hash if unchanged."""
        try:
            st = os.stat(path)
        except OSError as exc:
            raise ConfigError(f"image file {path}: {exc.strerror or exc}") from None
        if not os.path.isfile(path):
            raise ConfigError(f"image file {path}: not a regular file")
        key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        cached = store.cache_get("image-hash").get(key) if store is not None else None
        if cached:
            sha512, md5, sniffed = cached
        else:
            sha, md = hashlib.sha512(), hashlib.md5(usedforsecurity=False)
            head = b""
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    if len(head) < 0x8010:
                        head += chunk[: 0x8010 - len(head)]
                    sha.update(chunk)
                    md.update(chunk)
            sha512, md5, sniffed = sha.hexdigest(), md.hexdigest(), _sniff(head)
            if store is not None:
                store.cache_put("image-hash", {key: [sha512, md5, sniffed]})
        return cls(path, st.st_size, sha512, md5, disk_format or sniffed)

    @classmethod
    def from_url(cls, url: str, directory: str, *, disk_format: str | None = None,
                 timeout: float = 60.0) -> ImageSource:
        """Download ``url`` once into ``directory`` (streamed, hashed on the way)."""
        import requests

        os.makedirs(directory, exist_ok=True)
        sha, md = hashlib.sha512(), hashlib.md5(usedforsecurity=False)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".download-")
        head = b""
        try:
            with os.fdopen(fd, "wb") as out, requests.get(url, stream=True,
                                                          timeout=timeout) as resp:
                if resp.status_code != 200:
                    raise ConfigError(f"--url {url}: HTTP {resp.status_code}")
                for chunk in resp.iter_content(CHUNK):
                    if len(head) < 0x8010:
                        head += chunk[: 0x8010 - len(head)]
                    sha.update(chunk)
                    md.update(chunk)
                    out.write(chunk)
        except requests.RequestException as exc:
            os.unlink(tmp)
            raise ConfigError(f"--url {url}: {type(exc).__name__}") from None
        except BaseException:
            os.unlink(tmp)
            raise
        path = os.path.join(directory, sha.hexdigest()[:32])
        os.replace(tmp, path)
        return cls(path, os.path.getsize(path), sha.hexdigest(), md.hexdigest(),
                   disk_format or _sniff(head))
