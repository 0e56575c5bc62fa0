"""Render once: a configuration baseline for thousands of sites at the cost of a few.

A baseline is YAML whose string values may be Jinja2 expressions. Sites differ
in a few values only (a CIDR, a name, a secret), so rendering the whole
template per site (40,000 times) wastes nearly all the work. Here the file is
parsed once and every templated value is sorted by what it reads:

* values that read only the baseline's own ``vars:`` are **shared**: rendered
  once, when the baseline loads;
* values that read ``site`` (``site.name``, ``site.region``, ``site.cloud``,
  ``site.groups``, ``site.vars.*``) or call ``secret(NAME)`` are **site
  fields**: compiled once, evaluated per site.

A rendered site is the shared tree plus the values of its site fields
(:class:`SiteConfig`); its content hash is the shared part's hash (computed
once) combined with those values, so hashing 40,000 sites costs 40,000 small
digests. :attr:`Baseline.stats` counts both kinds of renders (the tests prove
the shared part renders once).

Secrets: ``{{ secret('db_password') }}`` names a value kept in secure.yaml,
either per cloud (``clouds.<cloud>.edgeshade.secrets.<name>``) or fleet-wide
(top-level ``edgeshade: {secrets: {<name>: ...}}``). Rendering only checks the
name exists for the site and keeps a :class:`SecretRef`; the value is read at
the moment an API call needs it, so it never enters a hash, the state store,
a diff, a log line or an error. (Keystone cannot show a password back, so a
secret is set when its resource is created and never diffed.)

Errors are one line naming the file and line: Jinja syntax errors, unknown
resource types or fields, a site value a site does not have (naming the site
and the variable), an undefined secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from edgeshade.errors import ConfigError

#: Top-level keys of a baseline file.
TOP_KEYS = ("name", "description", "vars", "prune", "rollout", "resources")
#: Names a template may read that make it a per-site field.
SITE_NAMES = frozenset({"site", "secret"})
#: Attributes of ``site`` a template may read.
SITE_ATTRS = ("name", "cloud", "region", "groups", "vars")

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class BaselineError(ConfigError):
    """A baseline that cannot be rendered: one line naming file, line and what is wrong."""


@dataclass(frozen=True)
class SecretRef:
    """A secret by name: what a rendered config holds instead of the value."""

    name: str

    def __repr__(self) -> str:  # never the value: there is none here
        return f"secret({self.name!r})"

    def to_json(self) -> dict[str, str]:
        return {"secret": self.name}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return value.to_json()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def content_hash(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (secrets as their names)."""
    return hashlib.sha256(_canonical(value).encode()).hexdigest()


# -- parsing with line numbers -------------------------------------------------------


@dataclass
class _Scalar:
    """A string scalar holding a template, with its line in the file (1-based)."""

    text: str
    line: int


def _compose(text: str, path: str) -> Any:
    """YAML -> plain data, templated strings as :class:`_Scalar` (keeps their line)."""
    try:
        loader = _SafeLoader(text)
        loader.name = path
        try:
            node = loader.get_single_node()
            if node is None:
                return {}
            return _build(loader, node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        hint = ""
        if "{" in (exc.problem or "") or "found character" in problem:
            hint = " (quote values that start with '{{')"
        raise BaselineError(f"{where}: YAML syntax error: {problem}{hint}") from None
    except yaml.YAMLError as exc:
        raise BaselineError(f"{path}: YAML error: {str(exc).splitlines()[0]}") from None


def _build(loader: Any, node: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # {{ x }} unquoted: a flow mapping
                raise BaselineError(
                    f"{loader.name}:{key_node.start_mark.line + 1}: a key that is not a plain "
                    "value; quote Jinja expressions (\"{{ site.name }}\")"
                )
            key = loader.construct_object(key_node, deep=True)
            out[str(key)] = _build(loader, value_node)
        out["__line__"] = node.start_mark.line + 1  # removed by the schema check
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item) for item in node.value]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return _Scalar(value, node.start_mark.line + 1)
    return value


# -- the Jinja side -------------------------------------------------------------------


