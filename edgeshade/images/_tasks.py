"""Per-site image tasks: plan, upload, import, status, prune.

Each is a plain fleet task ``(conn, site, **params) -> mapping``: it knows one
site, nothing about concurrency, deadlines or other sites (the orchestration in
:mod:`edgeshade.images._sync` runs them in phases with the right fleet settings).

How a site's images are recognised (Glance properties set on every image
edgeshade creates):

* ``edgeshade_image`` = the logical name (``ubuntu``): every *version* of it;
* ``edgeshade_sha512`` = the content it is meant to hold, set at creation, so an
  image cut off before Glance hashed anything is still known by content.

A site is **in sync** when it holds an active image whose ``os_hash_value`` and
``checksum`` equal the file's, whatever its name. The newest version carries the
name; superseded versions are renamed ``NAME@<version>`` so boot-by-name is never
ambiguous, and stay until ``prune``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edgeshade.classify import classify
from edgeshade.config import Site
from edgeshade.connection import SiteConnection
from edgeshade.errors import ConfigError, SiteError, SiteTimedOut
from edgeshade.images import _glance as glance
from edgeshade.images._source import ImageSource
from edgeshade.images._transfer import Bandwidth, Meter, UploadBody

MARK = "edgeshade_image"
MARK_SHA = "edgeshade_sha512"
#: Seconds a cleanup (deleting a partial image) may run past a failed site's deadline.
CLEANUP_GRACE = 15.0
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_ADOPT = ("none", "tag", "rename")


@dataclass
class SyncOptions:
    """How a sync treats sites; see :func:`edgeshade.images.sync` for each field."""

    adopt: str = "none"
    properties: dict[str, str] = field(default_factory=dict)
    visibility: str | None = None
    mirror: str | None = None
    fallback: bool = True
    stale_after: float = 3600.0
    stall_timeout: float = 120.0
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.adopt not in _ADOPT:
            raise ConfigError(f"adopt: '{self.adopt}' is not one of {', '.join(_ADOPT)}")
        for key, value in self.properties.items():
            if key in (MARK, MARK_SHA) or not isinstance(value, str):
                raise ConfigError(f"property '{key}': reserved or not a string")
        if self.mirror is not None:
            check_template(self.mirror)


@dataclass
class Transfer:
    """What the upload phase shares across sites: the bandwidth cap and the byte meter."""

    bandwidth: Bandwidth | None = None
    meter: Meter | None = None


# -- templates ----------------------------------------------------------------------------


def check_template(template: str) -> None:
    """Bad names in a mirror template are input errors, found before any site is contacted."""
    for match in _TEMPLATE.finditer(template):
        root = match.group(1).split(".")[0]
        if root not in ("site", "image"):
            raise ConfigError(
                f"mirror template: unknown name '{match.group(1)}' (use site.name, site.cloud, "
                "site.region, site.vars.KEY, image.name, image.sha512, image.version)"
            )


def public_url(url: str) -> str:
    """``url`` without ``user:password@``: mirror credentials stay out of results and logs."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", url, flags=re.I)


def render_mirror(template: str, site: Site, name: str, source: ImageSource) -> str:
    """``http://mirror-{{ site.vars.region_group }}/img.qcow2`` for one site."""
    scope = {
        "site": {"name": site.name, "cloud": site.cloud, "region": site.region or "",
                 "vars": dict(site.vars or {})},
        "image": {"name": name, "sha512": source.sha512, "md5": source.md5,
                  "version": source.version},
    }

    def value(match: re.Match[str]) -> str:
        node: Any = scope
        for part in match.group(1).split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise SiteError(
                    f"mirror template: {site.name} has no value for '{match.group(1)}'",
                    hint="set it under the site's edgeshade: vars in clouds.yaml",
                    state="error",
                )
            node = node[part]
        return str(node)

    return _TEMPLATE.sub(value, template)


# -- what a site holds --------------------------------------------------------------------


def _age(image: Mapping[str, Any]) -> float:
    stamp = image.get("updated_at") or image.get("created_at")
    if not stamp:
        return 0.0
    try:
        when = datetime.strptime(str(stamp)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - when).total_seconds()


