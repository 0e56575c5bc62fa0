"""Per-site plans: what a site runs (observed) against what the spec wants.

Read-only. The deployment only ever looks at what it owns: servers whose
metadata says ``edgeshade.deployment: <name>`` and stacks tagged
``edgeshade.deployment=<name>``; anything else at the site is invisible to
it, so a plan can never touch an unowned resource. Each difference is one
:class:`Change`:

* ``create``  a wanted server or stack that does not exist;
* ``change``  exists but differs; ``kind`` says how it will be applied:
  ``rebuild`` (new image on the same server), ``replace`` (new server, then
  the old one deleted), ``in_place`` (metadata, user data for the next boot)
  or ``update`` (a Heat stack update); ``reason`` says what differs
  (``image ubuntu-22.04 -> ubuntu-24.04``);
* ``delete``  owned but no longer wanted (a smaller count, a removed set,
  a duplicate left by an interrupted run);
* ``unchanged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeshade.deploy.spec import (
    DIGEST_KEY,
    OWNER_KEY,
    SET_KEY,
    VERSION_KEY,
    Spec,
    Wanted,
    WantedServer,
    WantedStack,
    digest,
)
from edgeshade.errors import SiteError

#: Nova microversion for reads: embedded flavor names (2.47), tags.
COMPUTE_READ = {"OpenStack-API-Version": "compute 2.47"}
_RANK = {"in_place": 0, "rebuild": 1, "replace": 2}


class PlanError(SiteError):
    """The site cannot take this spec (image or flavor missing there): nothing was changed."""

    state = "critical"


@dataclass
class Observed:
    """What the deployment owns at one site, plus the names it resolves against."""

    servers: list[dict[str, Any]]
    stacks: list[dict[str, Any]]
    images: dict[str, str]  # id -> name
    image_ids: dict[str, str]  # name -> id (active images)
    flavors: dict[str, str]  # name -> id
    networks: dict[str, str]  # name -> id
    has_orchestration: bool = True


@dataclass
class Change:
    action: str  # create | change | delete | unchanged
    type: str  # server | stack
    name: str
    kind: str = ""  # rebuild | replace | in_place | update
    reason: str = ""
    id: str | None = None
    wanted: Any = None
    current: dict[str, Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"action": self.action, "type": self.type, "name": self.name}
        if self.kind:
            out["kind"] = self.kind
        if self.reason:
            out["reason"] = self.reason
        if self.id:
            out["id"] = self.id
        return out


def field_digests(ws: WantedServer) -> str:
    """The compact ``edgeshade.digest`` value: fields Nova does not show back."""
    parts = {
        "sg": digest(sorted(ws.security_groups), 6),
        "key": digest(ws.key_name, 6),
        "ud": digest(ws.user_data, 6),
    }
    return ",".join(f"{k}:{v}" for k, v in parts.items())


def _parse_digests(value: str | None) -> dict[str, str]:
    out = {}
    for part in (value or "").split(","):
        k, _, v = part.partition(":")
        if k:
            out[k] = v
    return out


def server_metadata(spec: Spec, ws: WantedServer, version: str | None = None) -> dict[str, str]:
    """User metadata plus the ownership keys a plan finds the server by."""
    return {
        **ws.metadata,
        OWNER_KEY: spec.name,
        VERSION_KEY: version or spec.version,
        SET_KEY: ws.set,
        DIGEST_KEY: field_digests(ws),
    }


def stack_tags(spec: Spec, stack: WantedStack, version: str | None = None) -> list[str]:
    return [f"{OWNER_KEY}={spec.name}", f"{VERSION_KEY}={version or spec.version}",
            f"{DIGEST_KEY}={stack.digest}"]


def _tag(tags: list[str], key: str) -> str | None:
    for tag in tags or ():
        k, _, v = str(tag).partition("=")
        if k == key:
            return v
    return None


def observe(conn: Any, spec: Spec, wanted: Wanted) -> Observed:
    """One read per kind of thing: servers, images, flavors, networks, stacks (in parallel)."""
    calls: dict[str, Any] = {
        "servers": lambda: conn.request("GET", "compute", "/servers/detail",
                                        headers=COMPUTE_READ)["servers"],
    }
    if wanted.servers:
        calls["images"] = lambda: conn.get("image", "/images", limit=1000)["images"]
        calls["flavors"] = lambda: conn.get("compute", "/flavors/detail")["flavors"]
        if any(ws.networks for ws in wanted.servers):
            calls["networks"] = lambda: conn.get("network", "/networks")["networks"]
    has_heat = bool(spec.stacks) and conn.has_service("orchestration")
    if has_heat:
        calls["stacks"] = lambda: conn.get(
            "orchestration", "/stacks", tags=f"{OWNER_KEY}={spec.name}")["stacks"]
    got = conn.parallel(calls) if len(calls) > 1 else {k: _call(fn) for k, fn in calls.items()}
    for value in got.values():
        if isinstance(value, BaseException):
            raise value
    owned = [s for s in got["servers"] if (s.get("metadata") or {}).get(OWNER_KEY) == spec.name]
    images = got.get("images", [])
    return Observed(
        servers=owned,
        stacks=list(got.get("stacks", [])),
        images={i["id"]: i["name"] for i in images},
        image_ids={i["name"]: i["id"] for i in images if i.get("status") == "active"},
        flavors={f["name"]: f["id"] for f in got.get("flavors", [])},
        networks={n["name"]: n["id"] for n in got.get("networks", [])},
        has_orchestration=has_heat or not spec.stacks,
    )


def _call(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - re-raised by the caller
        return exc


def check_resolvable(wanted: Wanted, observed: Observed, site: str) -> None:
    """Names the spec uses must exist at the site: fail the site before changing anything."""
    for ws in wanted.servers:
        if ws.image not in observed.image_ids:
            raise PlanError(f"image '{ws.image}' is not at {site} (wanted by {ws.name})",
                            hint="upload it first (edgeshade image sync) or fix the spec")
        if ws.flavor not in observed.flavors:
            raise PlanError(f"flavor '{ws.flavor}' is not at {site} (wanted by {ws.name})")
        for net in ws.networks:
            if net not in observed.networks:
                raise PlanError(f"network '{net}' is not at {site} (wanted by {ws.name})")
    if wanted.stacks and not observed.has_orchestration:
        raise PlanError(f"{site} has no orchestration (Heat) service in its catalog")


def _server_diff(ws: WantedServer, cur: dict[str, Any], obs: Observed) -> tuple[str, list[str]]:
    """(kind, reasons) of a server's differences; kind '' when none."""
    reasons: list[tuple[str, str]] = []
    image_id = (cur.get("image") or {}).get("id") if isinstance(cur.get("image"), dict) else ""
    if image_id != obs.image_ids.get(ws.image):
        was = obs.images.get(image_id or "", image_id or "none")
        reasons.append(("image", f"image {was} -> {ws.image}"))
    flavor = (cur.get("flavor") or {}).get("original_name")
    if flavor is not None and flavor != ws.flavor:
        reasons.append(("flavor", f"flavor {flavor} -> {ws.flavor}"))
    if ws.networks:
        nets = sorted((cur.get("addresses") or {}).keys())
        if nets != sorted(ws.networks):
            reasons.append(("networks", f"networks {','.join(nets) or 'none'} -> "
                                        f"{','.join(sorted(ws.networks))}"))
    meta = cur.get("metadata") or {}
    have = _parse_digests(meta.get(DIGEST_KEY))
    want = _parse_digests(field_digests(ws))
    for key, label in (("sg", "security_groups"), ("key", "key_name"), ("ud", "user_data")):
        if have.get(key) != want[key]:
            reasons.append((label, f"{label} changed"))
    user_meta = {k: v for k, v in meta.items() if not k.startswith("edgeshade.")}
    if user_meta != ws.metadata:
        keys = sorted(set(user_meta) ^ set(ws.metadata)
                      | {k for k in ws.metadata if user_meta.get(k) != ws.metadata[k]})
        reasons.append(("metadata", f"metadata {', '.join(keys)}"))
    if not reasons:
        return "", []
    kind = max((ws.kinds[f] for f, _ in reasons), key=_RANK.__getitem__)
    return kind, [r for _, r in reasons]


