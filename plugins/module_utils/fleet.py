# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The one base of every edgeshade.cloud module: module params -> one library call -> plain data.

Why one base: every module of the collection has the same shape (select sites, run one task on
each, report per-site results), so the shared options, the library import check, error mapping,
the failure policy, check mode and diff live here once. A module is its argument spec, its docs
and the task it runs (openstack.cloud's ``OpenStackModule`` is the model; ours holds no service
logic at all because the library's tasks do)::

    class FleetStatusModule(FleetModule):
        task = "status"
        read_only = True
        argument_spec = dict(checks=dict(type="list", elements="str"))

    def main():
        FleetStatusModule()()

Conventions a task can follow (all optional), so that later modules (deploy, config, images)
get check and diff mode for free:

* accept a ``dry_run`` keyword: in check mode the task is called with ``dry_run=True`` and
  returns its plan instead of changing anything. A changing task without ``dry_run`` is not run
  in check mode; the module returns the sites it would run on and ``skipped``.
* return ``changed`` (bool): the module's ``changed`` is true when any site's is.
* return ``diff`` (``{"before": ..., "after": ...}``): shown per site with ``--diff``.

Per-site failures are data: the module fails only when the user's policy says so
(``max_fail_percentage`` over ``fail_states``), when the configuration or a selector is wrong,
or when the run was cancelled.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
import tempfile
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import edgeshade
    from edgeshade.tasks import get_task, task_name
except ImportError:
    HAS_EDGESHADE = False
    EDGESHADE_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_EDGESHADE = True
    EDGESHADE_IMPORT_ERROR = None

#: Every site state (edgeshade.State), for ``fail_states`` choices without importing the library.
STATES = (
    "ok",
    "warning",
    "critical",
    "unreachable",
    "auth_failed",
    "timed_out",
    "error",
    "cancelled",
    "skipped",
    "deferred",
)
#: States that mean "this site did not do its job" unless the user says otherwise.
DEFAULT_FAIL_STATES = ["critical", "unreachable", "auth_failed", "timed_out", "error"]

#: Options every module has (documented in doc_fragments/fleet.py).
FLEET_ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    sites=dict(type="list", elements="str", default=["all"], aliases=["clouds", "selectors"]),
    config_file=dict(type="path", aliases=["clouds_yaml"]),
    secure_file=dict(type="path"),
    secrets=dict(type="dict", no_log=True),
    concurrency=dict(type="int"),
    processes=dict(type="int"),
    timeout=dict(type="float"),
    retries=dict(type="int"),
    state_dir=dict(type="path"),
    use_state=dict(type="bool", default=True),
    token_cache=dict(type="bool", default=False, no_log=False),
    max_fail_percentage=dict(type="float"),
    fail_states=dict(
        type="list", elements="str", choices=list(STATES), default=DEFAULT_FAIL_STATES
    ),
)
FLEET_MUTUALLY_EXCLUSIVE = [["secure_file", "secrets"]]


def connect_kwargs(params: dict[str, Any], secure_file: str | None = None) -> dict[str, Any]:
    """Keyword arguments of ``edgeshade.connect`` from module params (unset ones left out).

    Leaving unset options out keeps the library's defaults the only defaults.
    """
    kwargs: dict[str, Any] = {
        "config_file": params.get("config_file"),
        "secure_file": secure_file or params.get("secure_file"),
        "use_state": params.get("use_state", True),
        "token_cache": params.get("token_cache", False),
    }
    for key in ("concurrency", "processes", "timeout", "retries", "state_dir"):
        if params.get(key) is not None:
            kwargs[key] = params[key]
    return kwargs


