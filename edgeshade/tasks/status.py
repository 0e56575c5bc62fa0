"""The fleet health check behind ``edgeshade status``.

Per site: authenticate (timed), read the catalog, then all checks at once (one
round trip, not one per check):

=========  =================================================  ===========================
check      request                                            looks at
=========  =================================================  ===========================
compute    ``GET compute /os-hypervisors/detail``             nova-compute up/down, capacity
servers    ``GET compute /servers?status=ERROR&all_tenants``  servers in ERROR
limits     ``GET compute /limits``                            absolute limits vs usage
network    ``GET network /v2.0/agents``                       Neutron agents alive
volume     ``GET block-storage /os-services``                 Cinder services up
image      ``GET image /v2/images?limit=1``                   Glance answers
=========  =================================================  ===========================

A service missing from the catalog is reported (``services.volume: absent``),
never an error: edge sites often run without Cinder. A site whose catalog has
none of the checked services (an identity-only region) is ok with the reason
``Keystone ok; not in the catalog: compute, network, volume, image``. That is 8 HTTP requests
per site on a first run (identity discovery, token, 6 checks), 7 once
discovery is cached in the state store, 6 with ``--token-cache``, fewer with
``--checks``.

Thresholds (:class:`Thresholds`, override with ``--threshold KEY=VALUE`` or
``thresholds={...}``): any nova-compute down → warning, all down → critical;
servers in ERROR ≥ ``error_servers_warning`` → warning; usage of cores, RAM or
instances above ``quota_warning_percent`` (90) → warning, above
``quota_critical_percent`` (off by default) → critical; any Neutron agent dead →
warning, every agent of one kind dead → critical; any Cinder service down →
warning, every cinder-volume down → critical; a check answering 5xx → critical;
garbage → error; Keystone failing → critical.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

from edgeshade.classify import classify
from edgeshade.errors import MalformedResponse, TaskError
from edgeshade.results import State, rank, worst
from edgeshade.tasks import task

ALL_CHECKS = ("compute", "servers", "limits", "network", "volume", "image")
_SERVICE_OF = {
    "compute": "compute",
    "servers": "compute",
    "limits": "compute",
    "network": "network",
    "volume": "block-storage",
    "image": "image",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Thresholds:
    """When a site is warning or critical. ``None`` switches a rule off.

    >>> Thresholds(quota_warning_percent=80, error_servers_warning=3)
    """

    compute_down_warning: int | None = 1
    error_servers_warning: int | None = 1
    error_servers_critical: int | None = None
    quota_warning_percent: float | None = 90.0
    quota_critical_percent: float | None = None
    agents_dead_warning: int | None = 1
    volume_down_warning: int | None = 1

    @classmethod
    def from_params(cls, values: dict[str, Any] | None) -> Thresholds:
        values = dict(values or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        parsed: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise TaskError(f"unknown threshold '{key}' (known: {', '.join(sorted(known))})")
            if raw is None or str(raw).lower() in ("none", "off", ""):
                parsed[key] = None
                continue
            try:
                parsed[key] = float(raw) if "percent" in key else int(raw)
            except (TypeError, ValueError):
                raise TaskError(f"threshold '{key}': '{raw}' is not a number") from None
        return cls(**parsed)


class _Check:
    """Outcome of one check: state, reason, an optional hint and the facts it found."""

    def __init__(self, state: str = State.OK, reason: str = "", hint: str | None = None,
                 **facts: Any) -> None:
        self.state = State(state)
        self.reason = reason
        self.hint = hint
        self.facts = facts


def _items(body: Any, key: str, where: str) -> list[dict[str, Any]]:
    """``body[key]`` as a list of objects, or MalformedResponse naming the API."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MalformedResponse(f"{where}: expected a list in '{key}'")
    return items


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"{where}: expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not math.isfinite(number):  # 1e999 parses as inf: it would crash int() or the output
        raise MalformedResponse(f"{where}: expected a finite number")
    return number


