"""Configuration bundles: render files centrally, put them in each site's object store.

For on-site agents that pull their configuration: ``edgeshade config push
TEMPLATE`` renders TEMPLATE (one Jinja2 file, or every file of a directory)
for each site — with the same ``site`` values and ``secret(...)`` as
baselines — and uploads each file to the site's Swift container
``edgeshade-config`` (object name = file name without ``.j2``).

**Nothing unchanged is sent**: the site's object is HEAD-ed first and its
ETag (Swift's MD5 of the content) compared with the MD5 of the freshly
rendered content; equal means skipped. Re-pushing an unchanged bundle to
10,000 sites costs one HEAD per object and zero content bytes. The templates
are compiled once; only their rendering is per site.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeshade.errors import ConfigError
from edgeshade.results import FleetResult
from edgeshade.tasks import task

if TYPE_CHECKING:
    from edgeshade.fleet import Fleet, ProgressFn

DEFAULT_CONTAINER = "edgeshade-config"


@dataclass
class BundleFile:
    name: str
    path: str
    template: Any


def load_bundle(path: str) -> list[BundleFile]:
    """Compile the bundle's templates once (one-line error with file and line)."""
    from jinja2 import Environment, StrictUndefined, TemplateSyntaxError

    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if os.path.isfile(os.path.join(path, f)) and not f.startswith("."))
    elif os.path.isfile(path):
        files = [path]
    else:
        raise ConfigError(f"{path}: no such bundle template (a file or a directory)")
    if not files:
        raise ConfigError(f"{path}: the bundle directory has no files")
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    out = []
    for file in files:
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
            template = env.from_string(text)
        except TemplateSyntaxError as exc:
            raise ConfigError(f"{file}:{exc.lineno}: Jinja syntax error: {exc.message}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read template: {exc}") from None
        name = os.path.basename(file)
        name = name[:-3] if name.endswith(".j2") else name
        out.append(BundleFile(name, file, template))
    return out


def render_bundle(files: list[BundleFile], site: Any, secrets: Mapping[str, str]
                  ) -> dict[str, bytes]:
    """The bundle's files for one site (secrets are rendered in: they are what agents need)."""
    from jinja2 import TemplateError

    from edgeshade.render import _SiteView

    def secret(name: str) -> str:
        if name not in secrets:
            raise ConfigError(f"site '{site.name}': secret '{name}' is not defined in "
                              "secure.yaml")
        return secrets[name]

    out = {}
    for f in files:
        try:
            out[f.name] = f.template.render(site=_SiteView(site), secret=secret).encode()
        except TemplateError as exc:
            raise ConfigError(f"{f.path}: site '{site.name}': {exc}") from None
    return out


@task
def config_push(conn: Any, site: Any, bundles: Mapping[str, Mapping[str, bytes]],
                container: str = DEFAULT_CONTAINER, **_: Any) -> dict[str, Any]:
    """Upload this site's rendered files whose ETag differs (HEAD first, PUT if needed)."""
    from openstack import exceptions as sdk_exc

    store = conn.cloud.object_store
    files = bundles[site.name]
    uploaded, unchanged, sent = [], [], 0
    container_ready = False
    for name, data in files.items():
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            etag = (store.get_object_metadata(name, container).etag or "").strip('"')
        except sdk_exc.NotFoundException:
            etag = ""
        if etag == md5:
            unchanged.append(name)
            continue
        if not container_ready and not etag:
            store.create_container(name=container)
            container_ready = True
        store.upload_object(container=container, name=name, data=data)
        uploaded.append(name)
        sent += len(data)
    reason = f"{len(uploaded)} uploaded, {len(unchanged)} unchanged"
    return {"uploaded": len(uploaded), "unchanged": len(unchanged), "bytes_sent": sent,
            "objects": uploaded, "changed": bool(uploaded), "reason": reason}


def push(fleet: Fleet, template: str, *, container: str = DEFAULT_CONTAINER,
         progress: ProgressFn | None = None) -> FleetResult:
    """Render ``template`` per site and upload what changed; returns per-site counts."""
    from edgeshade.baseline.api import secrets_for

    files = load_bundle(template)
    lookup = secrets_for(fleet.config)
    bundles = {site.name: render_bundle(files, site, lookup(site)) for site in fleet.sites}
    return fleet.run(config_push, progress=progress, bundles=bundles, container=container)
