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
  a duplicate left by an interrupted run, a floating IP left detached);
* ``unchanged``.

Floating IPs (``floating_ip: true``) are owned by their description
(``edgeshade.deployment=<name>``) and belong to a server by its fixed address;
a wanted one that is missing, or an owned one no longer wanted, is an
``in_place`` change of its server. They are read only when the spec wants one
or an owned server's ``edgeshade.digest`` says it had one (``fip:`` part), so
deployments without floating IPs cost no extra request.
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
    external: dict[str, str] = field(default_factory=dict)  # external network name -> id
    floating_ips: list[dict[str, Any]] = field(default_factory=list)  # every one at the site
    owner: str = ""  # the description that marks this deployment's floating IPs

    def floating_of(self, server: dict[str, Any]) -> list[dict[str, Any]]:
        """Floating IPs attached to ``server`` (matched on its fixed addresses)."""
        fixed = fixed_addresses(server)
        return [f for f in self.floating_ips if f.get("port_id")
                and f.get("fixed_ip_address") in fixed]

    def owned_floating(self) -> list[dict[str, Any]]:
        return [f for f in self.floating_ips if f.get("description") == self.owner]


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


def fixed_addresses(server: dict[str, Any]) -> set[str]:
    return {a.get("addr") for addrs in (server.get("addresses") or {}).values()
            for a in addrs if a.get("OS-EXT-IPS:type", "fixed") == "fixed"}


def floating_owner(name: str) -> str:
    """The description of the floating IPs deployment ``name`` creates."""
    return f"{OWNER_KEY}={name}"


def had_floating(server: dict[str, Any]) -> bool:
    """The server was created or updated wanting a floating IP (its digest's ``fip`` part)."""
    return "fip" in _parse_digests((server.get("metadata") or {}).get(DIGEST_KEY))


def field_digests(ws: WantedServer) -> str:
    """The compact ``edgeshade.digest`` value: fields Nova does not show back."""
    parts = {
        "sg": digest(sorted(ws.security_groups), 6),
        "key": digest(ws.key_name, 6),
        "ud": digest(ws.user_data, 6),
    }
    if ws.floating_ip:  # only then: digests of servers without one stay as they were
        parts["fip"] = digest(ws.floating_network, 6)
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
    floating = any(ws.floating_ip for ws in wanted.servers)
    if wanted.servers:
        calls["images"] = lambda: conn.get("image", "/images", limit=1000)["images"]
        calls["flavors"] = lambda: conn.get("compute", "/flavors/detail")["flavors"]
        if floating or any(ws.networks for ws in wanted.servers):
            calls["networks"] = lambda: conn.get("network", "/networks")["networks"]
    if floating:
        calls["floating"] = lambda: conn.get("network", "/floatingips")["floatingips"]
    has_heat = bool(spec.stacks) and conn.has_service("orchestration")
    if has_heat:
        calls["stacks"] = lambda: conn.get(
            "orchestration", "/stacks", tags=f"{OWNER_KEY}={spec.name}")["stacks"]
    got = conn.parallel(calls) if len(calls) > 1 else {k: _call(fn) for k, fn in calls.items()}
    for value in got.values():
        if isinstance(value, BaseException):
            raise value
    owned = [s for s in got["servers"] if (s.get("metadata") or {}).get(OWNER_KEY) == spec.name]
    if not floating and any(had_floating(s) for s in owned):  # to release what is not wanted
        got["floating"] = conn.get("network", "/floatingips")["floatingips"]
    images = got.get("images", [])
    nets = got.get("networks", [])
    return Observed(
        servers=owned,
        stacks=list(got.get("stacks", [])),
        images={i["id"]: i["name"] for i in images},
        image_ids={i["name"]: i["id"] for i in images if i.get("status") == "active"},
        flavors={f["name"]: f["id"] for f in got.get("flavors", [])},
        networks={n["name"]: n["id"] for n in nets},
        has_orchestration=has_heat or not spec.stacks,
        external={n["name"]: n["id"] for n in nets if n.get("router:external")},
        floating_ips=list(got.get("floating", [])),
        owner=floating_owner(spec.name),
    )


def floating_network(ws: WantedServer, observed: Observed) -> str | None:
    """The external network ``ws`` takes its floating IP from (the first one by default)."""
    if ws.floating_network:
        return ws.floating_network if ws.floating_network in observed.external else None
    return min(observed.external) if observed.external else None


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
        if ws.floating_ip and floating_network(ws, observed) is None:
            what = (f"external network '{ws.floating_network}'" if ws.floating_network
                    else "external network")
            raise PlanError(f"no {what} for floating IPs at {site} (wanted by {ws.name})",
                            hint="floating_network: names a network with router:external")
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
    if ws.floating_ip and not obs.floating_of(cur):
        reasons.append(("floating_ip", "floating IP missing"))
    elif not ws.floating_ip and any(f.get("description") == obs.owner
                                    for f in obs.floating_of(cur)):
        reasons.append(("floating_ip", "floating IP no longer wanted"))
    user_meta = {k: v for k, v in meta.items() if not k.startswith("edgeshade.")}
    if user_meta != ws.metadata:
        keys = sorted(set(user_meta) ^ set(ws.metadata)
                      | {k for k in ws.metadata if user_meta.get(k) != ws.metadata[k]})
        reasons.append(("metadata", f"metadata {', '.join(keys)}"))
    if not reasons:
        return "", []
    kind = max((ws.kinds.get(f, "in_place") for f, _ in reasons), key=_RANK.__getitem__)
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
    for fip in observed.owned_floating():
        if not fip.get("port_id"):  # its server is gone (replaced, deleted, a crash)
            changes.append(Change("delete", "floating_ip", str(fip.get("floating_ip_address")),
                                  id=fip["id"], current=fip, reason="detached"))
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
