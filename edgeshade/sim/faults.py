"""Fault injection for the simulated fleet: spec parsing and assignment to sites.

A spec is comma-separated items ``KIND[:ARG][@SERVICE]=WHO``:

* ``WHO`` is a count (``3``), a percentage of the fleet's sites (``2%``, at
  least one site when above zero) or a glob on site or cloud names
  (``edge-0001*``, ``core-a/RegionTwo``, ``core-a:RegionTwo``).
* ``SERVICE`` limits the fault to one API: identity, compute, network, volume
  (alias block-storage) or image.

Counts and percentages pick sites in a seeded order of the *edge* sites, each
site taking at most one of them (so different items land on different sites,
and the core clouds stay predictable); a service-scoped item only picks sites
that have the service (``404@volume=1`` lands where Cinder is). When edge
sites run out, the item gets fewer sites than asked: :meth:`SimFleet.fault_of`
tells the truth. Globs add their fault to every site they match (core sites
included) and may stack on top of other faults; a glob matching nothing is
an error, since a typo must not silently produce a healthy fleet.

Kinds (what the client sees is described in :mod:`edgeshade.sim.app`):
``refused``, ``blackhole``, ``tls``, ``hang``, ``hang-body``, ``slow[:MS]``
(2000), ``500``, ``503[:SECONDS]`` (1), ``flaky[:N]`` (1), ``401``,
``expire``, ``rotated``, ``malformed``, ``truncated``, ``404``; for Glance image transfers
(:mod:`edgeshade.sim.services.image_transfer`): ``cut[:N]`` (1: the first N image uploads
to the site are cut off halfway) and ``noimport`` (the site offers no ``web-download``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import re
from collections.abc import Callable, Iterable, Sequence

#: Kind -> (argument type, default). ``None`` type: the kind takes no argument.
_KINDS: dict[str, tuple[type | None, float | int | None]] = {
    "refused": (None, None),
    "blackhole": (None, None),
    "tls": (None, None),
    "hang": (None, None),
    "hang-body": (None, None),
    "slow": (float, 2000.0),
    "500": (None, None),
    "503": (int, 1),
    "flaky": (int, 1),
    "401": (None, None),
    "expire": (None, None),
    "rotated": (None, None),
    "malformed": (None, None),
    "truncated": (None, None),
    "404": (None, None),
    "cut": (int, 1),
    "noimport": (None, None),
}
KINDS: tuple[str, ...] = tuple(_KINDS)

#: Services a fault can be limited to, with the catalog aliases users may type.
SERVICES: tuple[str, ...] = ("identity", "compute", "network", "volume", "image",
                             "orchestration")
_SERVICE_ALIASES = {"block-storage": "volume", "volumev3": "volume", "keystone": "identity"}

_ITEM = re.compile(r"^(?P<kind>[^:@=]+)(?::(?P<arg>[^@=]*))?(?:@(?P<service>[^=]*))?=(?P<who>.+)$")
_COUNT = re.compile(r"^\d+$")
_PERCENT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)%$")


class FaultSpecError(ValueError):
    """A fault spec (or one of its items) is invalid; the message names the item."""


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One parsed spec item. ``arg`` is the kind's argument with its default applied."""

    kind: str
    arg: float | int | None = None
    service: str | None = None
    count: int | None = None
    percent: float | None = None
    glob: str | None = None
    item: str = ""

    def applies_to(self, service: str) -> bool:
        """Whether this fault affects requests to ``service`` (identity, compute...)."""
        return self.service is None or self.service == service

    def __str__(self) -> str:
        return self.item or self.kind