def _same_content(image: Mapping[str, Any], source: ImageSource) -> bool:
    return (image.get("status") == "active" and image.get("os_hash_value") == source.sha512
            and (not image.get("checksum") or image.get("checksum") == source.md5))


def _rank(image: Mapping[str, Any], name: str) -> int:
    """Which of several copies counts as *the* image: ours by name, then by name, then ours."""
    return (image.get("name") == name) * 2 + (image.get(MARK) == name)


def _survey(conn: SiteConnection, name: str, sha512: str | None) -> dict[str, list[dict]]:
    calls = {
        "versions": lambda: glance.list_images(conn, **{MARK: name}),
        "named": lambda: glance.list_images(conn, name=name),
    }
    if sha512:
        calls["matches"] = lambda: glance.list_images(conn, os_hash_value=sha512)
    found = conn.parallel(calls)
    for value in found.values():
        if isinstance(value, BaseException):
            raise value
    found.setdefault("matches", [])
    return found


def _version(image: Mapping[str, Any] | None) -> str | None:
    if not image:
        return None
    sha = image.get("os_hash_value") or image.get(MARK_SHA)
    return sha[:12] if sha else None


def _short(image: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": image["id"], "name": image.get("name"), "status": image.get("status"),
            "version": _version(image)}


# -- plan (phase 1) -----------------------------------------------------------------------


def plan(conn: SiteConnection, site: Site, *, name: str, source: ImageSource,
         options: SyncOptions, known: Mapping[str, list[str]] | None = None,
         dry_run: bool = False) -> dict[str, Any]:
    """Find the image by content; clean up leftovers; say what the site still needs.

    Leftovers (partial images of ours: queued/saving/importing) are deleted when
    the journal knows them or they have not moved for ``stale_after`` seconds; a
    queued one meant for this very content is reused instead of creating another.
    """
    ours_known = set((known or {}).get(site.name, ()))
    found = _survey(conn, name, source.sha512)
    versions, named, matches = found["versions"], found["named"], found["matches"]
    matches = [i for i in matches if _same_content(i, source)]
    matches += [i for i in named + versions
                if _same_content(i, source) and i["id"] not in {m["id"] for m in matches}]
    current = max(matches, key=lambda i: _rank(i, name)) if matches else None

    partial = [i for i in versions if i.get("status") in glance.PARTIAL or
               i.get("status") == "killed"]
    mine = [i for i in partial if i["id"] in ours_known or i.get("status") == "killed"
            or _age(i) >= options.stale_after]
    busy = [i for i in partial if i not in mine]
    reuse = None
    if current is None:
        reusable = [i for i in mine if i.get("status") == "queued"
                    and i.get(MARK_SHA) == source.sha512]
        reuse = reusable[0] if reusable else None
    cleanup = [i for i in mine if i is not reuse]

    adopt: dict[str, Any] = {}
    if current is not None and options.adopt != "none":
        if current.get(MARK) != name or current.get(MARK_SHA) != source.sha512:
            adopt.update({MARK: name, MARK_SHA: source.sha512})
        if options.adopt == "rename" and current.get("name") != name:
            adopt["name"] = name
    # Superseded versions that still carry the name (renamed once the new one has it).
    takes_name = current is not None and (current.get("name") == name or
                                          adopt.get("name") == name)
    superseded = [i for i in versions if i.get("status") == "active" and i.get("name") == name
                  and (current is None or i["id"] != current["id"])]
    others = [i for i in named if i.get(MARK) != name and not _same_content(i, source)]

    action = "in_sync" if current is not None else "transfer"
    if current is not None and adopt:
        action = "adopt"
    renames = superseded if (takes_name or current is None) else []
    changed = action != "in_sync" or bool(cleanup) or bool(renames)
    data: dict[str, Any] = {
        "action": action,
        "version": source.version if current is not None else _version(
            max(versions, key=lambda i: i.get("created_at") or "", default=None)
            if [v for v in versions if v.get("status") == "active"] else None),
        "image_id": current["id"] if current else None,
        "found_as": current.get("name") if current else None,
        "reuse_id": reuse["id"] if reuse else None,
        "cleanup": [_short(i) for i in cleanup],
        "superseded": [_short(i) for i in renames],
        "others": [_short(i) for i in others],
        "changed": changed,
    }
    if busy and current is None:
        data.update(action="busy", changed=False)
        return {**data, "state": "warning",
                "reason": f"{len(busy)} partial image(s) of {name} moved less than "
                          f"{options.stale_after:g} s ago: another upload may be running",
                "hint": "wait for it, or lower stale_after to take them over"}
    if changed:
        data["diff"] = {
            "before": f"image {name}: {data['found_as'] or 'missing'}"
                      f"{' (' + str(len(cleanup)) + ' partial)' if cleanup else ''}\n",
            "after": f"image {name}: sha512:{source.version} ({source.size} bytes"
                     f"{', adopted' if action == 'adopt' else ''}"
                     f"{', to transfer' if action == 'transfer' else ''})\n",
        }
    if dry_run:
        return data
    for image in cleanup:
        glance.delete_image(conn, image["id"])
    if action == "adopt":
        glance.update_image(conn, current["id"], adopt)  # type: ignore[index]
        data["found_as"] = adopt.get("name", data["found_as"])
    if action != "transfer":
        _rename_superseded(conn, renames, name)
    return data