def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.nativetypes import NativeEnvironment

    class _Undefined(StrictUndefined):
        """A missing ``site.vars.X`` names itself; ``| default(...)`` still works."""

        def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
            if isinstance(self._undefined_obj, _Vars):
                raise _Missing(f"site.vars.{self._undefined_name}")
            return super()._fail_with_undefined_error(*args, **kwargs)

        __str__ = __iter__ = __len__ = __bool__ = __eq__ = __ne__ = __hash__ = (  # type: ignore
            _fail_with_undefined_error
        )
        __add__ = __radd__ = __getitem__ = __lt__ = __le__ = __gt__ = __ge__ = (  # type: ignore
            _fail_with_undefined_error
        )

    return NativeEnvironment(undefined=_Undefined, keep_trailing_newline=False)


def _site_chains(ast: Any) -> set[tuple[str, ...]]:
    """Static ``site.a.b`` attribute chains read by a template (``site.vars.cidr``)."""
    from jinja2 import nodes

    chains: set[tuple[str, ...]] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        parts: list[str] = []
        cur = node
        while isinstance(cur, nodes.Getattr | nodes.Getitem):
            if isinstance(cur, nodes.Getattr):
                parts.append(cur.attr)
            elif isinstance(cur.arg, nodes.Const) and isinstance(cur.arg.value, str):
                parts.append(cur.arg.value)
            else:
                parts = []
                break
            cur = cur.node
        if parts and isinstance(cur, nodes.Name) and cur.name == "site":
            chains.add(tuple(reversed(parts)))
    # keep the longest chains only: site.vars.cidr implies site.vars
    return {c for c in chains if not any(o != c and o[: len(c)] == c for o in chains)}


def _secret_names(ast: Any) -> set[str]:
    from jinja2 import nodes

    names = set()
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "secret":
            if call.args and isinstance(call.args[0], nodes.Const):
                names.add(str(call.args[0].value))
    return names


@dataclass
class Field:
    """A value that reads site values: compiled once, evaluated per site."""

    index: int
    path: tuple[Any, ...]
    line: int
    template: Any
    chains: frozenset[tuple[str, ...]]
    secrets: frozenset[str]


