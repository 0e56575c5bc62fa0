#!/usr/bin/python
# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.deploy: roll a deployment spec out to the fleet (check mode = plan)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy
short_description: Deploy server sets and Heat stacks to many OpenStack sites in waves
version_added: 0.1.0
description:
  - Applies an edgeshade deployment spec (server sets and Heat stacks, per-site values, rollout
    policy; see C(docs/deploy.md) in edgeshade) to every selected site that the spec's C(sites)
    also names, in the waves of its C(rollout) policy, with health gates, a failure budget and
    a journal that makes an interrupted run resumable.
  - Check mode returns the per-site plan (what would be created, changed with the reason and
    kind, deleted) without changing anything.
  - Servers and stacks are found by the deployment's ownership metadata; nothing the deployment
    does not own is ever changed.
author:
  - edgeshade developers (!UNKNOWN)
options:
  spec:
    description:
      - Path of the deployment spec (YAML) on the controller.
    type: path
    required: true
  state:
    description:
      - V(present) converges every site to the spec (V(resume=true) only the sites an earlier
        run did not finish).
      - V(rolled_back) returns every site the deployment changed to its previous version.
      - V(absent) deletes everything the deployment owns, in waves.
    type: str
    choices: [present, rolled_back, absent]
    default: present
  resume:
    description:
      - With O(state=present), only sites not yet at the spec's version, deferred or left
        half-done by an interrupted run.
    type: bool
    default: false
extends_documentation_fragment:
  - edgeshade.cloud.fleet
attributes:
  check_mode:
    description: Returns the plan per site; nothing changes.
    support: full
  diff_mode:
    description: Shows per site what changes (before) and what it becomes (after).
    support: full
"""

EXAMPLES = r"""
- name: Plan first
  edgeshade.cloud.deploy:
    spec: "{{ playbook_dir }}/deploy-web.yaml"
  check_mode: true
  diff: true
  register: plan

- name: Roll it out (canary, then batches, health gates; failed sites roll back per the spec)
  edgeshade.cloud.deploy:
    spec: "{{ playbook_dir }}/deploy-web.yaml"
    sites: ["edge-*"]
    max_fail_percentage: 0

- name: Remove it everywhere
  edgeshade.cloud.deploy:
    spec: "{{ playbook_dir }}/deploy-web.yaml"
    state: absent
"""

RETURN = r"""
changed:
  description: Whether any site changed (in check mode, whether any site would).
  returned: always
  type: bool
  sample: true
msg:
  description: The fleet summary line.
  returned: always
  type: str
  sample: "200 sites: 198 ok, 2 deferred"
summary:
  description: Sites per state.
  returned: success
  type: dict
  sample: {"ok": 198, "deferred": 2}
waves:
  description: Per wave, its size, its summary and the health gate's summary.
  returned: when not in check mode
  type: list
  elements: dict
  sample: [{"wave": 0, "sites": 2, "summary": {"ok": 2}, "gate": {"ok": 2}}]
stopped:
  description: Why the rollout stopped early (failure budget, health gate); empty if it did not.
  returned: when not in check mode
  type: str
  sample: ""
deferred:
  description: Sites that could not be reached; a later run (O(resume=true)) completes them.
  returned: when not in check mode
  type: list
  elements: str
  sample: ["edge-00042"]
failed_sites:
  description: Names of the sites in one of O(fail_states).
  returned: success
  type: list
  elements: str
  sample: []
fail_percentage:
  description: Share of the selected sites in RV(failed_sites), in percent.
  returned: success
  type: float
  sample: 0.0
sites:
  description: One result per site, in selection order.
  returned: success
  type: list
  elements: dict
  contains:
    site:
      description: Site name.
      type: str
      sample: edge-00017
    state:
      description: The site's state.
      type: str
      sample: ok
    reason:
      description: Why the site is not V(ok), in one line.
      type: str
      sample: ""
    data:
      description: >-
        C(create)/C(change)/C(delete)/C(unchanged) counts, C(changes) (action, type, name,
        kind, reason) and C(version).
      type: dict
      sample: {"create": 0, "change": 1, "changes": [{"action": "change", "type": "server",
               "name": "web-edge-00017", "kind": "rebuild",
               "reason": "image pos-7 -> pos-8"}], "version": "8"}
"""

from ansible_collections.edgeshade.cloud.plugins.module_utils.fleet import (  # noqa: E402
    FleetModule,
)


def _diff(changes):
    before = [f"{c['type']} {c['name']}" for c in changes if c["action"] in ("change", "delete")]
    after = [
        f"{c['type']} {c['name']}: {c['action']}"
        + (f" ({c['kind']})" if c.get("kind") else "")
        + (f": {c['reason']}" if c.get("reason") else "")
        for c in changes
        if c["action"] in ("create", "change")
    ]
    return {"before": "".join(f"{x}\n" for x in before),
            "after": "".join(f"{x}\n" for x in after)}


class DeployModule(FleetModule):
    argument_spec = dict(
        spec=dict(type="path", required=True),
        state=dict(type="str", choices=["present", "rolled_back", "absent"], default="present"),
        resume=dict(type="bool", default=False),
    )

    def call(self, fleet):
        """One library call on the deployment; check mode plans (present) or reads status."""
        deployment = fleet.deploy(self.params["spec"])
        state = self.params["state"]
        check = self.module.check_mode
        if state == "present":
            result = deployment.plan() if check else deployment.apply(resume=self.params["resume"])
        elif check:
            result = deployment.status()
        elif state == "rolled_back":
            result = deployment.rollback()
        else:
            result = deployment.destroy()
        for site in result:
            changes = site.data.get("changes") or []
            if state == "present":
                site.data["changed"] = bool(changes)
                site.data["diff"] = _diff(changes)
            else:
                site.data["changed"] = not check and site.state == "ok" and bool(
                    site.data.get("undone") or site.data.get("deleted_servers")
                    or site.data.get("deleted_stacks"))
        return result


def main():
    DeployModule()()


if __name__ == "__main__":
    main()
