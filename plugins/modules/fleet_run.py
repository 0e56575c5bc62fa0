#!/usr/bin/python
# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.fleet_run: any edgeshade task (yours or built in) across the fleet."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_run
short_description: Run an edgeshade task on every selected OpenStack site
version_added: 0.1.0
description:
  - Runs one task on every selected site in parallel, in one module call, and returns each
    site's state, reason and data.
  - A task is a Python function C((conn, site, **params\) -> mapping) registered with
    C(@edgeshade.task); see the edgeshade README. It knows nothing about other sites, deadlines
    or concurrency.
  - The task's return value becomes the site's C(data). The reserved keys C(state), C(reason)
    and C(hint) set the site's state; C(changed) (bool) counts towards the module's C(changed);
    C(diff) (C(before)/C(after)) is shown per site in diff mode.
  - Per-site failures are data. Set O(max_fail_percentage) to fail the task when too many
    sites are in O(fail_states).
author:
  - edgeshade developers (!UNKNOWN)
options:
  task:
    description:
      - The task, as an import path V(package.module:function) (or V(package.module.function))
        or the name of a registered task (V(status)).
      - The module must be importable by the Python that runs this module; see O(python_path).
    type: str
    required: true
  params:
    description:
      - Keyword arguments for the task, the same for every site. Per-site values belong in the
        site's C(vars) in C(clouds.yaml) (the task reads C(site.vars)).
    type: dict
    default: {}
  python_path:
    description:
      - Directories put in front of C(sys.path) before the task is imported, for example
        V({{ playbook_dir }}/tasks).
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - edgeshade.cloud.fleet
attributes:
  check_mode:
    description: Can run in check mode and return the plan without changing anything.
    support: partial
    details:
      - A task with a C(dry_run) parameter is called with C(dry_run=true) and returns its plan
        (C(changed), C(diff)) without changing anything.
      - A task without one is not run in check mode; the module returns the sites it would run
        on and is reported as skipped.
  diff_mode:
    description: Shows the C(diff) each site's task returned, headed by the site name.
    support: full
"""

EXAMPLES = r"""
# tasks/flavors.py next to the playbook:
#
#   import edgeshade
#
#   @edgeshade.task
#   def ensure_flavor(conn, site, name, ram, vcpus, dry_run=False):
#       found = conn.get("compute", "/flavors/detail")["flavors"]
#       if any(f["name"] == name for f in found):
#           return {"changed": False}
#       if not dry_run:
#           conn.cloud.create_flavor(name, ram=ram, vcpus=vcpus, disk=0)
#       return {"changed": True, "diff": {"before": "", "after": f"flavor {name}\n"}}

- name: Make sure every edge site has the m1.edge flavor
  edgeshade.cloud.fleet_run:
    sites: edge-*
    task: flavors:ensure_flavor
    python_path: ["{{ playbook_dir }}/tasks"]
    params:
      name: m1.edge
      ram: 2048
      vcpus: 2
    max_fail_percentage: 10
  register: run

- name: Sites that did not answer
  ansible.builtin.debug:
    var: run.failed_sites
"""

RETURN = r"""
msg:
  description: One-line summary of the run.
  returned: always
  type: str
  sample: "100 sites: 98 ok, 2 unreachable — 1.9 s"
task:
  description: Name of the task that ran.
  returned: success
  type: str
  sample: ensure_flavor
summary:
  description: Sites per state, worst state first, only states that occurred.
  returned: success
  type: dict
  sample: {"unreachable": 2, "ok": 98}
exit_code:
  description: Nagios code of the worst site (0 ok, 1 warning, 2 any failure, 3 no sites).
  returned: success
  type: int
  sample: 2
elapsed:
  description: Wall time of the run, in seconds.
  returned: success
  type: float
  sample: 1.93
cancelled:
  description: Whether the run was interrupted (the task then fails).
  returned: success
  type: bool
  sample: false
skipped:
  description: True in check mode when the task has no C(dry_run) parameter and was not run.
  returned: when skipped
  type: bool
  sample: true
failed_sites:
  description: Names of the sites in one of O(fail_states), in selection order.
  returned: success
  type: list
  elements: str
  sample: ["edge-00017", "edge-00311"]
fail_percentage:
  description: Share of the selected sites in RV(failed_sites), in percent.
  returned: success
  type: float
  sample: 2.0
sites:
  description: One result per selected site, in selection order.
  returned: success
  type: list
  elements: dict
  contains:
    site:
      description: Site name (V(cloud) or V(cloud/region)).
      type: str
      sample: edge-00017
    cloud:
      description: Cloud name in C(clouds.yaml).
      type: str
      sample: edge-00017
    region:
      description: Region name.
      type: str
      sample: RegionOne
    state:
      description: The site's state (V(skipped) for every site in check mode without C(dry_run)).
      type: str
      sample: ok
    reason:
      description: Why the site is not V(ok), in one line; empty when it is.
      type: str
      sample: ""
    hint:
      description: What to try, when the library knows.
      type: str
      sample: null
    requests:
      description: HTTP requests made for this site.
      type: int
      sample: 7
    elapsed:
      description: Seconds this site took.
      type: float
      sample: 0.188
    data:
      description: What the task returned, less C(state), C(reason) and C(hint).
      type: dict
      sample: {"changed": true, "diff": {"before": "", "after": "flavor m1.edge\n"}}
"""

import sys  # noqa: E402 - Ansible wants the docs first

from ansible_collections.edgeshade.cloud.plugins.module_utils.fleet import FleetModule  # noqa: E402


class FleetRunModule(FleetModule):
    argument_spec = dict(
        task=dict(type="str", required=True),
        params=dict(type="dict", default={}),
        python_path=dict(type="list", elements="path", default=[]),
    )

    def task_ref(self):
        for path in reversed(self.params["python_path"]):
            if path not in sys.path:
                sys.path.insert(0, path)
        return self.params["task"]

    def task_params(self):
        return dict(self.params["params"])


def main():
    FleetRunModule()()


if __name__ == "__main__":
    main()
