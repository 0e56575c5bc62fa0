"""Task registry.

A task is a plain function ``(conn, site, **params) -> mapping | None`` that
knows nothing about concurrency, deadlines or other sites. What it returns
becomes the site's ``data``; the reserved keys ``state``, ``reason`` and
``hint`` set the site's state (default ``ok``). Raising ends the site in the
state :func:`edgeshade.classify.classify` picks.

Register your own with the decorator and run it by name or by object::

    @edgeshade.task
    def flavors(conn, site, min_ram=0):
        found = conn.get("compute", "/flavors/detail")["flavors"]
        return {"count": sum(f["ram"] >= min_ram for f in found)}

    edgeshade.connect("edge-*").run("flavors", min_ram=2048)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar, overload

from edgeshade.errors import TaskError

TaskFn = Callable[..., Any]
F = TypeVar("F", bound=TaskFn)

_REGISTRY: dict[str, TaskFn] = {}
_BUILTIN_MODULES = ("edgeshade.tasks.status", "edgeshade.tasks.info")


@overload
def task(fn: F, /) -> F: ...
@overload
def task(*, name: str | None = None) -> Callable[[F], F]: ...


def task(fn: TaskFn | None = None, /, *, name: str | None = None) -> Any:
    """Register ``fn`` as a fleet task under ``name`` (default: the function name)."""

    def register(func: F) -> F:
        task_name = name or func.__name__
        func.task_name = task_name  # type: ignore[attr-defined]
        _REGISTRY[task_name] = func
        return func

    return register(fn) if fn is not None else register


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def get_task(ref: str | TaskFn) -> TaskFn:
    """A task by object, registered name, or import path ``pkg.module:function``."""
    if callable(ref):
        return ref
    _load_builtins()
    if ref in _REGISTRY:
        return _REGISTRY[ref]
    if ":" in ref or "." in ref:
        module_name, _, attr = ref.rpartition(":") if ":" in ref else ref.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise TaskError(f"task '{ref}': cannot import {module_name}: {exc}") from None
        if ref in _REGISTRY:
            return _REGISTRY[ref]
        fn = getattr(module, attr, None)
        if callable(fn):
            return fn
        raise TaskError(f"task '{ref}': {module_name} has no callable '{attr}'")
    known = ", ".join(sorted(_REGISTRY)) or "none"
    raise TaskError(f"unknown task '{ref}' (registered: {known})")


def registered() -> dict[str, TaskFn]:
    _load_builtins()
    return dict(_REGISTRY)


def task_name(fn: TaskFn) -> str:
    return getattr(fn, "task_name", getattr(fn, "__name__", repr(fn)))
