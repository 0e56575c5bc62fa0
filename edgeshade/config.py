"""Fleet configuration: clouds.yaml + secure.yaml, sites, groups and selectors.

Loading is delegated to :mod:`openstack.config` (search paths,
``OS_CLIENT_CONFIG_FILE``/``OS_CLIENT_SECURE_FILE``, the secure.yaml merge,
vendor profiles), so a file that works with ``openstack`` works here. On top of
that edgeshade adds what a fleet needs:

* **sites**: every region of every cloud is one site. A single-region cloud's
  site is named after the cloud (``edge-00042``); a cloud with a ``regions:``
  list gives ``cloud/region`` sites (``core-a/RegionTwo``).
* **groups**, declared in a top-level ``edgeshade:`` section of clouds.yaml::

      edgeshade:
        groups:
          edge-west:
            sites: ["edge-0*", "core-a:RegionTwo"]   # any selectors but groups
            vars: {ntp_server: 10.1.0.1}
      clouds:
        edge-00042:
          edgeshade:
            groups: [pilot]          # membership declared on the cloud itself
            vars: {site_cidr: 10.42.0.0/24}

  Site values (``site.vars``) are group vars in declaration order, then the
  cloud's own vars (the cloud wins).
* **selectors** (see :meth:`FleetConfig.select`).

openstack.config is lenient where a fleet tool must not be: it skips a
clouds.yaml with a YAML error and silently drops clouds whose auth plugin does
not load. edgeshade parses the chosen files itself first to report
``file:line`` and enumerates clouds itself so no site disappears silently.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from edgeshade.errors import ConfigError, SelectorError

LOG = logging.getLogger("edgeshade")

#: libyaml's safe loader when available: ~10x faster on a 10,000-cloud file.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Auth types that need no ``auth:`` section at all.
_AUTHLESS_TYPES = {"none", "noauth", "http_basic", "admin_token"}


@dataclass(frozen=True)
class Site:
    """One region of one cloud: the unit every task runs on.

    Frozen and picklable so it can cross process and Dask boundaries.
    """

    cloud: str
    region: str | None
    name: str
    groups: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return self.name


@contextlib.contextmanager
def _without_env(*names: str) -> Iterator[None]:
    """Hide env vars while openstack.config loads, so an explicit flag wins."""
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


#: A hostile or broken file must not crash or hang the parser or what walks its result:
#: libyaml's composer recurses in C (nesting ~100,000 deep segfaults the interpreter),
#: and aliases expand a small file into billions of nodes ("billion laughs").
MAX_YAML_DEPTH = 256
MAX_YAML_NODES = 5_000_000
_COLLECTION_START = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_COLLECTION_END = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _check_yaml_shape(text: str, path: str) -> None:
    """Refuse nesting deeper than MAX_YAML_DEPTH or more than MAX_YAML_NODES once aliases
    are expanded, from the event stream (flat: no recursion, nothing built)."""
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = [[0, None]]  # [expanded size so far, anchor]
    total = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, _COLLECTION_START):
            stack.append([1, event.anchor])
            if len(stack) > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ConfigError(
                    f"{path}:{line}: YAML nested deeper than {MAX_YAML_DEPTH} levels"
                )
            continue
        if isinstance(event, _COLLECTION_END):
            size, anchor = stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            size, anchor = anchors.get(event.anchor or "", 1), None
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        else:
            continue
        if anchor:
            anchors[anchor] = size
        stack[-1][0] += size
        total += size
        if total > MAX_YAML_NODES:
            raise ConfigError(
                f"{path}: YAML expands to more than {MAX_YAML_NODES:,} nodes "
                "(aliases referring to aliases?)"
            )


def _parse_yaml_file(path: str, what: str) -> dict[str, Any]:
    """Parse ``path`` with a safe loader; one-line ConfigError with line number."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        _check_yaml_shape(text, path)
        data = yaml.load(text, Loader=_SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{path}: YAML too deeply nested or too large") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, not {type(data).__name__}")
    clouds = data.get("clouds")
    if clouds is not None and not isinstance(clouds, dict):
        raise ConfigError(f"{path}: field 'clouds' must be a mapping of cloud names")
    for name, cloud in (clouds or {}).items():
        if not isinstance(cloud, dict):
            raise ConfigError(f"{path}: cloud '{name}' must be a mapping (field clouds.{name})")
    return data


def _first_existing(paths: Iterable[str]) -> str | None:
    for path in paths:
        if os.path.exists(path):
            return path
    return None