def _check_compute(conn: Any, th: Thresholds) -> _Check:
    hyps = _items(conn.get("compute", "/os-hypervisors/detail"), "hypervisors", "os-hypervisors")
    down = [str(h.get("hypervisor_hostname", "?")) for h in hyps if h.get("state") != "up"]
    facts = {
        "hypervisors": len(hyps),
        "up": len(hyps) - len(down),
        "down": len(down),
        "disabled": sum(1 for h in hyps if h.get("status") == "disabled"),
        "vcpus": int(sum(_num(h.get("vcpus", 0), "vcpus") for h in hyps)),
        "vcpus_used": int(sum(_num(h.get("vcpus_used", 0), "vcpus_used") for h in hyps)),
        "memory_mb": int(sum(_num(h.get("memory_mb", 0), "memory_mb") for h in hyps)),
        "memory_mb_used": int(
            sum(_num(h.get("memory_mb_used", 0), "memory_mb_used") for h in hyps)
        ),
    }
    if hyps and len(down) == len(hyps):
        return _Check(State.CRITICAL, f"all {len(hyps)} nova-compute down", **facts)
    if th.compute_down_warning is not None and len(down) >= th.compute_down_warning:
        names = ", ".join(down[:3]) + (", ..." if len(down) > 3 else "")
        return _Check(
            State.WARNING, f"{len(down)}/{len(hyps)} nova-compute down ({names})", **facts
        )
    return _Check(**facts)


def _check_servers(conn: Any, th: Thresholds) -> _Check:
    body = conn.get("compute", "/servers", status="ERROR", all_tenants=1)
    servers = _items(body, "servers", "servers")
    count = len(servers)
    facts = {"count": count, "names": [s.get("name") or s.get("id") for s in servers[:5]]}
    if th.error_servers_critical is not None and count >= th.error_servers_critical:
        return _Check(State.CRITICAL, f"{count} servers in ERROR", **facts)
    if th.error_servers_warning is not None and count >= th.error_servers_warning:
        return _Check(State.WARNING, f"{count} server{'s' * (count != 1)} in ERROR", **facts)
    return _Check(**facts)


_QUOTAS = {
    "cores": ("totalCoresUsed", "maxTotalCores"),
    "ram": ("totalRAMUsed", "maxTotalRAMSize"),
    "instances": ("totalInstancesUsed", "maxTotalInstances"),
}


def _check_limits(conn: Any, th: Thresholds) -> _Check:
    body = conn.get("compute", "/limits")
    limits = body.get("limits") if isinstance(body, dict) else None
    absolute = limits.get("absolute") if isinstance(limits, dict) else None
    if not isinstance(absolute, dict):
        raise MalformedResponse("limits: expected 'limits.absolute'")
    usage: dict[str, float] = {}
    for name, (used_key, max_key) in _QUOTAS.items():
        if used_key not in absolute or max_key not in absolute:
            continue
        used, limit = _num(absolute[used_key], used_key), _num(absolute[max_key], max_key)
        if limit > 0:  # -1 means unlimited
            percent = 100.0 * used / limit
            if not math.isfinite(percent):
                raise MalformedResponse(f"limits: {used_key}/{max_key} out of range")
            usage[name] = round(percent, 1)
    facts = {"usage_percent": usage}
    top = max(usage.items(), key=lambda kv: kv[1], default=None)
    if top is None:
        return _Check(**facts)
    name, pct = top
    if th.quota_critical_percent is not None and pct >= th.quota_critical_percent:
        return _Check(State.CRITICAL, f"quota {name} at {pct:g}%", **facts)
    if th.quota_warning_percent is not None and pct >= th.quota_warning_percent:
        return _Check(State.WARNING, f"quota {name} at {pct:g}%", **facts)
    return _Check(**facts)


def _check_network(conn: Any, th: Thresholds) -> _Check:
    agents = _items(conn.get("network", "/agents"), "agents", "agents")
    dead = [a for a in agents if not a.get("alive")]
    facts = {
        "agents": len(agents),
        "alive": len(agents) - len(dead),
        "dead": len(dead),
        "dead_agents": [f"{a.get('binary', '?')}@{a.get('host', '?')}" for a in dead[:5]],
    }
    by_binary: dict[str, list[bool]] = {}
    for agent in agents:
        by_binary.setdefault(str(agent.get("binary", "?")), []).append(bool(agent.get("alive")))
    all_dead = sorted(b for b, alive in by_binary.items() if not any(alive))
    if all_dead:
        return _Check(State.CRITICAL, f"every {', '.join(all_dead)} agent dead", **facts)
    if th.agents_dead_warning is not None and len(dead) >= th.agents_dead_warning:
        return _Check(
            State.WARNING, f"{len(dead)} neutron agent{'s' * (len(dead) != 1)} dead", **facts
        )
    return _Check(**facts)


def _check_volume(conn: Any, th: Thresholds) -> _Check:
    services = _items(conn.get("block-storage", "/os-services"), "services", "os-services")
    down = [s for s in services if s.get("state") != "up"]
    facts = {"services": len(services), "up": len(services) - len(down), "down": len(down)}
    volumes = [s for s in services if s.get("binary") == "cinder-volume"]
    if volumes and all(s.get("state") != "up" for s in volumes):
        return _Check(State.CRITICAL, "every cinder-volume down", **facts)
    if th.volume_down_warning is not None and len(down) >= th.volume_down_warning:
        return _Check(State.WARNING, f"{len(down)} cinder service(s) down", **facts)
    return _Check(**facts)


