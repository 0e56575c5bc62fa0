"""The deployment's fleet tasks: plan, apply, gate, rollback, destroy (one site each).

Tasks know nothing of waves or threads (:mod:`edgeshade.rollout` and the fleet
do that). Every change goes through the openstacksdk cloud layer
(``conn.cloud``) and is written to the journal before and after it happens;
reads and waits use plain JSON GETs (cheap, bounded by the site deadline).
Each task takes ``run``: a :class:`~edgeshade.deploy.api.Run` holding the spec,
the rendered per-site workload and the journal.

Apply is idempotent by construction: it plans from what the site runs *now*
(owned servers found by their ``edgeshade.deployment`` metadata), so after a
crash it adopts what the killed run created (a server already there is
unchanged, a duplicate from an interrupted replace is deleted) and closes the
journal steps the crash left open.

Floating IPs (``floating_ip: true``) are created once their server is ACTIVE
(one port lookup and one ``POST /floatingips`` through ``conn.cloud.network``,
marked with the deployment in their description) and released before their
server is deleted, so destroy and rollback leave none allocated.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from openstack import exceptions as _sdk_errors
from openstack.compute.v2 import flavor as _flavor
from openstack.image.v2 import image as _image
from openstack.network.v2 import network as _network

from edgeshade.deploy.plan import (
    COMPUTE_READ,
    Change,
    Observed,
    check_resolvable,
    diff,
    fixed_addresses,
    floating_network,
    floating_owner,
    observe,
    server_metadata,
    stack_tags,
    summarize,
)
from edgeshade.deploy.spec import OWNER_KEY, WantedServer, WantedStack
from edgeshade.errors import SiteError
from edgeshade.tasks import task

if TYPE_CHECKING:
    from edgeshade.config import Site
    from edgeshade.connection import SiteConnection
    from edgeshade.deploy.api import Run

#: Journal action that marks a site as having reached a version.
COMPLETE = "complete"
_ORDER = {"delete": 3, "create": 1, "change": 0, "unchanged": 2}


class BuildFailed(SiteError):
    state = "critical"


class FloatingIpFailed(SiteError):
    """A wanted floating IP could not be allocated or attached (an exhausted pool...)."""

    state = "critical"


def _snapshot(cur: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the journal keeps of a server before a change: enough to restore it."""
    if cur is None:
        return None
    image = cur.get("image") if isinstance(cur.get("image"), dict) else {}
    flavor = cur.get("flavor") or {}
    return {
        "id": cur.get("id"),
        "name": cur.get("name"),
        "image_id": image.get("id"),
        "flavor": flavor.get("original_name") or flavor.get("id"),
        "networks": sorted((cur.get("addresses") or {}).keys()),
        "key_name": cur.get("key_name"),
        "metadata": dict(cur.get("metadata") or {}),
        "status": cur.get("status"),
    }


# -- plan ---------------------------------------------------------------------------------


def _plan(conn: SiteConnection, site: Site, run: Run) -> tuple[list[Change], Any]:
    wanted = run.wanted[site.name]
    observed = observe(conn, run.spec, wanted)
    check_resolvable(wanted, observed, site.name)
    return diff(run.spec, wanted, observed), observed


@task
def deploy_plan(conn: SiteConnection, site: Site, *, run: Run) -> dict[str, Any]:
    """What apply would do at this site; changes nothing."""
    changes, _ = _plan(conn, site, run)
    out = summarize(changes)
    known = run.versions.get(site.name)
    out["version"] = known.version if known else None
    out["wanted_version"] = run.spec.version
    return out


# -- apply --------------------------------------------------------------------------------