def _warn_if_readable(path: str | None) -> None:
    if not path:
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & 0o077:
        LOG.warning(
            "%s is readable by group/others (mode %04o); run: chmod 600 %s", path, mode, path
        )


def _load_openstack_config(
    config_file: str | None, secure_file: str | None
) -> tuple[Any, dict[str, Any]]:
    """Build the OpenStackConfig, keeping openstack.config's search semantics."""
    import openstack.config  # deferred: importing openstacksdk costs ~0.2 s

    hidden = []
    config_files = None
    secure_files = None
    if config_file:
        if not os.path.exists(config_file):
            raise ConfigError(f"{config_file}: no such file (given with --os-config-file)")
        config_files = [config_file]
        hidden.append("OS_CLIENT_CONFIG_FILE")
        if not secure_file:
            # A secure.yaml next to an explicit clouds.yaml belongs to it.
            sibling = os.path.join(os.path.dirname(os.path.abspath(config_file)), "secure.yaml")
            secure_files = [sibling] + list(openstack.config.loader.SECURE_FILES)
    else:
        env_file = os.environ.get("OS_CLIENT_CONFIG_FILE")
        if env_file and not os.path.exists(env_file):
            raise ConfigError(f"{env_file}: no such file (from OS_CLIENT_CONFIG_FILE)")
    if secure_file:
        if not os.path.exists(secure_file):
            raise ConfigError(f"{secure_file}: no such file (given with --os-secure-file)")
        secure_files = [secure_file]
        hidden.append("OS_CLIENT_SECURE_FILE")
    else:
        env_secure = os.environ.get("OS_CLIENT_SECURE_FILE")
        if env_secure and not os.path.exists(env_secure):
            raise ConfigError(f"{env_secure}: no such file (from OS_CLIENT_SECURE_FILE)")

    # The same search lists openstack.config will use; the winners are parsed
    # here first because openstack.config skips a broken file silently.
    search = list(config_files or openstack.config.loader.CONFIG_FILES)
    secure_search = list(secure_files or openstack.config.loader.SECURE_FILES)
    if "OS_CLIENT_CONFIG_FILE" not in hidden and os.environ.get("OS_CLIENT_CONFIG_FILE"):
        search.insert(0, os.environ["OS_CLIENT_CONFIG_FILE"])
    if "OS_CLIENT_SECURE_FILE" not in hidden and os.environ.get("OS_CLIENT_SECURE_FILE"):
        secure_search.insert(0, os.environ["OS_CLIENT_SECURE_FILE"])

    path = _first_existing(search)
    if path is None:
        raise ConfigError(
            "no clouds.yaml found (searched " + ", ".join(search[:4]) + "); "
            "use --os-config-file or OS_CLIENT_CONFIG_FILE"
        )
    raw = _parse_yaml_file(path, "clouds.yaml")
    secure_path = _first_existing(secure_search)
    if secure_path:
        _parse_yaml_file(secure_path, "secure.yaml")
        _warn_if_readable(secure_path)

    from openstack import exceptions as sdk_exceptions

    try:
        with _without_env(*hidden):
            loaded = openstack.config.OpenStackConfig(
                config_files=config_files or None,
                secure_files=secure_files or None,
                app_name="edgeshade",
            )
        return loaded, raw
    except sdk_exceptions.ConfigException as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: {message}") from None
    except Exception as exc:  # noqa: BLE001 - openstack.config trips over odd shapes
        # (``clouds: null`` is an AttributeError there): bad input, not a crash. The
        # exception's text may quote a value of secure.yaml, so only its type is shown.
        raise ConfigError(
            f"{path}: openstack.config cannot load this file ({type(exc).__name__}); "
            "check the types of its fields"
        ) from None


