"""User tasks for the fleet_run target, written the way a user would write them.

``flavor_inventory`` makes a real, idempotent change (a file per site with the site's flavor
names, read from the simulator) and plans itself under ``dry_run``, so check mode, diff and
``changed`` can be asserted end to end; the others cover a task that cannot plan and one that
raises.
"""

from __future__ import annotations

import json
import os

import edgeshade


@edgeshade.task
def flavor_inventory(conn, site, out_dir, dry_run=False):
    """Keep ``out_dir/<site>.json`` equal to the site's flavor names."""
    flavors = sorted(f["name"] for f in conn.get("compute", "/flavors")["flavors"])
    path = os.path.join(out_dir, site.name.replace("/", "_") + ".json")
    wanted = json.dumps(flavors, indent=1) + "\n"
    before = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            before = fh.read()
    if before == wanted:
        return {"changed": False, "flavors": len(flavors)}
    if not dry_run:
        os.makedirs(out_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(wanted)
    return {"changed": True, "flavors": len(flavors), "diff": {"before": before, "after": wanted}}


def touch(conn, site, out_dir):
    """Changes something and cannot say beforehand whether it would: no ``dry_run``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, site.name.replace("/", "_") + ".touched"), "w") as fh:
        fh.write("touched\n")
    return {"changed": True}


def boom(conn, site):
    """A buggy task: every site ends ``error`` with the exception named."""
    raise RuntimeError(f"no luck at {site.name}")