def _rename_superseded(conn: SiteConnection, images: list[Mapping[str, Any]], name: str) -> None:
    for image in images:
        version = _version(image) or image["id"][:12]
        glance.update_image(conn, image["id"], {"name": f"{name}@{version}"})


# -- transfer (phases 2 and 3) --------------------------------------------------------------


def _create(conn: SiteConnection, name: str, source: ImageSource, options: SyncOptions,
            journal: Any, op: str, site: Site) -> str:
    body: dict[str, Any] = {
        "name": name,
        "disk_format": source.disk_format,
        "container_format": source.container_format,
        **options.properties,
        MARK: name,
        MARK_SHA: source.sha512,
    }
    if options.visibility:
        body["visibility"] = options.visibility
    if journal is None:
        return glance.create_image(conn, body)["id"]
    with journal.step(op, site.name, "create", version=source.sha512) as step:
        image_id = glance.create_image(conn, body)["id"]
        step.resource = image_id
    return image_id


def _fail(conn: SiteConnection, exc: BaseException, image_id: str | None, what: str) -> SiteError:
    """A failed transfer: remove the partial image, then a SiteError saying so."""
    state, reason, hint = classify(exc)
    if isinstance(exc, SiteError):
        state, reason, hint = exc.state, exc.reason, exc.hint
    removed = ""
    if image_id is not None:
        session = conn.session
        # a timed-out or cancelled (Ctrl-C) site still gets a moment to clean up
        session.deadline = time.monotonic() + CLEANUP_GRACE
        session.cancel = None
        try:
            glance.delete_image(conn, image_id)
            removed = f"; partial image {image_id} removed"
        except Exception:  # noqa: BLE001 - the next run cleans up what is left
            removed = f"; partial image {image_id} left for the next run to clean up"
    return SiteError(f"{what}{removed}: {reason}", hint=hint, state=str(state))


def _finish(conn: SiteConnection, site: Site, *, name: str, source: ImageSource,
            image_id: str, plan_data: Mapping[str, Any], journal: Any, op: str,
            via: str) -> dict[str, Any]:
    image = glance.get_image(conn, image_id)
    if not _same_content(image, source):
        glance.delete_image(conn, image_id)
        raise _Handled(
            f"{via}: the site hashed the data as sha512:{_version(image)} "
            f"({image.get('status')}), not {source.version}; image removed",
            hint="the file or the mirror changed during the transfer", state="error")
    return _complete(conn, site, name=name, source=source, image_id=image_id,
                     plan_data=plan_data, journal=journal, op=op, via=via)


class _Handled(SiteError):
    """A failure whose cleanup is done already: passed on as it is."""


def _complete(conn: SiteConnection, site: Site, *, name: str, source: ImageSource,
              image_id: str, plan_data: Mapping[str, Any], journal: Any, op: str,
              via: str) -> dict[str, Any]:
    _rename_superseded(conn, list(plan_data.get("superseded") or []), name)
    if journal is not None:
        with journal.step(op, site.name, "complete", resource=image_id,
                          version=source.sha512) as step:
            step.after = {"image_id": image_id, "via": via}
    return {"action": via, "version": source.version, "image_id": image_id,
            "found_as": name, "changed": True, "superseded": plan_data.get("superseded") or [],
            "cleanup": plan_data.get("cleanup") or [], "diff": plan_data.get("diff")}