class _Missing(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


class _Vars(dict):  # type: ignore[type-arg]
    """``site.vars``: a missing key names itself (see ``_Undefined``)."""

    __slots__ = ()


class _SiteView:
    __slots__ = ("name", "cloud", "region", "groups", "vars")

    def __init__(self, site: Any) -> None:
        self.name = site.name
        self.cloud = site.cloud
        self.region = site.region
        self.groups = list(getattr(site, "groups", ()) or ())
        self.vars = _Vars(getattr(site, "vars", {}) or {})


class _SecretMarker(str):
    """What ``secret(name)`` renders to; turned into a SecretRef after rendering."""

    __slots__ = ()


def _secret_marker(name: str) -> str:
    return _SecretMarker(f"\x00secret:{name}\x00")


# -- the baseline -------------------------------------------------------------------


@dataclass
class SiteConfig:
    """One site's rendered baseline: the shared tree plus its own field values."""

    site: str
    hash: str
    values: tuple[Any, ...]
    baseline: Baseline = field(repr=False)

    @property
    def resources(self) -> dict[str, list[dict[str, Any]]]:
        """The full desired resources of this site (built on demand)."""
        return self.baseline.materialize(self.values)

    @property
    def version(self) -> int:
        return self.baseline.version


class Baseline:
    """A parsed baseline file; :meth:`render` evaluates its site fields per site.

    >>> base = Baseline.load("baseline.yaml")
    >>> rendered = base.render(fleet.sites, secrets=lambda site: {...})
    >>> rendered["edge-00042"].hash, rendered["edge-00042"].resources["flavors"]
    """

    def __init__(self, path: str, text: str, *, types: Mapping[str, Any] | None = None) -> None:
        from edgeshade.baseline.schema import TYPES, check_resources

        self.path = path
        self.file_hash = hashlib.sha256(text.encode()).hexdigest()
        self.version = 0  # set by the state store (edgeshade.baseline.store.register)
        self.stats = {"shared_renders": 0, "site_renders": 0, "sites": 0}
        self._stats_lock = threading.Lock()
        self._env = _environment()
        data = _compose(text, path)
        if not isinstance(data, dict):
            raise BaselineError(f"{path}: top level must be a mapping with 'resources'")
        data.pop("__line__", None)
        unknown = [k for k in data if k not in TOP_KEYS]
        if unknown:
            raise BaselineError(
                f"{path}: unknown top-level key '{unknown[0]}' (known: {', '.join(TOP_KEYS)})"
            )
        self.name = str(data.get("name") or os.path.splitext(os.path.basename(path))[0])
        self.description = data.get("description") or ""
        self.prune = bool(data.get("prune", False))
        self.vars = _strip_lines(data.get("vars") or {})
        if not isinstance(self.vars, dict):
            raise BaselineError(f"{path}: field 'vars' must be a mapping")
        if any(_has_template(v) for v in _walk_values(self.vars)):
            raise BaselineError(f"{path}: field 'vars' holds plain values, not templates")
        self.rollout = _strip_lines(data.get("rollout") or {})
        resources = data.get("resources")
        if resources is None:
            raise BaselineError(f"{path}: missing 'resources'")
        check_resources(path, resources, types or TYPES)
        self.fields: list[Field] = []
        self.shared = self._prepare(resources, ())
        self.shared_hash = content_hash(self.shared)
        self.types = [t for t in (types or TYPES) if t in self.shared]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Baseline:
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:
            raise BaselineError(f"{path}: not a UTF-8 text file") from None
        except OSError as exc:
            raise BaselineError(f"{path}: cannot read baseline: {exc.strerror}") from None
        return cls(path, text)

    @property
    def op(self) -> str:
        """The journal operation of this baseline (``config:<name>``)."""
        return f"config:{self.name}"

    # -- render once ---------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _prepare(self, node: Any, path: tuple[Any, ...]) -> Any:
        """Shared tree: shared templates rendered now, site fields replaced by markers."""
        if isinstance(node, dict):
            return {k: self._prepare(v, (*path, k)) for k, v in node.items() if k != "__line__"}
        if isinstance(node, list):
            return [self._prepare(v, (*path, i)) for i, v in enumerate(node)]
        if not isinstance(node, _Scalar):
            return node
        from jinja2 import TemplateSyntaxError, meta

        try:
            ast = self._env.parse(node.text)
        except TemplateSyntaxError as exc:
            line = node.line + (exc.lineno or 1) - 1
            raise BaselineError(f"{self.path}:{line}: Jinja syntax error: {exc.message}") from None
        names = meta.find_undeclared_variables(ast)
        if names & SITE_NAMES:
            chains = _site_chains(ast)
            for chain in chains:
                if chain[0] not in SITE_ATTRS:
                    raise BaselineError(
                        f"{self.path}:{node.line}: unknown site value 'site.{chain[0]}' "
                        f"(known: {', '.join('site.' + a for a in SITE_ATTRS)})"
                    )
            fld = Field(len(self.fields), path, node.line, self._env.from_string(ast),
                        frozenset(chains), frozenset(_secret_names(ast)))
            self.fields.append(fld)
            return {"__field__": fld.index}
        unknown = sorted(n for n in names if n not in self.vars)
        if unknown:
            raise BaselineError(
                f"{self.path}:{node.line}: undefined variable '{unknown[0]}' "
                "(define it under 'vars:' or use site.vars.*)"
            )
        self._count("shared_renders")
        return self._evaluate(self._env.from_string(ast), dict(self.vars), node.line, None)

    def _evaluate(self, template: Any, context: dict[str, Any], line: int,
                  site: str | None, shared_ctx: Any = None) -> Any:
        """One template's value; ``shared_ctx``: a Jinja context reused for a site's fields
        (one context per site instead of one per field: a third of the per-site cost)."""
        from jinja2 import TemplateError, Undefined, UndefinedError

        try:
            if shared_ctx is None:
                value = template.render(context)
            else:  # what NativeTemplate.render does, minus building a new context
                value = self._env.concat(template.root_render_func(shared_ctx))
            if isinstance(value, Undefined):
                str(value)  # raises: a lone undefined value is returned, not rendered
        except _Missing as exc:
            raise BaselineError(
                f"{self._where(line, site)}: undefined site value '{exc.what}' (set it in the "
                "site's or a group's vars in clouds.yaml)"
            ) from None
        except UndefinedError as exc:
            raise BaselineError(f"{self._where(line, site)}: undefined value: {exc.message}"
                                ) from None
        except TemplateError as exc:
            raise BaselineError(f"{self._where(line, site)}: template error: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a filter failing on a value: still one line
            raise BaselineError(
                f"{self._where(line, site)}: template error: {type(exc).__name__}: {exc}"
            ) from None
        return _unsecret(value)

    def _where(self, line: int, site: str | None) -> str:
        return f"{self.path}:{line}" + (f": site '{site}'" if site else "")

    def render_site(self, site: Any, secrets: Iterable[str] = ()) -> SiteConfig:
        """Evaluate the site fields for ``site``; ``secrets``: names the site has."""
        from jinja2.runtime import new_context

        view = _SiteView(site)
        known = set(secrets)
        context = dict(self.vars)
        context["site"] = view
        context["secret"] = _secret_marker
        ctx = new_context(self._env, None, {}, context, False, self._env.globals, None)
        values = []
        for fld in self.fields:
            for name in fld.secrets:
                if name not in known:
                    raise BaselineError(
                        f"{self.path}:{fld.line}: site '{view.name}': secret '{name}' is not "
                        "defined in secure.yaml (clouds.<cloud>.edgeshade.secrets or "
                        "edgeshade.secrets)"
                    )
            values.append(self._evaluate(fld.template, context, fld.line, view.name, ctx))
        self._count("site_renders", len(self.fields))
        self._count("sites")
        values_t = tuple(values)
        digest = self.shared_hash if not values_t else hashlib.sha256(
            (self.shared_hash + _canonical(values_t)).encode()
        ).hexdigest()
        return SiteConfig(view.name, digest, values_t, self)

    def render(
        self, sites: Iterable[Any], secrets: Callable[[Any], Iterable[str]] | None = None
    ) -> dict[str, SiteConfig]:
        """Every site's config (by site name); the first bad site raises a one-line error."""
        out = {}
        for site in sites:
            names = secrets(site) if secrets is not None else ()
            out[site.name] = self.render_site(site, names)
        return out

    def materialize(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The full tree with ``values`` in place of the field markers."""
        def fill(node: Any) -> Any:
            if isinstance(node, dict):
                if len(node) == 1 and "__field__" in node:
                    return values[node["__field__"]]
                return {k: fill(v) for k, v in node.items()}
            if isinstance(node, list):
                return [fill(v) for v in node]
            return node

        return fill(self.shared)

    def render_naive(self, site: Any, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """Every template evaluated for one site (the per-site full render the benchmark
        compares against; also a cross-check that render-once gives the same result)."""
        del secrets
        context = dict(self.vars)
        context["site"] = _SiteView(site)
        context["secret"] = _secret_marker
        with open(self.path, encoding="utf-8") as fh:
            data = _compose(fh.read(), self.path)

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items() if k != "__line__"}
            if isinstance(node, list):
                return [walk(v) for v in node]
            if isinstance(node, _Scalar):
                return self._evaluate(self._env.from_string(node.text), context, node.line,
                                      site.name)
            return node

        return walk(data.get("resources") or {})


def _unsecret(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("\x00secret:") and value.endswith("\x00"):
        name = value[len("\x00secret:"):-1]
        if "\x00" not in name:
            return SecretRef(name)
    if isinstance(value, str) and "\x00secret:" in value:
        raise ConfigError("secret(...) must be the whole value of a field, not part of a string")
    return value


def _strip_lines(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_lines(v) for k, v in node.items() if k != "__line__"}
    if isinstance(node, list):
        return [_strip_lines(v) for v in node]
    return node


def _walk_values(node: Any) -> Iterable[Any]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk_values(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk_values(v)
    else:
        yield node


def _has_template(value: Any) -> bool:
    return isinstance(value, _Scalar)