class FleetConfig:
    """The fleet described by one clouds.yaml (+ secure.yaml).

    >>> fleet = FleetConfig()                      # standard search paths
    >>> [s.name for s in fleet.select(["edge-*"])]
    """

    def __init__(self, config_file: str | None = None, secure_file: str | None = None) -> None:
        self.openstack_config, raw = _load_openstack_config(config_file, secure_file)
        self.path: str = self.openstack_config.config_filename or (config_file or "clouds.yaml")
        self.secure_path: str | None = self.openstack_config.secure_config_filename
        clouds = self.openstack_config.cloud_config.get("clouds", {})
        # openstack.config invents a "defaults" cloud when the file declares none.
        declared = set(raw.get("clouds") or {}) | {self.openstack_config.envvar_key}
        self._clouds: dict[str, dict[str, Any]] = {
            name: conf for name, conf in clouds.items() if name in declared
        }
        # Read from our own parse: openstack.config drops other top-level keys of a
        # file without clouds.
        self.group_defs = self._parse_groups(raw.get("edgeshade"))
        self.sites: list[Site] = self._expand_sites()
        self._by_name = {s.name: s for s in self.sites}
        self._by_cloud: dict[str, list[Site]] = {}
        for site in self.sites:
            self._by_cloud.setdefault(site.cloud, []).append(site)

    # -- loading -----------------------------------------------------------

    def _parse_groups(self, section: Any) -> dict[str, dict[str, Any]]:
        if section is None:
            return {}
        if not isinstance(section, dict):
            raise ConfigError(f"{self.path}: field 'edgeshade' must be a mapping")
        groups = section.get("groups") or {}
        if not isinstance(groups, dict):
            raise ConfigError(f"{self.path}: field 'edgeshade.groups' must be a mapping")
        parsed: dict[str, dict[str, Any]] = {}
        for name, spec in groups.items():
            where = f"{self.path}: field 'edgeshade.groups.{name}"
            spec = spec or {}
            if isinstance(spec, list):  # short form: group: [selectors]
                spec = {"sites": spec}
            if not isinstance(spec, dict):
                raise ConfigError(f"{where}' must be a mapping with 'sites' and 'vars'")
            sites = spec.get("sites") or []
            if isinstance(sites, str):
                sites = [sites]
            if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
                raise ConfigError(f"{where}.sites' must be a list of selectors")
            gvars = spec.get("vars") or {}
            if not isinstance(gvars, dict):
                raise ConfigError(f"{where}.vars' must be a mapping")
            parsed[str(name)] = {"sites": sites, "vars": gvars}
        return parsed

    def _cloud_extras(self, cloud: str) -> tuple[list[str], dict[str, Any]]:
        extra = self._clouds[cloud].get("edgeshade") or {}
        where = f"{self.path}: cloud '{cloud}': field 'clouds.{cloud}.edgeshade"
        if not isinstance(extra, dict):
            raise ConfigError(f"{where}' must be a mapping")
        groups = extra.get("groups") or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            raise ConfigError(f"{where}.groups' must be a list of group names")
        cvars = extra.get("vars") or {}
        if not isinstance(cvars, dict):
            raise ConfigError(f"{where}.vars' must be a mapping")
        return [str(g) for g in groups], cvars

    def _expand_sites(self) -> list[Site]:
        bare: list[Site] = []
        for cloud in self._clouds:
            try:
                regions = [r["name"] for r in self.openstack_config._get_regions(cloud)]
            except (AttributeError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"{self.path}: cloud '{cloud}': bad regions/region_name ({exc})"
                ) from None
            regions = [r or None for r in regions] or [None]
            for region in regions:
                name = cloud if len(regions) == 1 else f"{cloud}/{region}"
                bare.append(Site(cloud=cloud, region=region, name=name))
        members: dict[str, list[str]] = {}
        for group, spec in self.group_defs.items():
            for site in self._match_all(spec["sites"], bare, f"group '{group}'"):
                members.setdefault(site.name, []).append(group)
        sites = []
        for site in bare:
            own_groups, own_vars = self._cloud_extras(site.cloud)
            groups = list(members.get(site.name, []))
            groups += [g for g in own_groups if g not in groups]
            merged: dict[str, Any] = {}
            for group in self.group_defs:  # declaration order
                if group in groups:
                    merged.update(self.group_defs[group]["vars"])
            merged.update(own_vars)
            sites.append(
                Site(site.cloud, site.region, site.name, groups=tuple(groups), vars=merged)
            )
        return sites

    # -- selectors ---------------------------------------------------------

    @property
    def groups(self) -> dict[str, list[Site]]:
        """Group name → member sites (declared and cloud-listed groups)."""
        out: dict[str, list[Site]] = {g: [] for g in self.group_defs}
        for site in self.sites:
            for group in site.groups:
                out.setdefault(group, []).append(site)
        return out

    def _match_one(self, selector: str, sites: list[Site], allow_groups: bool) -> list[Site]:
        if selector in ("all", "*"):
            return list(sites)
        if allow_groups and selector.startswith("@"):
            group = selector[1:]
            if group not in self.groups:
                raise SelectorError(f"{self.path}: unknown group '{group}'")
            return [s for s in sites if group in s.groups]
        for sep in (":", "/"):
            if sep in selector:
                cloud_pat, region_pat = selector.split(sep, 1)
                return [
                    s
                    for s in sites
                    if fnmatch.fnmatchcase(s.cloud, cloud_pat)
                    and fnmatch.fnmatchcase(s.region or "", region_pat)
                ]
        if any(c in selector for c in "*?["):
            return [
                s
                for s in sites
                if fnmatch.fnmatchcase(s.name, selector) or fnmatch.fnmatchcase(s.cloud, selector)
            ]
        exact = [s for s in sites if s.name == selector or s.cloud == selector]
        if exact or not allow_groups:
            return exact
        if selector in self.groups:
            return [s for s in sites if selector in s.groups]
        return []

    def _match_all(self, selectors: Iterable[str], sites: list[Site], where: str) -> list[Site]:
        chosen: set[str] = set()
        for selector in selectors:
            chosen.update(s.name for s in self._match_one(selector, sites, allow_groups=False))
        return [s for s in sites if s.name in chosen]

    def select(self, selectors: str | Iterable[str] | None = "all") -> list[Site]:
        """Resolve selectors to sites, in clouds.yaml order.

        A selector is ``all``; a cloud name (all its regions); a site name;
        ``cloud:region`` or ``cloud/region`` (either part may be a glob); a glob
        on site or cloud names (``edge-*``); a group (``edge-west`` or
        ``@edge-west``); several of these comma-separated; ``!SEL`` removes
        sites (alone, it removes them from ``all``). A selector that matches
        nothing is an error: a typo must not shrink the fleet silently.
        """
        if selectors is None:
            selectors = ["all"]
        if isinstance(selectors, str):
            selectors = [selectors]
        include: list[str] = []
        exclude: list[str] = []
        for item in selectors:
            for part in str(item).split(","):
                part = part.strip()
                if not part:
                    continue
                (exclude if part.startswith("!") else include).append(part.lstrip("!"))
        if not include:
            include = ["all"]
        if not self.sites:
            raise SelectorError(f"{self.path}: no clouds defined")
        chosen: set[str] = set()
        for selector in include + exclude:
            matched = self._match_one(selector, self.sites, allow_groups=True)
            if not matched:
                raise SelectorError(self._nothing_matches(selector))
            if selector in include:
                chosen.update(s.name for s in matched)
        for selector in exclude:
            chosen.difference_update(
                s.name for s in self._match_one(selector, self.sites, allow_groups=True)
            )
        sites = [s for s in self.sites if s.name in chosen]
        for cloud in dict.fromkeys(s.cloud for s in sites):
            self.check_auth(cloud)
        return sites

    def _nothing_matches(self, selector: str) -> str:
        plain = not any(c in selector for c in "*?[:/@")
        if plain:
            known = ", ".join(list(self._by_cloud)[:5])
            more = ", ..." if len(self._by_cloud) > 5 else ""
            return f"{self.path}: unknown cloud or group '{selector}' (clouds: {known}{more})"
        return f"{self.path}: selector '{selector}' matches no site"

    def check_auth(self, cloud: str) -> None:
        """A cloud with no credentials at all is a config error, not a site state."""
        conf = self._clouds[cloud]
        auth_type = str(conf.get("auth_type") or conf.get("auth_plugin") or "password")
        if auth_type in _AUTHLESS_TYPES or conf.get("profile") or conf.get("cloud"):
            return
        auth = conf.get("auth")
        if not auth:
            raise ConfigError(
                f"{self.path}: cloud '{cloud}': no auth section (clouds.{cloud}.auth)"
            )
        if not isinstance(auth, dict):
            raise ConfigError(
                f"{self.path}: cloud '{cloud}': field clouds.{cloud}.auth must be a mapping"
            )
        if not auth.get("auth_url") and not auth.get("endpoint"):
            raise ConfigError(
                f"{self.path}: cloud '{cloud}': missing auth_url (clouds.{cloud}.auth.auth_url)"
            )

    def site(self, name: str) -> Site:
        return self._by_name[name]

    def cloud_region(self, site: Site) -> Any:
        """openstack.config CloudRegion for a site (may raise for a bad auth plugin)."""
        return self.openstack_config.get_one(cloud=site.cloud, region_name=site.region or "")

    def describe(self, site: Site) -> dict[str, Any]:
        """Auth-free facts about a site, for listings and inventories."""
        conf = self._clouds[site.cloud]
        auth = conf.get("auth") if isinstance(conf.get("auth"), dict) else {}
        return {
            "site": site.name,
            "cloud": site.cloud,
            "region": site.region,
            "groups": list(site.groups),
            "auth_url": auth.get("auth_url"),
            "auth_type": conf.get("auth_type") or "password",
            "vars": dict(site.vars),
        }
