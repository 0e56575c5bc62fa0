"""The ``site_facts`` task behind ``edgeshade.cloud.site_info``: what one site has.

Why a task of its own rather than ``status``: status judges health against thresholds; an info
module reports facts (endpoints, services per host, capacity and quota) that a playbook then
decides on. It is an ordinary edgeshade task (``(conn, site) -> mapping``), so the fleet engine
gives it the same deadline, retries and one explicit state.

Per site: authenticate, read the catalog, then these reads at once (one round trip):

=============  =============================================
compute        ``GET compute /os-services``
hypervisors    ``GET compute /os-hypervisors/detail`` (capacity)
limits         ``GET compute /limits`` (quota and usage)
network        ``GET network /v2.0/agents``
volume         ``GET block-storage /os-services``
=============  =============================================

A read that fails leaves its facts out and makes the site's state the worst failed read's, with
the reasons listed; a service missing from the catalog is simply ``absent``.
"""

from __future__ import annotations

from typing import Any

from edgeshade.classify import classify
from edgeshade.results import worst
from edgeshade.tasks import task

#: Catalog services whose endpoint is reported (``None`` when absent).
SERVICES = ("identity", "compute", "network", "block-storage", "image", "orchestration")

_KEY = {"block-storage": "volume"}
_CAPACITY_KEYS = (
    "vcpus",
    "vcpus_used",
    "memory_mb",
    "memory_mb_used",
    "local_gb",
    "local_gb_used",
    "running_vms",
)


def _count(items: list[dict[str, Any]], up: Any) -> dict[str, dict[str, int]]:
    """Per binary: how many, how many up (``up`` decides for one item)."""
    out: dict[str, dict[str, int]] = {}
    for item in items:
        entry = out.setdefault(str(item.get("binary", "?")), {"total": 0, "up": 0})
        entry["total"] += 1
        entry["up"] += int(bool(up(item)))
    return out


def _compute_services(conn: Any) -> dict[str, Any]:
    services = conn.get("compute", "/os-services").get("services") or []
    return _count(services, lambda s: s.get("state") == "up")


def _hypervisors(conn: Any) -> dict[str, Any]:
    hyps = conn.get("compute", "/os-hypervisors/detail").get("hypervisors") or []
    capacity: dict[str, Any] = {"hypervisors": len(hyps)}
    capacity["hypervisors_up"] = sum(1 for h in hyps if h.get("state") == "up")
    for key in _CAPACITY_KEYS:
        values = [h.get(key) for h in hyps if isinstance(h.get(key), int | float)]
        capacity[key] = int(sum(values)) if values else None
    return capacity


def _limits(conn: Any) -> dict[str, Any]:
    return dict((conn.get("compute", "/limits").get("limits") or {}).get("absolute") or {})


def _network_agents(conn: Any) -> dict[str, Any]:
    agents = conn.get("network", "/agents").get("agents") or []
    return _count(agents, lambda a: a.get("alive"))


def _volume_services(conn: Any) -> dict[str, Any]:
    services = conn.get("block-storage", "/os-services").get("services") or []
    return _count(services, lambda s: s.get("state") == "up")


@task
def site_facts(conn: Any, site: Any) -> dict[str, Any]:
    """Endpoints, services and capacity of one site (see the module docstring)."""
    auth_seconds = conn.authenticate()
    # Keyed like the status task's ``services``: "volume" for block-storage.
    endpoints = {_KEY.get(name, name): conn.endpoint(name) for name in SERVICES}
    calls: dict[str, Any] = {}
    if endpoints["compute"]:
        calls.update(
            compute=lambda: _compute_services(conn),
            capacity=lambda: _hypervisors(conn),
            limits=lambda: _limits(conn),
        )
    if endpoints["network"]:
        calls["network"] = lambda: _network_agents(conn)
    if endpoints["volume"]:
        calls["volume"] = lambda: _volume_services(conn)
    outcomes = conn.parallel(calls) if calls else {}

    services = {name: "present" if url else "absent" for name, url in endpoints.items()}
    data: dict[str, Any] = {
        "auth_ms": round(auth_seconds * 1000),
        "project_id": conn.project_id,
        "endpoints": endpoints,
        "services": services,
        "service_status": {},
        "capacity": {},
        "limits": {},
    }
    problems: list[tuple[str, str]] = []
    for name, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            state, reason, _hint = classify(outcome)
            problems.append((state, f"{name}: {reason}"))
        elif name in ("capacity", "limits"):
            data[name] = outcome
        else:
            data["service_status"][name] = outcome
    if not problems:
        return data
    return {
        "state": worst(state for state, _reason in problems),
        "reason": "; ".join(reason for _state, reason in problems),
        **data,
    }