def _wait_servers(conn: SiteConnection, ids: list[str], poll: float) -> dict[str, dict]:
    """Poll until every server is ACTIVE; BuildFailed names the first that ends in ERROR."""
    pending = set(ids)
    final: dict[str, dict] = {}
    while pending:
        conn.check()
        got = conn.parallel({
            sid: (lambda sid=sid: conn.request("GET", "compute", f"/servers/{sid}",
                                               headers=COMPUTE_READ)["server"])
            for sid in sorted(pending)
        })
        for sid, server in got.items():
            if isinstance(server, BaseException):
                raise server
            if server["status"] == "ACTIVE":
                final[sid] = server
                pending.discard(sid)
            elif server["status"] == "ERROR":
                fault = (server.get("fault") or {}).get("message", "no fault recorded")
                raise BuildFailed(f"server {server['name']} ended in ERROR: {fault}",
                                  hint="see the server's fault; apply again to replace it")
        if pending:
            left = conn.remaining()
            time.sleep(max(0.0, min(poll, left - 0.05 if left is not None else poll)))
    return final


def _wait_gone(conn: SiteConnection, ids: list[str], poll: float) -> None:
    from edgeshade.errors import EdgeshadeError

    pending = set(ids)
    while pending:
        conn.check()
        for sid in sorted(pending):
            try:
                conn.request("GET", "compute", f"/servers/{sid}")
            except Exception as exc:  # noqa: BLE001 - 404 means gone
                if getattr(exc, "http_status", None) == 404 or "404" in str(exc):
                    pending.discard(sid)
                elif isinstance(exc, EdgeshadeError | OSError):
                    raise
                else:
                    raise
        if pending:
            time.sleep(poll)


def _wait_stack(conn: SiteConnection, name: str, action: str, poll: float) -> dict[str, Any]:
    """Poll a stack until ``<action>_COMPLETE``; a FAILED or rolled-back stack ends the site."""
    while True:
        conn.check()
        try:
            stack = conn.get("orchestration", f"/stacks/{name}")["stack"]
        except Exception as exc:  # noqa: BLE001
            if action == "DELETE" and "404" in str(exc):
                return {}
            raise
        status = stack.get("stack_status", "")
        if status == f"{action}_COMPLETE":
            return stack
        if not status.endswith("_IN_PROGRESS"):  # *_FAILED, or rolled back by Heat
            raise BuildFailed(
                f"stack {name}: {status}: {stack.get('stack_status_reason') or 'no reason'}",
                hint="Heat rolled the stack back where it could; fix the template and apply again",
            )
        time.sleep(poll)


def _create_server(conn: SiteConnection, run: Run, site: str, ws: WantedServer, obs: Any,
                   version: str | None = None) -> str:
    spec = run.spec
    with run.journal.step(spec.op, site, "create", resource=ws.name,
                          version=version or spec.version,
                          before={"image": ws.image, "flavor": ws.flavor}) as step:
        # Names were resolved by the plan's reads: hand the cloud layer resources, not
        # names, so it does not look each one up again (6 round trips per server).
        server = conn.cloud.create_server(
            ws.name,
            image=_image.Image(id=obs.image_ids[ws.image]),
            flavor=_flavor.Flavor(id=obs.flavors[ws.flavor]),
            network=[_network.Network(id=obs.networks[n]) for n in ws.networks] or None,
            security_groups=list(ws.security_groups) or None,
            key_name=ws.key_name,
            userdata=ws.user_data,
            meta=server_metadata(spec, ws, version),
            auto_ip=False,
            wait=False,
        )
        step.after = {"id": server.id, "name": ws.name}
    return str(server.id)


def _create_floating_ip(conn: SiteConnection, run: Run, site: str, ws: WantedServer,
                        server_id: str, obs: Observed) -> str:
    """Allocate a floating IP on the server's port; its address."""
    spec = run.spec
    net = floating_network(ws, obs) or ""
    with run.journal.step(spec.op, site, "floating_ip_create", resource=server_id,
                          version=spec.version, before={"server": ws.name, "network": net}
                          ) as step:
        ports = conn.get("network", "/ports", device_id=server_id)["ports"]
        if not ports:
            raise FloatingIpFailed(f"server {ws.name} has no port to attach a floating IP to")
        try:
            fip = conn.cloud.network.create_ip(
                floating_network_id=obs.external[net], port_id=ports[0]["id"],
                description=obs.owner)
        except _sdk_errors.HttpException as exc:
            if exc.status_code not in (400, 404, 409):
                raise
            detail = str(exc.details or exc.message or exc).strip()
            raise FloatingIpFailed(
                f"no floating IP for {ws.name} from network '{net}' at {site}: {detail}",
                hint="free addresses in the pool (or use another floating_network) and apply "
                     "again") from None
        step.after = {"id": fip.id, "address": fip.floating_ip_address, "server": server_id,
                      "name": ws.name}
    return str(fip.floating_ip_address)


