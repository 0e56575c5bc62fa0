"""Deployment specs: load, validate, and render per site.

A spec names the sites, the workload (server sets and Heat stacks) and the
rollout policy (see ``examples/deploy-web.yaml`` and ``docs/deploy.md``).
Validation happens once, before any site is contacted, and every error is one
line naming the file and the field (``web.yaml: servers[0].imagee: unknown
key``). Per-site values (``{{ site.name }}``, ``{{ site.vars.ntp }}``) are
substituted by :func:`render_text`, the one place that knows the template
language, so a shared renderer can replace it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeshade.config import Site
from edgeshade.errors import ConfigError
from edgeshade.rollout import Policy, _seconds

_TOP_KEYS = {"deployment", "version", "sites", "vars", "servers", "stacks", "rollout",
             "health", "timeout", "poll"}
_SERVER_KEYS = {"name", "count", "image", "flavor", "networks", "security_groups", "key_name",
                "user_data", "metadata", "floating_ip", "floating_network", "on_change"}
_STACK_KEYS = {"name", "template", "parameters", "on_change"}
_HEALTH_KEYS = {"status_checks"}
#: Server fields and how a change to each is applied by default.
SERVER_CHANGE_KINDS: dict[str, str] = {
    "image": "rebuild",
    "flavor": "replace",
    "networks": "replace",
    "security_groups": "replace",
    "key_name": "replace",
    "user_data": "in_place",
    "metadata": "in_place",
}
_KINDS = ("rebuild", "replace", "in_place")
#: Metadata keys edgeshade owns on servers (``edgeshade.*`` in user metadata is refused).
OWNER_KEY, VERSION_KEY, SET_KEY, DIGEST_KEY = (
    "edgeshade.deployment", "edgeshade.version", "edgeshade.set", "edgeshade.digest")


# -- rendering (the one swappable function) -----------------------------------------------

_ENV: Any = None


def _env() -> Any:
    global _ENV
    if _ENV is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        _ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                             keep_trailing_newline=True)
    return _ENV


@functools.lru_cache(maxsize=4096)
def compile_text(text: str) -> Any:
    """Parse a template once (syntax errors surface at load time, not per site)."""
    return _env().from_string(text)


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """``{{ site.name }}`` etc. in ``text`` from ``context`` (sandboxed, undefined is an error)."""
    if "{{" not in text and "{%" not in text:
        return text
    return compile_text(text).render(**context)


Renderer = Callable[[str, Mapping[str, Any]], str]


def render_value(value: Any, context: Mapping[str, Any], render: Renderer = render_text) -> Any:
    """Render every string inside ``value`` (dicts, lists, scalars)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context, render) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context, render) for v in value]
    return value


def site_context(site: Site, defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "site": {
            "name": site.name,
            "cloud": site.cloud,
            "region": site.region or "",
            "groups": list(site.groups),
            "vars": {**defaults, **(site.vars or {})},
        }
    }