def diff(spec: Spec, wanted: Wanted, observed: Observed) -> list[Change]:
    """The changes that turn ``observed`` into ``wanted`` (see the module docstring)."""
    changes: list[Change] = []
    by_name: dict[str, list[dict[str, Any]]] = {}
    for cur in observed.servers:
        by_name.setdefault(cur["name"], []).append(cur)
    for ws in wanted.servers:
        found = by_name.pop(ws.name, [])
        if not found:
            changes.append(Change("create", "server", ws.name, wanted=ws,
                                  reason=f"image {ws.image}, flavor {ws.flavor}"))
            continue
        # Several owned servers with one name (an interrupted replace): keep the best
        # match (fewest differences, ACTIVE, newest), delete the others.
        scored = sorted(
            found,
            key=lambda c: (len(_server_diff(ws, c, observed)[1]), c.get("status") == "ERROR",
                           c.get("status") not in ("ACTIVE", "BUILD", "REBUILD"),
                           _neg(c.get("created", ""))),
        )
        keep, extra = scored[0], scored[1:]
        for dup in extra:
            changes.append(Change("delete", "server", ws.name, id=dup["id"], current=dup,
                                  reason="duplicate left by an interrupted run"))
        kind, reasons = _server_diff(ws, keep, observed)
        if keep.get("status") == "ERROR":
            kind, reasons = "replace", [f"server in ERROR{': ' + r if r else ''}"
                                        for r in (reasons or [""])][:1]
        if kind:
            changes.append(Change("change", "server", ws.name, kind=kind,
                                  reason="; ".join(reasons), id=keep["id"], wanted=ws,
                                  current=keep))
        else:
            note = f"{keep.get('status')}: will wait for ACTIVE" if keep.get("status") in (
                "BUILD", "REBUILD") else ""
            changes.append(Change("unchanged", "server", ws.name, id=keep["id"], wanted=ws,
                                  current=keep, reason=note))
    for name, rest in by_name.items():
        for cur in rest:
            changes.append(Change("delete", "server", name, id=cur["id"], current=cur,
                                  reason="no longer in the spec"))
    stacks = {s.get("stack_name"): s for s in observed.stacks}
    for wst in wanted.stacks:
        cur = stacks.pop(wst.name, None)
        if cur is None:
            changes.append(Change("create", "stack", wst.name, wanted=wst))
            continue
        status = str(cur.get("stack_status", ""))
        have = _tag(cur.get("tags") or [], DIGEST_KEY)
        if status.endswith("_FAILED") or status.startswith("ROLLBACK"):
            changes.append(Change("change", "stack", wst.name, kind="update", id=cur["id"],
                                  reason=f"stack {status}", wanted=wst, current=cur))
        elif have != wst.digest:
            changes.append(Change("change", "stack", wst.name, kind="update", id=cur["id"],
                                  reason="template or parameters changed", wanted=wst,
                                  current=cur))
        else:
            changes.append(Change("unchanged", "stack", wst.name, id=cur["id"], wanted=wst,
                                  current=cur))
    for name, cur in stacks.items():
        changes.append(Change("delete", "stack", str(name), id=cur["id"], current=cur,
                              reason="no longer in the spec"))
    return changes


def _neg(text: str) -> tuple[int, ...]:
    """Sort newest first by an ISO timestamp."""
    return tuple(-ord(c) for c in text)


def summarize(changes: list[Change]) -> dict[str, Any]:
    counts = {a: 0 for a in ("create", "change", "delete", "unchanged")}
    for c in changes:
        counts[c.action] += 1
    return {**counts, "changes": [c.to_dict() for c in changes if c.action != "unchanged"],
            "unchanged_names": [c.name for c in changes if c.action == "unchanged"]}
