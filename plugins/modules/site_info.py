#!/usr/bin/python
# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.site_info: one site's facts (endpoints, services, capacity, quota)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: site_info
short_description: Facts about one OpenStack site of the fleet
version_added: 0.1.0
description:
  - Reports one site's facts in one call, without judging them as M(edgeshade.cloud.fleet_status)
    does; catalog endpoints, which services are present, compute, network and volume services
    up per binary, hypervisor capacity and the project's absolute limits, plus what
    C(clouds.yaml) says about the site (cloud, region, groups, site values; never credentials).
  - A site that cannot be reached is not a failed task; its state and reason are in RV(site).
    Set O(max_fail_percentage=0) to fail instead.
author:
  - edgeshade developers (!UNKNOWN)
options:
  site:
    description:
      - The site, by name (V(edge-00017), V(core-a/RegionTwo)) or any selector that matches
        exactly one of the sites O(sites) selects.
    type: str
    required: true
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
- name: Facts of one site
  edgeshade.cloud.site_info:
    config_file: /etc/edgeshade/clouds.yaml
    site: core-a/RegionTwo
  register: info

- name: Free vCPUs there
  ansible.builtin.debug:
    msg: "{{ info.site.capacity.vcpus - info.site.capacity.vcpus_used }}"

- name: Per site of an inventory built by edgeshade.cloud.fleet
  hosts: state_ok
  gather_facts: false
  tasks:
    - name: Facts of this site
      edgeshade.cloud.site_info:
        site: "{{ edgeshade_site }}"
      register: info
"""

RETURN = r"""
site:
  description: The site's facts.
  returned: success
  type: dict
  contains:
    site:
      description: Site name.
      type: str
      sample: core-a/RegionTwo
    cloud:
      description: Cloud name in C(clouds.yaml).
      type: str
      sample: core-a
    region:
      description: Region name.
      type: str
      sample: RegionTwo
    state:
      description: V(ok), or why the facts are incomplete (V(unreachable), V(critical)...).
      type: str
      sample: ok
    reason:
      description: One line on what failed; empty when V(ok).
      type: str
      sample: ""
    config:
      description: What C(clouds.yaml) says about the site, without credentials.
      type: dict
      sample:
        auth_url: https://keystone.core-a.example:5000
        auth_type: password
        groups: [core]
        vars: {ntp_server: 10.1.0.1}
    endpoints:
      description: Public endpoint per service, null when the service is not in the catalog.
      type: dict
      sample:
        identity: https://keystone.core-a.example:5000
        compute: https://nova.core-a.example:8774/v2.1
        volume: null
    services:
      description: V(present) or V(absent) per service.
      type: dict
      sample: {compute: present, network: present, volume: absent, image: present}
    service_status:
      description: Per service, per binary, how many there are and how many are up.
      type: dict
      sample:
        compute: {nova-compute: {total: 3, up: 3}, nova-scheduler: {total: 1, up: 1}}
        network: {neutron-l3-agent: {total: 1, up: 1}}
    capacity:
      description: Hypervisor totals (null where the API does not report a value).
      type: dict
      sample:
        hypervisors: 3
        hypervisors_up: 3
        vcpus: 96
        vcpus_used: 40
        memory_mb: 393216
        memory_mb_used: 131584
        local_gb: 3000
        local_gb_used: 640
        running_vms: 12
    limits:
      description: The project's absolute limits as the compute API reports them.
      type: dict
      sample: {maxTotalCores: 200, totalCoresUsed: 40, maxTotalInstances: 100}
    auth_ms:
      description: Milliseconds authentication took.
      type: int
      sample: 38
msg:
  description: One-line summary of the run.
  returned: always
  type: str
  sample: "1 site: 1 ok — 0.3 s"
task:
  description: Name of the library task that ran.
  returned: success
  type: str
  sample: site_facts
summary:
  description: Sites per state (here one site).
  returned: success
  type: dict
  sample: {"ok": 1}
exit_code:
  description: Nagios code of the site's state.
  returned: success
  type: int
  sample: 0
elapsed:
  description: Wall time, in seconds.
  returned: success
  type: float
  sample: 0.31
cancelled:
  description: Whether the run was interrupted.
  returned: success
  type: bool
  sample: false
failed_sites:
  description: The site's name when its state is one of O(fail_states).
  returned: success
  type: list
  elements: str
  sample: []
fail_percentage:
  description: 100 when the site is in RV(failed_sites), else 0.
  returned: success
  type: float
  sample: 0.0
sites:
  description: The same result in the fleet shape of M(edgeshade.cloud.fleet_status) (one item).
  returned: success
  type: list
  elements: dict
  sample: [{"site": "core-a/RegionTwo", "state": "ok", "data": {"capacity": {"vcpus": 96}}}]
"""

from ansible_collections.edgeshade.cloud.plugins.module_utils.fleet import (  # noqa: E402
    FleetModule,
    FleetModuleError,
)


class SiteInfoModule(FleetModule):
    task = "site_facts"  # edgeshade.tasks.info
    read_only = True
    argument_spec = dict(site=dict(type="str", required=True))

    def select(self, fleet):
        chosen = fleet.select(self.params["site"])
        if len(chosen) != 1:
            names = ", ".join(s.name for s in chosen.sites[:5])
            raise FleetModuleError(
                f"site '{self.params['site']}' matches {len(chosen)} of the selected sites"
                + (f" ({names})" if names else "")
            )
        return chosen

    def shape(self, result, fleet):
        one = result["sites"][0]
        facts = {key: one[key] for key in ("site", "cloud", "region", "state", "reason")}
        facts["config"] = {
            key: value
            for key, value in fleet.config.describe(fleet.sites[0]).items()
            if key not in ("site", "cloud", "region")
        }
        facts.update(one["data"])
        return dict(result, site=facts)


def main():
    SiteInfoModule()()


if __name__ == "__main__":
    main()