def _parse_item(item: str) -> Fault:
    match = _ITEM.match(item)
    if not match:
        raise FaultSpecError(
            f"bad fault '{item}': expected KIND[:ARG][@SERVICE]=COUNT|PERCENT%|GLOB"
        )
    kind = match["kind"].strip().lower()
    if kind not in _KINDS:
        raise FaultSpecError(
            f"bad fault '{item}': unknown kind '{kind}' (known: {', '.join(KINDS)})"
        )
    arg_type, default = _KINDS[kind]
    raw_arg = match["arg"]
    arg: float | int | None = default
    if raw_arg is not None:
        if arg_type is None:
            raise FaultSpecError(f"bad fault '{item}': '{kind}' takes no argument")
        try:
            arg = arg_type(raw_arg)
        except ValueError:
            what = "a number" if arg_type is float else "an integer"
            raise FaultSpecError(
                f"bad fault '{item}': argument '{raw_arg}' is not {what}"
            ) from None
        if arg < 0 or (kind == "flaky" and arg < 1):
            raise FaultSpecError(f"bad fault '{item}': argument '{raw_arg}' is out of range")
    service = match["service"]
    if service is not None:
        service = _SERVICE_ALIASES.get(service.strip().lower(), service.strip().lower())
        if service not in SERVICES:
            raise FaultSpecError(
                f"bad fault '{item}': unknown service '{match['service']}' "
                f"(known: {', '.join(SERVICES)})"
            )
    who = match["who"].strip()
    count = percent = glob = None
    if _COUNT.match(who):
        count = int(who)
    elif _PERCENT.match(who):
        percent = float(who[:-1])
        if percent > 100:
            raise FaultSpecError(f"bad fault '{item}': more than 100%")
    else:
        if any(c.isspace() for c in who):
            raise FaultSpecError(f"bad fault '{item}': a site glob cannot contain spaces")
        glob = who
    return Fault(kind, arg, service, count, percent, glob, item)


def parse_faults(spec: str | None) -> list[Fault]:
    """Parse a spec like ``'hang=1%,refused=5,500@compute=edge-0001*'``.

    Empty items are ignored; any bad item raises :class:`FaultSpecError`.
    """
    if not spec:
        return []
    return [_parse_item(part.strip()) for part in spec.split(",") if part.strip()]


def _glob_matcher(glob: str) -> Callable[[str], bool]:
    pattern = re.compile(fnmatch.translate(glob.replace(":", "/")))
    return lambda name: pattern.match(name) is not None


def assign_faults(
    faults: Sequence[Fault],
    sites: Sequence[str],
    *,
    cloud_of: Callable[[str], str],
    eligible: Iterable[str],
    seed: int,
    has_service: Callable[[str, str], bool] | None = None,
) -> dict[str, tuple[Fault, ...]]:
    """Map site name -> its faults, deterministically for ``seed``.

    ``eligible`` are the sites counts and percentages may pick (the edge
    sites), skipping sites without the fault's service (``404@volume=1`` must
    land where Cinder is in the catalog); globs may name any site, or a
    cloud (then all its sites).
    """
    assigned: dict[str, list[Fault]] = {}
    pool = list(eligible)
    random.Random(f"edgeshade-sim:{seed}:faults").shuffle(pool)
    taken: set[str] = set()
    for fault in faults:
        if fault.glob is not None:
            matches = _glob_matcher(fault.glob)
            hit = [s for s in sites if matches(s) or matches(cloud_of(s))]
            if not hit:
                raise FaultSpecError(f"bad fault '{fault.item}': '{fault.glob}' matches no site")
        else:
            if fault.count is not None:
                wanted = fault.count
            else:
                pct = fault.percent or 0.0
                wanted = max(1, round(len(sites) * pct / 100.0)) if pct > 0 else 0
            hit = []
            for site in pool:
                if len(hit) >= wanted:
                    break
                if site in taken:
                    continue
                if fault.service and has_service is not None and not has_service(
                    site, fault.service
                ):
                    continue
                hit.append(site)
            taken.update(hit)
        for site in hit:
            assigned.setdefault(site, []).append(fault)
    return {site: tuple(fs) for site, fs in assigned.items()}
