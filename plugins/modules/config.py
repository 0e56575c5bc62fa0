#!/usr/bin/python
# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.config: converge (or diff, or report on) a configuration baseline."""

from __future__ import annotations

DOCUMENTATION = r"""
module: config
short_description: Converge every selected OpenStack site to a configuration baseline
version_added: 0.1.0
description:
  - Renders a baseline (YAML with Jinja2 values; flavors, key pairs, security groups and rules,
    networks, subnets, routers, quotas, projects, users, role assignments, image properties)
    once for the whole fleet and evaluates only the site-specific values per site.
  - O(mode=apply) converges each site through openstacksdk in the baseline's rollout waves;
    sites that cannot be reached end C(deferred) and are queued in the state store, to be
    replayed by C(edgeshade sync) or the next apply.
  - O(mode=diff) reports the differences per site; O(mode=status) reports in_sync, drifted,
    behind or unknown per site (O(cached=true) reads the state store only).
  - See the edgeshade documentation (docs/config.md) for the baseline format.
author:
  - edgeshade developers (!UNKNOWN)
options:
  baseline:
    description: Path of the baseline file on the controller.
    type: path
    required: true
  mode:
    description: What to do.
    type: str
    choices: [apply, diff, status]
    default: apply
  cached:
    description: With O(mode=status), read the local state store only; contact no site.
    type: bool
    default: false
extends_documentation_fragment:
  - edgeshade.cloud.fleet
attributes:
  check_mode:
    description: With O(mode=apply), returns each site's plan and changes nothing.
    support: full
  diff_mode:
    description: Shows each site's planned or applied changes (field before and after).
    support: full
"""

EXAMPLES = r"""
- name: What would change on the edge sites
  edgeshade.cloud.config:
    baseline: "{{ playbook_dir }}/baseline.yaml"
    sites: edge-*
  check_mode: true
  diff: true

- name: Converge every site (unreachable ones are queued)
  edgeshade.cloud.config:
    baseline: "{{ playbook_dir }}/baseline.yaml"
  register: applied

- name: Drift report from the state store, without contacting any site
  edgeshade.cloud.config:
    baseline: "{{ playbook_dir }}/baseline.yaml"
    mode: status
    cached: true
"""

RETURN = r"""
msg:
  description: One-line summary of the run.
  returned: always
  type: str
  sample: "300 sites: 280 ok, 20 deferred — 12.4 s"
version:
  description: The baseline's version (goes up whenever the file's content changes).
  returned: success
  type: int
  sample: 3
deferred:
  description: Sites that could not be reached and are queued for C(edgeshade sync).
  returned: success
  type: list
  elements: str
  sample: ["edge-00017"]
summary:
  description: Sites per state, worst first.
  returned: success
  type: dict
  sample: {"deferred": 20, "ok": 280}
failed_sites:
  description: Names of the sites in one of O(fail_states).
  returned: success
  type: list
  elements: str
  sample: []
sites:
  description: One result per selected site, in selection order.
  returned: success
  type: list
  elements: dict
  contains:
    site:
      description: Site name.
      type: str
      sample: edge-00017
    state:
      description: C(ok), C(warning) (differences found), C(deferred), C(critical)...
      type: str
      sample: ok
    reason:
      description: One line; the first differences or what was applied.
      type: str
      sample: "3 change(s) applied"
    data:
      description:
        - C(changes) (type, name, action, field, old, new, text), C(differences),
          C(applied), C(version), C(hash); with O(mode=status) also C(status),
          C(applied_version), C(current_version), C(contact), C(last_known), C(age).
      type: dict
      sample: {"differences": 1, "changes": [{"text": "flavors/e1.small: missing"}]}
"""

from ansible_collections.edgeshade.cloud.plugins.module_utils.fleet import FleetModule  # noqa: E402

try:
    from edgeshade import baseline
except ImportError:
    pass  # reported by FleetModule (missing_required_lib)


class ConfigModule(FleetModule):
    argument_spec = dict(
        baseline=dict(type="path", required=True),
        mode=dict(type="str", choices=["apply", "diff", "status"], default="apply"),
        cached=dict(type="bool", default=False),
    )

    def call(self, fleet):
        """One library call: edgeshade.baseline.apply/diff/status (check mode: the plan)."""
        mode = self.params["mode"]
        self.read_only = mode != "apply"
        base = baseline.load(self.params["baseline"], fleet)
        self._version = base.version
        if mode == "diff":
            return baseline.diff(fleet, base)
        if mode == "status":
            return baseline.status(fleet, base, cached=self.params["cached"])
        return baseline.apply(fleet, base, dry_run=self.module.check_mode)

    def shape(self, result, fleet):
        result["version"] = self._version
        result["deferred"] = [s["site"] for s in result["sites"] if s["state"] == "deferred"]
        return result


def main():
    ConfigModule()()


if __name__ == "__main__":
    main()