def _release_floating_ip(conn: SiteConnection, run: Run, site: str, fip: dict[str, Any],
                         version: str | None = None) -> None:
    spec = run.spec
    before = {k: fip.get(k) for k in ("id", "floating_ip_address", "floating_network_id",
                                      "port_id", "fixed_ip_address")}
    with run.journal.step(spec.op, site, "floating_ip_delete", resource=fip["id"],
                          version=version or spec.version, before=before) as step:
        conn.cloud.network.delete_ip(fip["id"], ignore_missing=True)
        step.after = {"released": fip.get("floating_ip_address")}


def _owned_floating_of(obs: Observed | None, cur: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in obs.floating_of(cur) if f.get("description") == obs.owner] if obs else []


def _delete_server(conn: SiteConnection, run: Run, site: str, cur: dict[str, Any],
                   version: str | None = None, obs: Observed | None = None) -> str:
    """Delete a server, releasing the floating IPs this deployment gave it first."""
    spec = run.spec
    for fip in _owned_floating_of(obs, cur):
        _release_floating_ip(conn, run, site, fip, version)
    with run.journal.step(spec.op, site, "delete", resource=cur["id"],
                          version=version or spec.version, before=_snapshot(cur)) as step:
        conn.cloud.delete_server(cur["id"], wait=False)
        step.after = {"deleted": cur["id"]}
    return str(cur["id"])


def _apply_change(conn: SiteConnection, run: Run, site: str, ch: Change, obs: Any,
                  building: list[str], deleting: list[str],
                  floating: list[tuple[WantedServer, str]]) -> None:
    """One change; servers that need a floating IP once ACTIVE are added to ``floating``."""
    spec, journal = run.spec, run.journal
    if ch.type == "stack":
        _apply_stack(conn, run, site, ch)
        return
    if ch.type == "floating_ip":
        _release_floating_ip(conn, run, site, ch.current or {"id": ch.id})
        return
    if ch.action == "create":
        building.append(_create_server(conn, run, site, ch.wanted, obs))
        if ch.wanted.floating_ip:
            floating.append((ch.wanted, building[-1]))
    elif ch.action == "delete":
        deleting.append(_delete_server(conn, run, site, ch.current or {"id": ch.id}, obs=obs))
    elif ch.action == "change":
        ws: WantedServer = ch.wanted
        cur = ch.current or {}
        if ch.kind == "replace":
            new_id = _create_server(conn, run, site, ws, obs)
            _wait_servers(conn, [new_id], spec.poll)  # the old one goes once the new one runs
            deleting.append(_delete_server(conn, run, site, cur, obs=obs))
            if ws.floating_ip:
                floating.append((ws, new_id))
            return
        if ws.floating_ip and not obs.floating_of(cur):
            floating.append((ws, str(ch.id)))
        elif not ws.floating_ip:
            for fip in _owned_floating_of(obs, cur):
                _release_floating_ip(conn, run, site, fip)
        if ch.kind == "rebuild":
            with journal.step(spec.op, site, "rebuild", resource=ch.id, version=spec.version,
                              before=_snapshot(cur)) as step:
                image_id = obs.image_ids[ws.image]
                kwargs: dict[str, Any] = {"metadata": server_metadata(spec, ws)}
                conn.cloud.compute.rebuild_server(ch.id, image=image_id, **kwargs)
                step.after = {"id": ch.id, "image_id": image_id, "reason": ch.reason}
            building.append(str(ch.id))
        else:  # in_place: metadata (and user data recorded for the next boot)
            with journal.step(spec.op, site, "update", resource=ch.id, version=spec.version,
                              before=_snapshot(cur)) as step:
                meta = server_metadata(spec, ws, (cur.get("metadata") or {}).get(
                    "edgeshade.version"))
                stale = [k for k in (cur.get("metadata") or {}) if k not in meta]
                conn.cloud.set_server_metadata(ch.id, meta)
                if stale:
                    conn.cloud.delete_server_metadata(ch.id, stale)
                step.after = {"id": ch.id, "metadata": meta, "reason": ch.reason}


