# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Options every edgeshade.cloud module shares (plugins/module_utils/fleet.py FLEET_ARGUMENT_SPEC).

Why a fragment: the selection, configuration, engine and failure-policy options are the same for
every module and set once per play with ``module_defaults: group/edgeshade.cloud.all``, so they
are documented once too.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  sites:
    description:
      - Which sites to work on, as edgeshade selectors.
      - A selector is V(all); a cloud name (all its regions); a site name; V(cloud:region) or
        V(cloud/region), either part a glob; a glob on site or cloud names (V(edge-*)); a group
        from the C(edgeshade.groups) section of C(clouds.yaml) (V(edge-west) or V(@edge-west));
        V(!SELECTOR) removes sites.
      - A selector that matches nothing fails the task, so a typo cannot shrink the fleet.
    type: list
    elements: str
    default: [all]
    aliases: [clouds, selectors]
  config_file:
    description:
      - Path of the C(clouds.yaml) that describes the fleet, on the host that runs the module.
      - Unset, openstacksdk's search applies (E(OS_CLIENT_CONFIG_FILE), C(./clouds.yaml),
        C(~/.config/openstack/clouds.yaml), C(/etc/openstack/clouds.yaml)).
      - A C(secure.yaml) next to it is merged unless O(secure_file) or O(secrets) is given.
    type: path
    aliases: [clouds_yaml]
  secure_file:
    description:
      - Path of the C(secure.yaml) with the fleet's passwords and application credential
        secrets, merged into O(config_file) by openstacksdk.
    type: path
  secrets:
    description:
      - The content of a C(secure.yaml) (a mapping with a C(clouds) key, for example from
        Ansible Vault), used instead of O(secure_file).
      - Written to a private temporary file (mode 0600) for the run and removed afterwards;
        never logged or returned.
    type: dict
  concurrency:
    description:
      - Sites in flight at once. Unset, 128, bounded by the number of sites and open files.
    type: int
  processes:
    description:
      - Local processes to split the sites over (forked; Linux and macOS), so that more than
        one core does the HTTP work of a large fleet. Unset, 1.
    type: int
  timeout:
    description:
      - Per-site deadline in seconds, covering connect, authentication and every call. A dead or
        hanging site costs its own deadline, never the whole task's. Unset, 30 seconds.
    type: float
  retries:
    description:
      - Retries of a request after a connection reset or a 502/503/504 (jittered backoff, never
        past the site's deadline). Unset, 2.
    type: int
  state_dir:
    description:
      - Directory of the local state store (last-known site states, cached discovery).
      - Unset, E(EDGESHADE_STATE_DIR), else C(~/.local/state/edgeshade) of the user running the
        module.
    type: path
  use_state:
    description:
      - Read and record the local state store. V(false) leaves no trace of the run.
    type: bool
    default: true
  token_cache:
    description:
      - Keep tokens between runs in C(tokens.json) (mode 0600) in O(state_dir), so a later run
        skips authentication.
    type: bool
    default: false
  max_fail_percentage:
    description:
      - Fail the task when more than this percentage of the selected sites end in one of
        O(fail_states). V(0) fails on any such site.
      - Unset, the task never fails because of site states; per-site failures are returned as
        data (RV(failed_sites), RV(sites)).
    type: float
  fail_states:
    description:
      - Site states that count as failed for O(max_fail_percentage) and RV(failed_sites).
    type: list
    elements: str
    choices: [ok, warning, critical, unreachable, auth_failed, timed_out, error, cancelled,
              skipped, deferred]
    default: [critical, unreachable, auth_failed, timed_out, error]
requirements:
  - python >= 3.11
  - edgeshade (the library, importable by the Python that runs the module)
notes:
  - Modules run where the task runs, normally the controller (C(connection=local) or
    C(delegate_to=localhost)), one module call for the whole fleet. Set
    C(ansible_python_interpreter) to a Python that has the edgeshade library installed.
attributes:
  action_group:
    description: Use C(group/edgeshade.cloud.all) in C(module_defaults) to set these options once.
    support: full
    membership:
      - edgeshade.cloud.all
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
"""