def upload(conn: SiteConnection, site: Site, *, name: str, source: ImageSource,
           options: SyncOptions, plans: Mapping[str, Mapping[str, Any]], transfer: Transfer,
           journal: Any = None, op: str = "") -> dict[str, Any]:
    """Create (or reuse) the image and stream the file into it; verify Glance's hash."""
    plan_data = plans.get(site.name) or {}
    image_id = plan_data.get("reuse_id")
    body = None
    try:
        if image_id is None:
            image_id = _create(conn, name, source, options, journal, op, site)
        body = UploadBody(source.path, source.size, bandwidth=transfer.bandwidth,
                          meter=transfer.meter, check=conn.check, cancel=conn.session.cancel)
        if journal is not None:
            with journal.step(op, site.name, "upload", resource=image_id,
                              version=source.sha512) as step:
                glance.upload_data(conn, image_id, body, stall_timeout=options.stall_timeout)
                step.after = {"bytes": body.sent}
        else:
            glance.upload_data(conn, image_id, body, stall_timeout=options.stall_timeout)
        result = _finish(conn, site, name=name, source=source, image_id=image_id,
                         plan_data=plan_data, journal=journal, op=op, via="uploaded")
    except _Handled:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure removes the partial image
        sent = body.sent if body is not None else 0
        raise _fail(conn, exc, image_id, f"upload failed after {sent} of {source.size} bytes"
                    ) from None
    finally:
        if body is not None:
            body.close()
    result["bytes_sent"] = source.size
    return result


def web_download(conn: SiteConnection, site: Site, *, name: str, source: ImageSource,
                 options: SyncOptions, plans: Mapping[str, Mapping[str, Any]],
                 journal: Any = None, op: str = "") -> dict[str, Any]:
    """Ask the site to pull the image from its mirror (Glance ``web-download``) and wait.

    Returns ``action: fallback`` (state skipped) when the site has no
    ``web-download`` or the import failed and ``options.fallback`` allows an upload.
    """
    assert options.mirror is not None
    plan_data = plans.get(site.name) or {}
    uri = render_mirror(options.mirror, site, name, source)
    if "web-download" not in glance.import_methods(conn):
        if options.fallback:
            return {"state": "skipped", "action": "fallback",
                    "reason": "no web-download import at this site: uploading instead"}
        raise SiteError("no web-download import at this site", state="error",
                        hint="allow fallback to upload, or enable web-download in Glance")
    image_id = plan_data.get("reuse_id")
    try:
        if image_id is None:
            image_id = _create(conn, name, source, options, journal, op, site)
        if journal is not None:
            with journal.step(op, site.name, "import", resource=image_id,
                              version=source.sha512) as step:
                _import_and_wait(conn, image_id, uri, options)
                step.after = {"uri": public_url(uri)}
        else:
            _import_and_wait(conn, image_id, uri, options)
        result = _finish(conn, site, name=name, source=source, image_id=image_id,
                         plan_data=plan_data, journal=journal, op=op, via="imported")
    except _ImportFailed as exc:
        error = _fail(conn, exc, image_id, f"import from {public_url(uri)} failed")
        if options.fallback:
            return {"state": "skipped", "action": "fallback",
                    "reason": f"{error.reason}: uploading instead"}
        raise error from None
    except _Handled:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure removes the partial image
        raise _fail(conn, exc, image_id, f"import from {public_url(uri)} failed") from None
    result["bytes_sent"] = 0
    result["mirror"] = public_url(uri)
    return result


class _ImportFailed(SiteError):
    """Glance gave up on the import (it put the image back to queued)."""