def _apply_stack(conn: SiteConnection, run: Run, site: str, ch: Change) -> None:
    spec, journal = run.spec, run.journal
    if ch.action == "delete":
        with journal.step(spec.op, site, "stack_delete", resource=ch.name, version=spec.version,
                          before=_stack_snapshot(conn, ch.current)) as step:
            conn.cloud.delete_stack(ch.current["id"] if ch.current else ch.name, wait=False)
            step.after = {"deleted": ch.name}
        _wait_stack(conn, ch.name, "DELETE", spec.poll)
        return
    wst: WantedStack = ch.wanted
    tags = stack_tags(spec, wst)
    if ch.action == "create":
        with journal.step(spec.op, site, "stack_create", resource=wst.name,
                          version=spec.version) as step:
            conn.cloud.orchestration.create_stack(
                name=wst.name, template=wst.template, parameters=wst.parameters,
                tags=",".join(tags), disable_rollback=False,
                timeout_mins=max(1, int(spec.timeout // 60)),
            )
            step.after = {"name": wst.name, "digest": wst.digest}
        _wait_stack(conn, wst.name, "CREATE", spec.poll)
    else:
        with journal.step(spec.op, site, "stack_update", resource=wst.name,
                          version=spec.version,
                          before=_stack_snapshot(conn, ch.current)) as step:
            conn.cloud.orchestration.update_stack(
                ch.current, template=wst.template, parameters=wst.parameters,
                tags=",".join(tags), disable_rollback=False,
            )
            step.after = {"name": wst.name, "digest": wst.digest, "reason": ch.reason}
        _wait_stack(conn, wst.name, "UPDATE", spec.poll)


def _stack_snapshot(conn: SiteConnection, cur: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stack's template and parameters (Heat masks hidden parameters itself)."""
    if not cur:
        return None
    name, sid = cur.get("stack_name"), cur.get("id")
    shown = conn.parallel({
        "stack": lambda: conn.get("orchestration", f"/stacks/{name}/{sid}")["stack"],
        "template": lambda: conn.get("orchestration", f"/stacks/{name}/{sid}/template"),
    })
    for value in shown.values():
        if isinstance(value, BaseException):
            raise value
    stack = shown["stack"]
    return {"id": sid, "name": name, "template": shown["template"],
            "parameters": {k: v for k, v in (stack.get("parameters") or {}).items()
                           if not k.startswith("OS::")},
            "tags": list(stack.get("tags") or [])}


def _recover(run: Run, site: str, observed: Any) -> int:
    """Close steps a crashed run left open: the live state (just read) supersedes them."""
    open_steps = run.journal.open_steps(run.spec.op, site)
    ids = {s["id"] for s in observed.servers}
    for step in open_steps:
        run.journal.end(step.id, after={"recovered_by": run.journal.run,
                                        "resource_present": step.resource in ids})
    return len(open_steps)


@task
def deploy_apply(conn: SiteConnection, site: Site, *, run: Run) -> dict[str, Any]:
    """Converge one site to the spec, journalled step by step."""
    spec, journal = run.spec, run.journal
    changes, observed = _plan(conn, site, run)
    recovered = _recover(run, site.name, observed)
    known = run.versions.get(site.name)
    previous = known.version if known else None
    todo = sorted((c for c in changes if c.action != "unchanged"),
                  key=lambda c: (c.type == "stack", _ORDER[c.action]))
    if todo:
        with journal.step(spec.op, site.name, "start", version=spec.version,
                          before={"version": previous}) as step:
            step.after = {"planned": [c.to_dict() for c in todo]}
    building = [str(c.id) for c in changes
                if c.action == "unchanged" and c.type == "server"
                and (c.current or {}).get("status") in ("BUILD", "REBUILD")]
    deleting: list[str] = []
    floating: list[tuple[WantedServer, str]] = []
    for ch in todo:
        if ch.type != "stack":
            _apply_change(conn, run, site.name, ch, observed, building, deleting, floating)
    if building:
        _wait_servers(conn, building, spec.poll)
    addresses = {c.name: [f.get("floating_ip_address") for f in observed.floating_of(c.current)]
                 for c in changes if c.type == "server" and c.wanted is not None
                 and c.wanted.floating_ip and c.current and c.kind != "replace"}
    for ws, sid in floating:
        addresses[ws.name] = [_create_floating_ip(conn, run, site.name, ws, sid, observed)]
    for ch in todo:
        if ch.type == "stack":
            _apply_change(conn, run, site.name, ch, observed, building, deleting, floating)
    if deleting:
        _wait_gone(conn, deleting, spec.poll)
    if todo or previous != spec.version:
        with journal.step(spec.op, site.name, COMPLETE, version=spec.version,
                          before={"version": previous}) as step:
            step.after = {"changes": len(todo)}
    journal.resolve(spec.op, site.name)
    out = summarize(changes)
    out.update(version=spec.version, previous=previous, recovered=recovered)
    if addresses:
        out["floating_ips"] = {n: a[0] if len(a) == 1 else a for n, a in sorted(addresses.items())}
    return out


# -- health gate ----------------------------------------------------------------------------


@task
def deploy_gate(conn: SiteConnection, site: Site, *, run: Run) -> dict[str, Any]:
    """Every wanted server ACTIVE and stack COMPLETE (and the status checks, if asked)."""
    spec = run.spec
    wanted = run.wanted[site.name]
    while True:
        observed = observe(conn, spec, wanted)
        servers = {s["name"]: s for s in observed.servers}
        stacks = {s.get("stack_name"): s for s in observed.stacks}
        missing = [w.name for w in wanted.servers if w.name not in servers]
        bad = [f"{n}: {s['status']}" for n, s in servers.items() if s["status"] != "ACTIVE"]
        bad += [f"stack {w.name}: {stacks.get(w.name, {}).get('stack_status', 'missing')}"
                for w in wanted.stacks
                if not str(stacks.get(w.name, {}).get("stack_status", "")).endswith("COMPLETE")]
        if missing:
            return {"state": "critical", "reason": f"missing: {', '.join(missing)}"}
        bare = [w.name for w in wanted.servers
                if w.floating_ip and not observed.floating_of(servers[w.name])]
        if bare:
            return {"state": "critical", "reason": f"no floating IP: {', '.join(bare)}"}
        if any(": ERROR" in b or "FAILED" in b or "missing" in b for b in bad):
            return {"state": "critical", "reason": "; ".join(bad)}
        if not bad:
            break
        left = conn.remaining()
        if left is not None and left < spec.poll:
            return {"state": "timed_out", "reason": "not ready: " + "; ".join(bad)}
        time.sleep(spec.poll)
    if spec.status_checks:
        from edgeshade.tasks.status import status

        checked = status(conn, site, checks=spec.status_checks)
        if checked.get("state") == "critical":
            return {"state": "critical", "reason": f"status: {checked.get('reason')}"}
    return {"servers": len(wanted.servers), "stacks": len(wanted.stacks)}


# -- rollback and destroy ---------------------------------------------------------------------

_CHANGE_ACTIONS = ("create", "delete", "rebuild", "update", "stack_create", "stack_update",
                   "stack_delete", "floating_ip_create")


def _last_version_steps(run: Run, site: str) -> tuple[str | None, str | None, list[Any]]:
    """(version to undo, version to return to, its change steps newest first).

    The span is everything since the site last completed *another* version, so
    steps of a run killed half-way and of the run that resumed it are undone alike.
    """
    steps = run.journal.steps(run.spec.op, site)
    starts = [s for s in steps if s.action == "start"]
    if not starts:
        return None, None, []
    version = starts[-1].version
    boundary = max((s.id for s in steps if s.action == COMPLETE and s.phase == "done"
                    and s.version != version), default=0)
    span = [s for s in starts if s.id > boundary and s.version == version]
    if not span:
        return None, None, []
    target = (span[0].before or {}).get("version")
    undone = {(s.before or {}).get("undoes") for s in steps if s.action.startswith("undo:")}
    changed = [s for s in steps if s.id > boundary and s.action in _CHANGE_ACTIONS
               and s.version == version and s.id not in undone]
    return version, target, list(reversed(changed))


@task
def deploy_rollback(conn: SiteConnection, site: Site, *, run: Run) -> dict[str, Any]:
    """Undo the last version applied here, newest step first; the site returns to the one before."""
    spec, journal = run.spec, run.journal
    version, target, steps = _last_version_steps(run, site.name)
    if version is None:
        return {"state": "skipped", "reason": "nothing in the journal to roll back"}
    undone = 0
    building: list[str] = []
    deleting: list[str] = []
    servers = {s["id"]: s for s in conn.request(
        "GET", "compute", "/servers/detail", headers=COMPUTE_READ)["servers"]
        if (s.get("metadata") or {}).get(OWNER_KEY) == spec.name}
    owned_fips = _owned_floating(conn, spec.name)

    def release_for(sid: str) -> None:  # before its server goes: no leak, even after a crash
        fixed = fixed_addresses(servers.get(sid) or {})
        for fip in owned_fips:
            if fip.get("port_id") and fip.get("fixed_ip_address") in fixed:
                conn.cloud.network.delete_ip(fip["id"], ignore_missing=True)

    for step in steps:
        before = step.before or {}
        with journal.step(spec.op, site.name, f"undo:{step.action}", resource=step.resource,
                          version=target, before={"undoes": step.id}) as undo:
            if step.action == "create":
                sid = (step.after or {}).get("id") or step.resource
                if sid in servers:
                    release_for(sid)
                    conn.cloud.delete_server(sid, wait=False)
                    deleting.append(sid)
                else:  # crashed before the id was known: find it by name and version
                    for s in servers.values():
                        if s["name"] == step.resource and (s.get("metadata") or {}).get(
                                "edgeshade.version") == step.version:
                            release_for(s["id"])
                            conn.cloud.delete_server(s["id"], wait=False)
                            deleting.append(s["id"])
            elif step.action == "floating_ip_create":
                if (step.after or {}).get("id"):
                    conn.cloud.network.delete_ip(step.after["id"], ignore_missing=True)
                else:  # crashed before the answer: whatever this deployment put on the server
                    release_for(step.resource)
            elif step.action == "rebuild" and before.get("image_id"):
                conn.cloud.compute.rebuild_server(step.resource, image=before["image_id"],
                                                  metadata=before.get("metadata") or {})
                building.append(step.resource)
            elif step.action == "update":
                meta = before.get("metadata") or {}
                conn.cloud.compute.set_server_metadata(step.resource, **meta)
                extra = [k for k in (servers.get(step.resource, {}).get("metadata") or {})
                         if k not in meta]
                if extra:
                    conn.cloud.delete_server_metadata(step.resource, extra)
            elif step.action == "delete" and before.get("image_id"):
                building.append(_restore_server(conn, before))
            elif step.action == "stack_create":
                if conn.cloud.delete_stack(step.resource, wait=False):
                    _wait_stack(conn, step.resource, "DELETE", spec.poll)
            elif step.action == "stack_update" and before.get("template"):
                cur = conn.get("orchestration", f"/stacks/{step.resource}")["stack"]
                conn.cloud.orchestration.update_stack(
                    cur, template=before["template"], parameters=before.get("parameters") or {},
                    tags=",".join(before.get("tags") or []))
                _wait_stack(conn, step.resource, "UPDATE", spec.poll)
            elif step.action == "stack_delete" and before.get("template"):
                conn.cloud.orchestration.create_stack(
                    name=step.resource, template=before["template"],
                    parameters=before.get("parameters") or {},
                    tags=",".join(before.get("tags") or []))
                _wait_stack(conn, step.resource, "CREATE", spec.poll)
            undo.after = {"undone": step.id}
        undone += 1
    if building:
        _wait_servers(conn, building, spec.poll)
    if deleting:
        _wait_gone(conn, deleting, spec.poll)
    with journal.step(spec.op, site.name, COMPLETE, version=target,
                      before={"version": version, "rollback": True}) as step:
        step.after = {"undone": undone}
    return {"rolled_back": version, "version": target, "undone": undone}


def _restore_server(conn: SiteConnection, before: dict[str, Any]) -> str:
    flavors = {f["name"]: f["id"] for f in conn.get("compute", "/flavors/detail")["flavors"]}
    nets = {n["name"]: n["id"] for n in conn.get("network", "/networks")["networks"]}
    server = conn.cloud.create_server(
        before["name"], image=before["image_id"],
        flavor=flavors.get(before.get("flavor"), before.get("flavor")),
        network=[nets[n] for n in before.get("networks") or [] if n in nets] or None,
        key_name=before.get("key_name"), meta=before.get("metadata") or {},
        auto_ip=False, wait=False,
    )
    return str(server.id)


def _owned_floating(conn: SiteConnection, name: str) -> list[dict[str, Any]]:
    if not conn.has_service("network"):
        return []
    owner = floating_owner(name)
    return [f for f in conn.get("network", "/floatingips")["floatingips"]
            if f.get("description") == owner]


@task
def deploy_destroy(conn: SiteConnection, site: Site, *, run: Run) -> dict[str, Any]:
    """Delete every server and stack this deployment owns at the site."""
    spec, journal = run.spec, run.journal
    servers = [s for s in conn.request("GET", "compute", "/servers/detail",
                                       headers=COMPUTE_READ)["servers"]
               if (s.get("metadata") or {}).get(OWNER_KEY) == spec.name]
    stacks = []
    if conn.has_service("orchestration"):
        stacks = conn.get("orchestration", "/stacks", tags=f"{OWNER_KEY}={spec.name}")["stacks"]
    fips = _owned_floating(conn, spec.name)
    for fip in fips:  # attached or left detached by anything before: all of them
        _release_floating_ip(conn, run, site.name, fip, version="destroyed")
    deleting = [_delete_server(conn, run, site.name, s, version="destroyed") for s in servers]
    for st in stacks:
        with journal.step(spec.op, site.name, "stack_delete", resource=st["stack_name"],
                          version="destroyed") as step:
            conn.cloud.delete_stack(st["id"], wait=False)
            step.after = {"deleted": st["stack_name"]}
    if deleting:
        _wait_gone(conn, deleting, spec.poll)
    for st in stacks:
        _wait_stack(conn, st["stack_name"], "DELETE", spec.poll)
    with journal.step(spec.op, site.name, COMPLETE, version="destroyed") as step:
        step.after = {"servers": len(servers), "stacks": len(stacks)}
    journal.resolve(spec.op, site.name)
    return {"deleted_servers": len(servers), "deleted_stacks": len(stacks),
            "released_floating_ips": len(fips)}


@task
def deploy_observe(conn: SiteConnection, site: Site, *, run: Run) -> dict[str, Any]:
    """The live half of ``deploy status``: owned servers and stacks by state."""
    wanted = run.wanted.get(site.name)
    observed = observe(conn, run.spec, wanted) if wanted else None
    servers = observed.servers if observed else []
    by_status: dict[str, int] = {}
    for s in servers:
        by_status[s["status"]] = by_status.get(s["status"], 0) + 1
    versions = sorted({(s.get("metadata") or {}).get("edgeshade.version", "?") for s in servers})
    return {"servers": len(servers), "by_status": by_status, "server_versions": versions,
            "stacks": {s.get("stack_name"): s.get("stack_status")
                       for s in (observed.stacks if observed else [])}}