def fail_policy(
    sites: list[dict[str, Any]],
    max_fail_percentage: float | None,
    fail_states: list[str] | None = None,
) -> tuple[bool, list[str], float, str]:
    """Apply the user's failure policy to per-site results.

    Returns ``(failed, failed_site_names, percentage, message)``. Like Ansible's own
    ``max_fail_percentage``, the limit must be *exceeded*: 0 fails on any failed site and
    ``None`` never fails (the default: per-site failures are data).
    """
    wanted = set(DEFAULT_FAIL_STATES if fail_states is None else fail_states)
    failed_sites = [s["site"] for s in sites if s["state"] in wanted]
    percentage = round(100.0 * len(failed_sites) / len(sites), 2) if sites else 0.0
    failed = max_fail_percentage is not None and percentage > max_fail_percentage
    message = ""
    if failed:
        message = (
            f"{len(failed_sites)} of {len(sites)} sites failed ({percentage:g}% > "
            f"max_fail_percentage {max_fail_percentage:g}): {', '.join(failed_sites[:10])}"
            + (", ..." if len(failed_sites) > 10 else "")
        )
    return failed, failed_sites, percentage, message


def site_diffs(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ansible diff entries from the ``diff`` each site's task returned, headed by site name."""
    diffs = []
    for site in sites:
        diff = (site.get("data") or {}).get("diff")
        if isinstance(diff, dict) and ("before" in diff or "after" in diff):
            diffs.append(
                {
                    "before_header": f"{site['site']} (before)",
                    "after_header": f"{site['site']} (after)",
                    "before": diff.get("before", ""),
                    "after": diff.get("after", ""),
                }
            )
    return diffs


def accepts_dry_run(fn: Any) -> bool:
    """Whether a task plans itself in check mode (it has a ``dry_run`` parameter)."""
    try:
        return "dry_run" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class FleetModuleError(Exception):
    """Raised by a module's hooks to fail the task with this message (no traceback)."""


class _Warnings(logging.Handler):
    """Collects the library's warnings (e.g. a world-readable secure.yaml) for ``module.warn``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _secure_file(secrets: dict[str, Any] | None):
    """``secrets`` as a private (0600) secure.yaml for the run; removed afterwards."""
    if not secrets:
        yield None
        return
    import yaml  # ansible-core depends on PyYAML

    document = secrets if "clouds" in secrets else {"clouds": secrets}
    fd, path = tempfile.mkstemp(prefix="edgeshade-secure-", suffix=".yaml")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(document, fh)
        yield path
    finally:
        os.unlink(path)


class FleetModule:
    """Base of the collection's modules: subclass, set ``task`` and ``argument_spec``, call it.

    Override :meth:`task_params` to turn module options into task keywords,
    :meth:`shape` to add module-specific keys to the result, and :meth:`call`
    when the module wraps a library operation rather than one task.
    """

    #: Task name (``status``), import path (``pkg.module:function``) or callable.
    task: Any = None
    #: This module's own options; the shared ones are added by the base.
    argument_spec: dict[str, dict[str, Any]] = {}
    #: Extra AnsibleModule keywords (``required_if``, ``mutually_exclusive``...).
    module_kwargs: dict[str, Any] = {}
    #: A read-only task runs in check mode as usual and never reports ``changed``.
    read_only = False

    def __init__(self) -> None:
        spec = dict(FLEET_ARGUMENT_SPEC)
        spec.update(self.argument_spec)
        kwargs = dict(self.module_kwargs)
        kwargs["mutually_exclusive"] = FLEET_MUTUALLY_EXCLUSIVE + kwargs.get(
            "mutually_exclusive", []
        )
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
        self.params = self.module.params

    # -- hooks for modules -------------------------------------------------

    def task_ref(self) -> Any:
        """The task to run; default the ``task`` attribute (a function stays unbound)."""
        ref = inspect.getattr_static(self, "task")
        return ref.__func__ if isinstance(ref, staticmethod) else ref

    def task_params(self) -> dict[str, Any]:
        """Keyword arguments for the task; default none."""
        return {}

    def select(self, fleet: Any) -> Any:
        """The fleet to run on; default every site ``sites`` selected."""
        return fleet

    def shape(self, result: dict[str, Any], fleet: Any) -> dict[str, Any]:
        """Add module-specific keys to the plain result; default unchanged."""
        return result

    # -- the one library call -----------------------------------------------

    def __call__(self) -> None:
        if not HAS_EDGESHADE:
            self.module.fail_json(
                msg=missing_required_lib(
                    "edgeshade",
                    reason="on the Python that runs the module (ansible_python_interpreter)",
                ),
                exception=EDGESHADE_IMPORT_ERROR,
            )
        warnings = _Warnings()
        logger = logging.getLogger("edgeshade")
        logger.addHandler(warnings)
        result: dict[str, Any] = {}
        try:
            # A module's stdout is its JSON result: nothing else may be printed there.
            with contextlib.redirect_stdout(sys.stderr):
                result = self._run()
        except (edgeshade.EdgeshadeError, FleetModuleError) as exc:
            result = {"failed": True, "msg": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a bug must still end as a task failure
            result = {
                "failed": True,
                "msg": f"{type(exc).__name__}: {exc}",
                "exception": traceback.format_exc(),
            }
        finally:
            logger.removeHandler(warnings)
        for message in warnings.messages:
            self.module.warn(message)
        if result.pop("failed", False):
            self.module.fail_json(**result)
        self.module.exit_json(**result)

    def call(self, fleet: Any) -> Any:
        """The one library call on ``fleet``: a FleetResult, or a finished result dict.

        Default: run ``task`` (with ``dry_run`` in check mode). Modules over a
        library operation (image sync, deployments, baselines) override this only.
        """
        fn = get_task(self.task_ref())
        params = self.task_params()
        if self.module.check_mode and not self.read_only:
            if not accepts_dry_run(fn):
                return self._not_run(fleet, task_name(fn))
            params["dry_run"] = True
        return fleet.run(fn, **params)

    def _run(self) -> dict[str, Any]:
        with _secure_file(self.params.get("secrets")) as secure_path:
            fleet = edgeshade.connect(
                self.params["sites"], **connect_kwargs(self.params, secure_path)
            )
            fleet = self.select(fleet)
            outcome = self.call(fleet)
        if isinstance(outcome, dict):
            return outcome
        return self._result(outcome.to_dict(), outcome.summary_line(), fleet)

    def _result(self, data: dict[str, Any], summary: str, fleet: Any) -> dict[str, Any]:
        sites = data["sites"]
        failed, failed_sites, percentage, message = fail_policy(
            sites, self.params["max_fail_percentage"], self.params["fail_states"]
        )
        changed = not self.read_only and any((s.get("data") or {}).get("changed") for s in sites)
        result = dict(data, changed=bool(changed), failed_sites=failed_sites)
        result["fail_percentage"] = percentage
        result["msg"] = summary
        if data["cancelled"]:
            failed, message = True, "run cancelled"
        if failed:
            result["failed"] = True
            result["msg"] = f"{message} ({result['msg']})"
        if self.module._diff:
            diffs = site_diffs(sites)
            if diffs:
                result["diff"] = diffs
        return self.shape(result, fleet)

    def _not_run(self, fleet: Any, name: str) -> dict[str, Any]:
        """Check mode for a task that cannot plan itself: say where it would run."""
        sites = [
            {
                "site": s.name,
                "cloud": s.cloud,
                "region": s.region,
                "state": "skipped",
                "reason": f"check mode: task {name} has no dry_run parameter",
                "hint": None,
                "elapsed": 0.0,
                "data": {},
            }
            for s in fleet.sites
        ]
        return {
            "changed": False,
            "skipped": True,
            "msg": f"check mode: task {name} has no dry_run parameter; would run on "
            f"{len(sites)} sites",
            "task": name,
            "summary": {"skipped": len(sites)} if sites else {},
            "exit_code": 0,
            "elapsed": 0.0,
            "cancelled": False,
            "sites": sites,
            "failed_sites": [],
            "fail_percentage": 0.0,
        }