def digest(value: Any, size: int = 12) -> str:
    """A short stable hash of JSON-able ``value`` (what the plan compares)."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:size]


# -- the spec -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSet:
    """One ``servers:`` entry, unrendered (strings may hold site values)."""

    name: str
    count: int
    image: str
    flavor: str
    networks: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    key_name: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    floating_ip: bool = False
    floating_network: str | None = None
    on_change: dict[str, str] = field(default_factory=dict)

    def kind_of(self, field_name: str) -> str:
        return self.on_change.get(field_name, SERVER_CHANGE_KINDS[field_name])


@dataclass(frozen=True)
class StackSpec:
    """One ``stacks:`` entry: a Heat template (loaded at spec load) and parameters."""

    name: str
    template: dict[str, Any]
    template_path: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """A validated deployment spec (see the module docstring)."""

    name: str
    path: str
    version: str
    sites: tuple[str, ...]
    vars: dict[str, Any]
    servers: tuple[ServerSet, ...]
    stacks: tuple[StackSpec, ...]
    policy: Policy
    status_checks: str | None
    timeout: float
    poll: float
    raw: dict[str, Any]

    @property
    def op(self) -> str:
        """The journal operation of this deployment."""
        return f"deploy:{self.name}"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Spec:
        """Read and validate a YAML spec file (one-line :class:`ConfigError` on any problem)."""
        where = str(path)
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"{where}{line}: YAML syntax error: "
                              f"{(exc.problem or 'invalid YAML').strip()}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: YAML error: {str(exc).splitlines()[0]}") from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
        return cls.from_mapping(data, where)

    @classmethod
    def from_mapping(cls, data: Any, where: str = "spec") -> Spec:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping with 'deployment:' at the top")
        _no_unknown(data, _TOP_KEYS, where)
        name = data.get("deployment")
        if not isinstance(name, str) or not name or not name.replace("-", "").replace(
            "_", "").isalnum():
            raise ConfigError(f"{where}: deployment: expected a name of letters, digits, - and _"
                              f" (got {name!r})")
        sites = data.get("sites", ["all"])
        if isinstance(sites, str):
            sites = [sites]
        if not isinstance(sites, list) or not all(isinstance(s, str) and s for s in sites):
            raise ConfigError(f"{where}: sites: expected a list of selectors")
        defaults = data.get("vars") or {}
        if not isinstance(defaults, Mapping):
            raise ConfigError(f"{where}: vars: expected a mapping")
        base = Path(where).parent
        servers = tuple(_server_set(item, f"{where}: servers[{i}]")
                        for i, item in enumerate(_list(data, "servers", where)))
        stacks = tuple(_stack(item, f"{where}: stacks[{i}]", base)
                       for i, item in enumerate(_list(data, "stacks", where)))
        if not servers and not stacks:
            raise ConfigError(f"{where}: nothing to deploy: add 'servers:' or 'stacks:'")
        _unique([s.name for s in servers] + [s.name for s in stacks], where)
        policy = Policy.from_mapping(data.get("rollout"), f"{where}: rollout")
        health = data.get("health") or {}
        if not isinstance(health, Mapping):
            raise ConfigError(f"{where}: health: expected a mapping")
        _no_unknown(health, _HEALTH_KEYS, f"{where}: health")
        checks = health.get("status_checks")
        if checks is not None:
            from edgeshade.errors import TaskError
            from edgeshade.tasks.status import _parse_checks

            try:
                _parse_checks(checks)
            except TaskError as exc:
                raise ConfigError(f"{where}: health.status_checks: {exc}") from None
        timeout = _seconds(data.get("timeout", 900), f"{where}: timeout")
        poll = _seconds(data.get("poll", 2), f"{where}: poll")
        if poll <= 0 or timeout <= 0:
            raise ConfigError(f"{where}: timeout and poll must be above zero")
        workload = {"servers": data.get("servers"), "stacks": data.get("stacks"),
                    "templates": [s.template for s in stacks], "vars": dict(defaults)}
        version = data.get("version")
        if version is None:
            version = digest(workload, 8)
        elif isinstance(version, bool) or not isinstance(version, str | int | float):
            raise ConfigError(f"{where}: version: expected a string, got {version!r}")
        return cls(
            name=name, path=where, version=str(version), sites=tuple(sites),
            vars=dict(defaults), servers=servers, stacks=stacks, policy=policy,
            status_checks=checks, timeout=timeout, poll=poll, raw=dict(data),
        )


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        sep = "." if ": " in where else ": "
        raise ConfigError(
            f"{where}{sep}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})"
        )


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {key}: expected a list")
    return value


def _unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{where}: two workload entries are named '{n}'")
        seen.add(n)


def _text(item: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: missing required field '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
    text = str(value)
    try:
        compile_text(text)
    except Exception as exc:  # jinja2.TemplateSyntaxError
        raise ConfigError(f"{where}.{key}: template error: {exc}") from None
    return text


def _names(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}.{key}: expected a list of names")
    for v in value:
        _text({key: v}, key, where)
    return tuple(value)


def _server_set(item: Any, where: str) -> ServerSet:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    _no_unknown(item, _SERVER_KEYS, where)
    name = _text(item, "name", where, required=True)
    image = _text(item, "image", where, required=True)
    flavor = _text(item, "flavor", where, required=True)
    count = item.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1000:
        raise ConfigError(f"{where}.count: expected a count from 0 to 1000, got {count!r}")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int | float) for k, v in metadata.items()):
        raise ConfigError(f"{where}.metadata: expected a mapping of strings")
    if any(k.startswith("edgeshade.") for k in metadata):
        raise ConfigError(f"{where}.metadata: keys starting with 'edgeshade.' are reserved")
    for k, v in metadata.items():
        _text({k: str(v)}, k, f"{where}.metadata")
    on_change = item.get("on_change") or {}
    if not isinstance(on_change, Mapping):
        raise ConfigError(f"{where}.on_change: expected a mapping of field: kind")
    for key, kind in on_change.items():
        if key not in SERVER_CHANGE_KINDS:
            raise ConfigError(f"{where}.on_change.{key}: unknown field (known: "
                              f"{', '.join(SERVER_CHANGE_KINDS)})")
        if kind not in _KINDS:
            raise ConfigError(f"{where}.on_change.{key}: expected one of {', '.join(_KINDS)},"
                              f" got {kind!r}")
        if key in ("flavor", "networks", "security_groups", "key_name") and kind != "replace":
            raise ConfigError(f"{where}.on_change.{key}: a {key} change needs 'replace'")
    floating = item.get("floating_ip", False)
    if not isinstance(floating, bool):
        raise ConfigError(f"{where}.floating_ip: expected true or false")
    floating_network = _text(item, "floating_network", where)
    if floating_network is not None and not floating:
        raise ConfigError(f"{where}.floating_network: needs 'floating_ip: true'")
    return ServerSet(
        name=name or "", count=count, image=image or "", flavor=flavor or "",
        networks=_names(item, "networks", where),
        security_groups=_names(item, "security_groups", where),
        key_name=_text(item, "key_name", where), user_data=_text(item, "user_data", where),
        metadata={str(k): str(v) for k, v in metadata.items()}, floating_ip=floating,
        floating_network=floating_network, on_change=dict(on_change),
    )


def _stack(item: Any, where: str, base: Path) -> StackSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    _no_unknown(item, _STACK_KEYS, where)
    name = _text(item, "name", where, required=True) or ""
    template = _text(item, "template", where, required=True) or ""
    path = Path(template) if os.path.isabs(template) else base / template
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}.template: cannot read {path}: {exc.strerror or exc}"
                          ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}.template: {path}: YAML error: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(loaded, Mapping) or "heat_template_version" not in loaded:
        raise ConfigError(f"{where}.template: {path} is not a Heat template "
                          "(no heat_template_version)")
    params = item.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.parameters: expected a mapping")
    declared = set((loaded.get("parameters") or {}).keys())
    for key in params:
        if key not in declared:
            raise ConfigError(f"{where}.parameters.{key}: not a parameter of {path.name} "
                              f"(declared: {', '.join(sorted(declared)) or 'none'})")
        if isinstance(params[key], str):
            _text(params, key, f"{where}.parameters")
    # As JSON, the way Heat receives it (heat_template_version: 2021-04-16 is a string there).
    loaded = json.loads(json.dumps(loaded, default=str))
    return StackSpec(name=name, template=dict(loaded), template_path=str(path),
                     parameters=dict(params))


# -- per-site rendering ---------------------------------------------------------------------


@dataclass(frozen=True)
class WantedServer:
    """One server a site should run, fully rendered."""

    set: str
    name: str
    image: str
    flavor: str
    networks: tuple[str, ...]
    security_groups: tuple[str, ...]
    key_name: str | None
    user_data: str | None
    metadata: dict[str, str]
    floating_ip: bool
    floating_network: str | None
    kinds: dict[str, str]


@dataclass(frozen=True)
class WantedStack:
    name: str
    template: dict[str, Any]
    parameters: dict[str, Any]

    @property
    def digest(self) -> str:
        return digest({"t": self.template, "p": self.parameters})


@dataclass(frozen=True)
class Wanted:
    """What one site should run under this spec."""

    servers: tuple[WantedServer, ...]
    stacks: tuple[WantedStack, ...]


def render_site(spec: Spec, site: Site, render: Renderer = render_text) -> Wanted:
    """The spec with ``site``'s values substituted; one-line ConfigError naming the field."""
    ctx = site_context(site, spec.vars)
    servers: list[WantedServer] = []
    for i, ss in enumerate(spec.servers):
        where = f"{spec.path}: servers[{i}]"
        for n in range(1, ss.count + 1):
            c = {**ctx, "index": n}
            name = _render(ss.name, c, f"{where}.name", site, render)
            if ss.count > 1 and "index" not in ss.name:
                name = f"{name}-{n}"
            servers.append(WantedServer(
                set=ss.name, name=name,
                image=_render(ss.image, c, f"{where}.image", site, render),
                flavor=_render(ss.flavor, c, f"{where}.flavor", site, render),
                networks=tuple(_render(x, c, f"{where}.networks", site, render)
                               for x in ss.networks),
                security_groups=tuple(_render(x, c, f"{where}.security_groups", site, render)
                                      for x in ss.security_groups),
                key_name=_render(ss.key_name, c, f"{where}.key_name", site, render)
                if ss.key_name else None,
                user_data=_render(ss.user_data, c, f"{where}.user_data", site, render)
                if ss.user_data else None,
                metadata={k: _render(v, c, f"{where}.metadata.{k}", site, render)
                          for k, v in ss.metadata.items()},
                floating_ip=ss.floating_ip,
                floating_network=_render(ss.floating_network, c, f"{where}.floating_network",
                                         site, render) if ss.floating_network else None,
                kinds={f: ss.kind_of(f) for f in SERVER_CHANGE_KINDS},
            ))
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{spec.path}: servers: two servers at {site.name} are named '{dup}'"
                          " (use {{ index }} in the name)")
    stacks = []
    for i, st in enumerate(spec.stacks):
        where = f"{spec.path}: stacks[{i}]"
        stacks.append(WantedStack(
            name=_render(st.name, ctx, f"{where}.name", site, render),
            template=st.template,
            parameters={k: _render(v, ctx, f"{where}.parameters.{k}", site, render)
                        if isinstance(v, str) else v for k, v in st.parameters.items()},
        ))
    return Wanted(tuple(servers), tuple(stacks))


def _render(text: str, ctx: Mapping[str, Any], where: str, site: Site, render: Renderer) -> str:
    try:
        return render(text, ctx)
    except Exception as exc:  # jinja2.UndefinedError, SecurityError...
        raise ConfigError(f"{where}: at site {site.name}: {exc}") from None
