"""Pin the public API, as httpx's tests/test_exported_members.py does.

Adding or removing a public name is an API change: it must show up here.
"""

from __future__ import annotations

import types

import edgeshade
from edgeshade import errors

PUBLIC_API = [
    "Baseline",
    "ConfigError",
    "EdgeshadeError",
    "Fleet",
    "FleetConfig",
    "FleetResult",
    "MalformedResponse",
    "SelectorError",
    "Site",
    "SiteAuthFailed",
    "SiteCancelled",
    "SiteConnection",
    "SiteError",
    "SiteResult",
    "SiteTimedOut",
    "SiteUnreachable",
    "State",
    "TaskError",
    "__version__",
    "connect",
    "task",
]


def test_all_is_pinned_and_sorted() -> None:
    assert edgeshade.__all__ == PUBLIC_API
    assert edgeshade.__all__ == sorted(edgeshade.__all__)


def test_all_imports_are_exported() -> None:
    """Every public non-module name in the package namespace is in __all__, and exists."""
    public = sorted(
        name
        for name, value in vars(edgeshade).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)
    )
    assert public == edgeshade.__all__
    for name in edgeshade.__all__:
        assert getattr(edgeshade, name) is not None, name


def test_exported_objects_are_the_implementations() -> None:
    from edgeshade.fleet import Fleet, connect
    from edgeshade.results import FleetResult
    from edgeshade.tasks import task

    assert (edgeshade.Fleet, edgeshade.connect, edgeshade.FleetResult, edgeshade.task) == (
        Fleet, connect, FleetResult, task,
    )


def test_version_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    assert edgeshade.__version__ == version("edgeshade")


def test_exception_tree_as_documented() -> None:
    """The tree drawn in edgeshade.errors' docstring: one class catches everything."""
    tree = {
        errors.ConfigError: errors.EdgeshadeError,
        errors.SelectorError: errors.ConfigError,
        errors.TaskError: errors.EdgeshadeError,
        errors.SiteError: errors.EdgeshadeError,
        errors.SiteUnreachable: errors.SiteError,
        errors.SiteAuthFailed: errors.SiteError,
        errors.SiteTimedOut: errors.SiteError,
        errors.SiteCancelled: errors.SiteError,
        errors.MalformedResponse: errors.SiteError,
    }
    for cls, parent in tree.items():
        assert cls.__bases__ == (parent,), cls
        assert getattr(edgeshade, cls.__name__) is cls
    assert errors.EdgeshadeError.__bases__ == (Exception,)
    for cls in tree:
        assert cls.__name__ in errors.__doc__
