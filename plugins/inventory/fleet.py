# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.fleet inventory: hosts are the fleet's sites, grouped the way operators think.

Why sites as hosts: a play can then target ``cloud_core_a``, ``edge_west`` or
``state_unreachable`` with Ansible's own patterns, limits and serial batches, while each task
still runs one library call locally. Nothing here contacts a site or reads a credential: the
listing comes from clouds.yaml (``FleetConfig.describe``) and the local state store.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet
short_description: Sites of an edgeshade fleet as inventory hosts
version_added: 0.1.0
description:
  - One host per site (each region of each cloud in C(clouds.yaml)), named like the site
    (V(edge-00017), V(core-a/RegionTwo)).
  - "Groups: C(cloud_<cloud>), C(region_<region>), one per group of the C(edgeshade.groups)
    section of C(clouds.yaml) (its own name), and C(state_<state>) from the last-known state in
    the local state store (C(state_ok), C(state_unreachable)...; C(state_unknown) for a site no
    run has seen). Characters not valid in a group name become C(_) (C(cloud_core_a))."
  - "Host vars, all auth-free: C(edgeshade_site), C(edgeshade_cloud), C(edgeshade_region),
    C(edgeshade_groups), C(edgeshade_auth_url), C(edgeshade_auth_type), C(edgeshade_vars) (the
    site values from C(clouds.yaml), also set as host vars of their own),
    C(edgeshade_state), C(edgeshade_state_reason), C(edgeshade_state_at),
    C(edgeshade_last_ok) and C(edgeshade_failures) (consecutive failed contacts)."
  - No site is contacted. Run M(edgeshade.cloud.fleet_status) to refresh the states.
  - The inventory file's name must end in C(edgeshade.yml) or C(edgeshade.yaml).
author:
  - edgeshade developers (!UNKNOWN)
requirements:
  - edgeshade (the library, importable by the Python that runs ansible)
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    required: true
    type: str
    choices: [edgeshade.cloud.fleet]
  config_file:
    description:
      - Path of the fleet's C(clouds.yaml). Unset, openstacksdk's search applies
        (E(OS_CLIENT_CONFIG_FILE), C(./clouds.yaml), C(~/.config/openstack/clouds.yaml)...).
    type: path
    aliases: [clouds_yaml]
  sites:
    description: Selectors of the sites to list (as in the modules' O(sites) option).
    type: list
    elements: str
    default: [all]
  state_dir:
    description:
      - Directory of the local state store the last-known states come from. Unset,
        E(EDGESHADE_STATE_DIR), else C(~/.local/state/edgeshade).
    type: path
  use_state:
    description: Read last-known states. V(false) puts every site in C(state_unknown).
    type: bool
    default: true
  local_connection:
    description:
      - Sites are not SSH hosts; every module of the collection runs where Ansible runs. With
        V(true) each host gets C(ansible_connection=local) and C(ansible_python_interpreter) set
        to the Python running this plugin (which has the library), so a play over sites needs
        no C(delegate_to).
    type: bool
    default: true
"""

EXAMPLES = r"""
# fleet.edgeshade.yml
plugin: edgeshade.cloud.fleet
config_file: /etc/edgeshade/clouds.yaml
sites: ["edge-*", "core-a"]
# Group by a site value from clouds.yaml, and cache the listing for an hour.
keyed_groups:
  - key: edgeshade_vars.country | default('none')
    prefix: country
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/edgeshade-inventory
cache_timeout: 3600

# ansible-inventory -i fleet.edgeshade.yml --graph state_unreachable
"""

# Ansible reads DOCUMENTATION before the imports; hence E402.
import os  # noqa: E402
import sys  # noqa: E402

from ansible.errors import AnsibleError, AnsibleParserError  # noqa: E402
from ansible.inventory.group import to_safe_group_name  # noqa: E402
from ansible.module_utils.basic import missing_required_lib  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402

try:
    import edgeshade
    from edgeshade.state import StateStore, default_state_dir
except ImportError:
    HAS_EDGESHADE = False
else:
    HAS_EDGESHADE = True


def _group(prefix: str, name: str) -> str:
    return to_safe_group_name(f"{prefix}{name}", force=True, silent=True)


def fleet_listing(
    config_file: str | None,
    selectors: list[str],
    state_dir: str | None = None,
    use_state: bool = True,
) -> list[dict]:
    """Auth-free facts of every selected site plus its last-known state: what gets cached."""
    config = edgeshade.FleetConfig(config_file)
    sites = config.select(selectors)
    known: dict[str, dict] = {}
    directory = state_dir or str(default_state_dir())
    if use_state and os.path.exists(os.path.join(directory, "state.db")):
        with StateStore(directory) as store:  # only read: listing must not create a store
            known = store.last_known([s.name for s in sites])
    return [dict(config.describe(site), last_known=known.get(site.name)) for site in sites]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "edgeshade.cloud.fleet"

    def verify_file(self, path):
        return super().verify_file(path) and os.path.basename(path).endswith(
            ("edgeshade.yml", "edgeshade.yaml")
        )

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_EDGESHADE:
            raise AnsibleError(missing_required_lib("edgeshade"))
        cache_key = self.get_cache_key(path)
        read_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        listing = None
        if read_cache:
            try:
                listing = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if listing is None:
            try:
                listing = fleet_listing(
                    self.get_option("config_file"),
                    self.get_option("sites"),
                    self.get_option("state_dir"),
                    self.get_option("use_state"),
                )
            except edgeshade.EdgeshadeError as exc:
                raise AnsibleParserError(f"edgeshade.cloud.fleet: {exc}") from exc
        if update_cache:
            self._cache[cache_key] = listing
        self._populate(listing)

    def _populate(self, listing):
        strict = self.get_option("strict")
        for item in listing:
            host = self.inventory.add_host(item["site"])
            groups = [_group("cloud_", item["cloud"])]
            if item.get("region"):
                groups.append(_group("region_", item["region"]))
            groups += [_group("", name) for name in item.get("groups") or []]
            known = item.get("last_known") or {}
            state = known.get("state") or "unknown"
            groups.append(_group("state_", state))
            for group in groups:
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)

            site_vars = item.get("vars") or {}
            hostvars = {key: value for key, value in site_vars.items() if key.isidentifier()}
            hostvars.update(
                edgeshade_site=item["site"],
                edgeshade_cloud=item["cloud"],
                edgeshade_region=item.get("region"),
                edgeshade_groups=list(item.get("groups") or []),
                edgeshade_auth_url=item.get("auth_url"),
                edgeshade_auth_type=item.get("auth_type"),
                edgeshade_vars=dict(site_vars),
                edgeshade_state=state,
                edgeshade_state_reason=known.get("reason"),
                edgeshade_state_at=known.get("at"),
                edgeshade_last_ok=known.get("last_ok"),
                edgeshade_failures=known.get("failures", 0),
            )
            if self.get_option("local_connection"):
                hostvars["ansible_connection"] = "local"
                hostvars["ansible_python_interpreter"] = sys.executable
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(
                self.get_option("groups"), hostvars, host, strict=strict
            )
            self._add_host_to_keyed_groups(
                self.get_option("keyed_groups"), hostvars, host, strict=strict
            )