def _check_image(conn: Any, th: Thresholds) -> _Check:
    _items(conn.get("image", "/images", limit=1), "images", "images")
    return _Check(reachable=True)


_CHECKS: dict[str, Callable[[Any, Thresholds], _Check]] = {
    "compute": _check_compute,
    "servers": _check_servers,
    "limits": _check_limits,
    "network": _check_network,
    "volume": _check_volume,
    "image": _check_image,
}


def _parse_checks(checks: str | Iterable[str] | None) -> tuple[str, ...]:
    if checks is None:
        return ALL_CHECKS
    if isinstance(checks, str):
        checks = [c.strip() for c in checks.split(",") if c.strip()]
    chosen = tuple(checks)
    unknown = [c for c in chosen if c not in _CHECKS]
    if unknown:
        raise TaskError(f"unknown check(s) {', '.join(unknown)} (known: {', '.join(ALL_CHECKS)})")
    return chosen


@task
def status(
    conn: Any,
    site: Any,
    *,
    checks: str | Iterable[str] | None = None,
    thresholds: dict[str, Any] | Thresholds | None = None,
) -> dict[str, Any]:
    """Health of one site: auth, catalog, compute, network, volume and image services."""
    th = thresholds if isinstance(thresholds, Thresholds) else Thresholds.from_params(thresholds)
    wanted = _parse_checks(checks)
    auth_seconds = conn.authenticate()
    services = {}
    runnable: dict[str, Callable[[], _Check]] = {}
    for name in wanted:
        service = _SERVICE_OF[name]
        key = "volume" if service == "block-storage" else service
        if key not in services:
            services[key] = "ok" if conn.has_service(service) else "absent"
        if services[key] == "ok":
            runnable[name] = lambda fn=_CHECKS[name]: fn(conn, th)
    outcomes = conn.parallel(runnable) if runnable else {}

    data: dict[str, Any] = {"auth_ms": round(auth_seconds * 1000), "services": services}
    check_states: dict[str, dict[str, str]] = {}
    problems: list[tuple[int, str, str | None]] = []
    for name, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            state, reason, hint = classify(outcome)
            check = _Check(state, reason, hint)
        else:
            check = outcome
        data[name] = check.facts
        check_states[name] = {"state": str(check.state), "reason": check.reason}
        if check.state is not State.OK:
            problems.append((rank(check.state), f"{name}: {check.reason}", check.hint))
            key = "volume" if _SERVICE_OF[name] == "block-storage" else _SERVICE_OF[name]
            if check.state not in (State.WARNING,):
                services[key] = str(check.state)
    data["checks"] = check_states
    state = worst(c["state"] for c in check_states.values())
    problems.sort(key=lambda p: p[0])
    ordered = [text for _rank, text, _hint in problems]
    reason = "; ".join(ordered[:2]) + (f" (+{len(ordered) - 2} more)" if len(ordered) > 2 else "")
    # The hint of the worst problem that has one: what to try first.
    hint = next((h for _rank, _text, h in problems if h), None)
    if not runnable:  # e.g. a Keystone-only region: say why nothing was checked
        reason = "Keystone ok; not in the catalog: " + ", ".join(services)
    return {"state": state, "reason": reason, "hint": hint, **data}


def _pair(a: Any, b: Any) -> str:
    return "" if a is None or b is None else f"{a}/{b}"


def _quota(r: Any) -> str:
    usage = (r.data.get("limits") or {}).get("usage_percent") or {}
    return f"{max(usage.values()):g}%" if usage else ""


#: Table columns of ``edgeshade status``: header → value from a SiteResult.
status.columns = {  # type: ignore[attr-defined]
    "Site": lambda r: r.site,
    "State": lambda r: r.state,
    "Auth ms": lambda r: r.data.get("auth_ms", ""),
    "Compute up": lambda r: _pair(
        (r.data.get("compute") or {}).get("up"), (r.data.get("compute") or {}).get("hypervisors")
    ),
    "Error VMs": lambda r: (r.data.get("servers") or {}).get("count", ""),
    "Quota": _quota,
    "Agents alive": lambda r: _pair(
        (r.data.get("network") or {}).get("alive"), (r.data.get("network") or {}).get("agents")
    ),
    "Volume": lambda r: (r.data.get("services") or {}).get("volume", ""),
    "Time s": lambda r: f"{r.elapsed:.2f}",
    "Reason": lambda r: r.reason,
}