def _import_and_wait(conn: SiteConnection, image_id: str, uri: str,
                     options: SyncOptions) -> None:
    glance.start_web_download(conn, image_id, uri)
    interval = min(0.25, options.poll_interval)
    while True:
        image = glance.get_image(conn, image_id)
        status = image.get("status")
        if status == "active":
            return
        if status in ("killed", "deleted") or (
            status == "queued" and image.get("os_glance_failed_import")
        ):
            raise _ImportFailed(f"Glance reports the image {status}", state="error")
        left = conn.remaining()
        if left is not None and left <= interval:
            raise SiteTimedOut(f"still {status} at the import deadline")
        conn.session._sleep(interval, "waiting for the import")
        interval = min(options.poll_interval, interval * 2)


# -- status and prune ---------------------------------------------------------------------


def status(conn: SiteConnection, site: Site, *, name: str,
           sha512: str | None = None) -> dict[str, Any]:
    """Which version of ``name`` the site holds; missing, stale and partial copies.

    ``sha512`` is the wanted content (ok when the site holds it under any name);
    without it, the site's newest active version counts.
    """
    found = _survey(conn, name, sha512)
    versions, named = found["versions"], found["named"]
    active = [i for i in versions if i.get("status") == "active"]
    current = None
    if sha512:
        matches = [i for i in found["matches"] + named + versions
                   if i.get("status") == "active" and i.get("os_hash_value") == sha512]
        current = max(matches, key=lambda i: _rank(i, name)) if matches else None
    else:
        candidates = [i for i in active if i.get("name") == name] or active or [
            i for i in named if i.get("status") == "active"]
        current = max(candidates, key=lambda i: i.get("created_at") or "", default=None)
    stale = [i for i in active if current is None or i["id"] != current["id"]]
    partial = [i for i in versions if i.get("status") != "active"]
    data: dict[str, Any] = {
        "version": _version(current),
        "image_id": current["id"] if current else None,
        "found_as": current.get("name") if current else None,
        "stale": [_short(i) for i in stale],
        "partial": [_short(i) for i in partial],
        "others": [_short(i) for i in named if i.get(MARK) != name and i is not current],
    }
    if current is None:
        held = _version(max(active, key=lambda i: i.get("created_at") or "", default=None))
        if held:
            return {**data, "state": "warning",
                    "reason": f"outdated: holds {held}, not {sha512[:12] if sha512 else '?'}"}
        return {**data, "state": "warning", "reason": f"image {name} missing"}
    if partial:
        return {**data, "state": "warning",
                "reason": f"{len(partial)} partial image(s) left (sync cleans them up)"}
    return data


def prune(conn: SiteConnection, site: Site, *, name: str, keep: int = 1,
          sha512: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Delete old versions of ``name`` beyond the newest ``keep`` that no server uses.

    The wanted version (``sha512``, else the one carrying the name) is always
    kept; versions a server boots from are kept too and do not count in ``keep``.
    """
    found = conn.parallel({
        "versions": lambda: glance.list_images(conn, **{MARK: name}),
        "used": lambda: glance.images_in_use(conn),
    })
    for value in found.values():
        if isinstance(value, BaseException):
            raise value
    used: set[str] = found["used"]
    active = sorted((i for i in found["versions"] if i.get("status") == "active"),
                    key=lambda i: i.get("created_at") or "", reverse=True)
    wanted = [i for i in active if (sha512 and i.get("os_hash_value") == sha512)
              or (not sha512 and i.get("name") == name)]
    keep_ids = [i["id"] for i in wanted[:1]]
    for image in active:  # newest first; versions in use are kept besides these
        if len(keep_ids) >= keep:
            break
        if image["id"] not in keep_ids and image["id"] not in used:
            keep_ids.append(image["id"])
    in_use = [i for i in active if i["id"] in used and i["id"] not in keep_ids]
    delete = [i for i in active if i["id"] not in keep_ids and i["id"] not in used]
    data: dict[str, Any] = {
        "kept": [_short(i) for i in active if i["id"] in keep_ids],
        "in_use": [_short(i) for i in in_use],
        "deleted": [_short(i) for i in delete],
        "changed": bool(delete),
    }
    if delete:
        data["diff"] = {
            "before": "".join(f"{i.get('name')} {_version(i)}\n" for i in active),
            "after": "".join(f"{i.get('name')} {_version(i)}\n" for i in active
                             if i not in delete),
        }
    if not dry_run:
        for image in delete:
            glance.delete_image(conn, image["id"])
    return data
