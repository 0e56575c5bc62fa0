"""Task registry: the decorator, lookup by name and by import path, clear errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

import edgeshade
from edgeshade.errors import TaskError
from edgeshade.tasks import get_task, registered, task_name


@pytest.fixture(autouse=True)
def _private(private_registry) -> None:
    """Tasks registered here must not leak into other tests."""


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> str:
    """An importable module ``es_user_tasks`` with a plain function and a registered task."""
    (tmp_path / "es_user_tasks.py").write_text(textwrap.dedent("""
        import edgeshade

        def plain(conn, site):
            return {"plain": True}

        @edgeshade.task(name="user_registered")
        def registered_here(conn, site):
            return None

        not_callable = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "es_user_tasks", raising=False)  # import it afresh
    return "es_user_tasks"


def test_bare_decorator_registers_under_the_function_name() -> None:
    @edgeshade.task
    def flavors(conn, site):
        return None

    assert get_task("flavors") is flavors
    assert flavors.task_name == "flavors" and task_name(flavors) == "flavors"


def test_decorator_with_a_name() -> None:
    @edgeshade.task(name="custom-name")
    def anything(conn, site):
        return None

    assert get_task("custom-name") is anything
    assert task_name(anything) == "custom-name"
    with pytest.raises(TaskError):
        get_task("anything")


def test_builtin_tasks_are_registered_lazily() -> None:
    from edgeshade.tasks.info import site_facts
    from edgeshade.tasks.status import status

    assert get_task("status") is status
    assert {"status", "site_facts"} <= set(registered())
    assert registered()["site_facts"] is site_facts


def test_a_callable_is_its_own_task() -> None:
    def unregistered(conn, site):
        return None

    assert get_task(unregistered) is unregistered
    assert task_name(unregistered) == "unregistered"


def test_import_path_with_colon_and_with_dot(user_module) -> None:
    plain = get_task(f"{user_module}:plain")
    assert plain.__name__ == "plain" and plain(None, None) == {"plain": True}
    assert get_task(f"{user_module}.plain") is plain
    assert get_task("edgeshade.tasks.status:status") is get_task("status")


def test_importing_a_module_registers_its_tasks(user_module) -> None:
    with pytest.raises(TaskError):
        get_task("user_registered")
    get_task(f"{user_module}:plain")
    assert get_task("user_registered").__name__ == "registered_here"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "unknown task 'nope' (registered: "),
        ("no_such_module_xyz:fn", "task 'no_such_module_xyz:fn': cannot import no_such_module_xyz"),
        ("es_user_tasks:missing", "es_user_tasks has no callable 'missing'"),
        ("es_user_tasks:not_callable", "es_user_tasks has no callable 'not_callable'"),
    ],
)
def test_bad_task_references(user_module, ref, message) -> None:
    with pytest.raises(TaskError) as err:
        get_task(ref)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_task_lists_what_is_registered() -> None:
    with pytest.raises(TaskError, match=r"registered: .*status"):
        get_task("nope")
