#!/usr/bin/python
# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.fleet_status: the whole fleet's health in one task (the ``status`` task)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_status
short_description: Health of every selected OpenStack site in one task
version_added: 0.1.0
description:
  - Checks every selected site (each region of each cloud in C(clouds.yaml)) in parallel, in
    one module call (authentication, catalog, nova-compute, servers in ERROR, quota usage,
    Neutron agents, Cinder services and Glance). Each site ends in exactly one state (V(ok),
    V(warning), V(critical), V(unreachable), V(auth_failed), V(timed_out), V(error)) with a
    one-line reason and, where possible, a hint.
  - A dead or hanging site costs its own O(timeout), never the task's; the task takes about as
    long as the slowest healthy site.
  - Per-site failures are data. Set O(max_fail_percentage) to fail the task when too many
    sites are in O(fail_states).
  - Runs the library's C(status) task, the same as C(edgeshade status).
author:
  - edgeshade developers (!UNKNOWN)
options:
  checks:
    description:
      - Which checks to run; unset, all of them. Fewer checks, fewer requests per site.
    type: list
    elements: str
    choices: [compute, servers, limits, network, volume, image]
  thresholds:
    description:
      - When a site is V(warning) or V(critical). Keys and library defaults
        C(compute_down_warning=1), C(error_servers_warning=1), C(error_servers_critical=off),
        C(quota_warning_percent=90), C(quota_critical_percent=off), C(agents_dead_warning=1),
        C(volume_down_warning=1). A value of V(off) switches a rule off.
      - An unknown key or a value that is not a number fails the task before any site is
        contacted.
    type: dict
extends_documentation_fragment:
  - edgeshade.cloud.fleet
attributes:
  check_mode:
    description: Read-only; runs in check mode as usual.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: Check the whole fleet from the controller
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/edgeshade.cloud.all:
      config_file: /etc/edgeshade/clouds.yaml
      timeout: 20
  tasks:
    - name: Status of every edge site; fail when more than 5 % are down
      edgeshade.cloud.fleet_status:
        sites: ["edge-*", "!edge-lab-*"]
        thresholds:
          quota_warning_percent: 80
        max_fail_percentage: 5
      register: fleet

    - name: Show the sites that need attention
      ansible.builtin.debug:
        msg: "{{ item.site }}: {{ item.state }} ({{ item.reason }})"
      loop: "{{ fleet.sites | rejectattr('state', 'eq', 'ok') }}"
      loop_control:
        label: "{{ item.site }}"

- name: Only the compute checks, credentials from Ansible Vault
  edgeshade.cloud.fleet_status:
    sites: core-a
    checks: [compute, limits]
    secrets: "{{ vault_edgeshade_secure_yaml }}"
"""

RETURN = r"""
msg:
  description: One-line summary of the run.
  returned: always
  type: str
  sample: "100 sites: 95 ok, 3 warning, 1 critical, 1 unreachable — 2.4 s"
task:
  description: Name of the library task that ran.
  returned: success
  type: str
  sample: status
summary:
  description: Sites per state, worst state first, only states that occurred.
  returned: success
  type: dict
  sample: {"critical": 1, "unreachable": 1, "warning": 3, "ok": 95}
exit_code:
  description: Nagios code of the worst site (0 ok, 1 warning, 2 any failure, 3 no sites).
  returned: success
  type: int
  sample: 2
elapsed:
  description: Wall time of the run, in seconds.
  returned: success
  type: float
  sample: 2.412
cancelled:
  description: Whether the run was interrupted (the task then fails).
  returned: success
  type: bool
  sample: false
failed_sites:
  description: Names of the sites in one of O(fail_states), in selection order.
  returned: success
  type: list
  elements: str
  sample: ["edge-00017", "core-b/RegionTwo"]
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
      description: The site's state.
      type: str
      sample: warning
    reason:
      description: Why the site is not V(ok), in one line; empty when it is.
      type: str
      sample: "compute: 1/3 nova-compute down (cmp-2)"
    hint:
      description: What to try, when the library knows.
      type: str
      sample: "check the site's VPN link"
    requests:
      description: HTTP requests made for this site.
      type: int
      sample: 7
    elapsed:
      description: Seconds this site took.
      type: float
      sample: 0.213
    data:
      description:
        - What the checks found, for example C(services), C(compute) (hypervisors up and down,
          vCPU and RAM totals), C(servers) (count in ERROR), C(limits.usage_percent),
          C(network) (agents alive and dead), C(volume), C(auth_ms) and C(checks) (state and
          reason per check).
      type: dict
      sample:
        auth_ms: 41
        services: {compute: ok, network: ok, volume: absent, image: ok}
        compute: {hypervisors: 3, up: 2, down: 1, vcpus: 96, vcpus_used: 40}
        checks: {compute: {state: warning, reason: "1/3 nova-compute down (cmp-2)"}}
"""

from ansible_collections.edgeshade.cloud.plugins.module_utils.fleet import FleetModule  # noqa: E402


class FleetStatusModule(FleetModule):
    task = "status"
    read_only = True
    argument_spec = dict(
        checks=dict(
            type="list",
            elements="str",
            choices=["compute", "servers", "limits", "network", "volume", "image"],
        ),
        thresholds=dict(type="dict"),
    )

    def task_params(self):
        # Validated here so a typo fails the task once instead of every site.
        from edgeshade.tasks.status import Thresholds

        return {
            "checks": self.params["checks"],
            "thresholds": Thresholds.from_params(self.params["thresholds"]),
        }


def main():
    FleetStatusModule()()


if __name__ == "__main__":
    main()
