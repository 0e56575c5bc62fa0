"""Heat (``/v1/{project}``): stacks created, updated and deleted on a timer.

Enough of Heat's API for openstacksdk's orchestration proxy and cloud layer:
list (``name``, ``tags`` and ``status`` filters), create (201), show by name
or id (Heat redirects ``/stacks/{name}`` to ``/stacks/{name}/{id}``; the
simulator answers directly), update (202), delete (204), template. A stack
goes ``*_IN_PROGRESS`` -> ``*_COMPLETE`` after ``stack_seconds``; at sites
where stacks are made to fail (:mod:`edgeshade.sim.workloads`) it ends
``*_FAILED``, or ``ROLLBACK_COMPLETE`` (previous template restored) when
rollback is enabled, as Heat does.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from edgeshade.sim.registry import AUTH_NONE, ApiError, Call, empty, now_iso, reply, route
from edgeshade.sim.workloads import Stack, workloads

SERVICE = "orchestration"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
           500: "Internal Server Error", 503: "Service Unavailable"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Heat's fault format."""
    return {"code": status, "title": _TITLES.get(status, "Error"),
            "explanation": message, "error": {"message": message, "type": "StackError",
                                              "traceback": None}}


@route(SERVICE, "GET", "", auth=AUTH_NONE)
def versions(call: Call) -> web.Response:
    return reply({"versions": [{"id": "v1.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"{call.root}/v1/"}]}]}, status=300)


def _stacks(call: Call) -> list[Stack]:
    return workloads(call.fleet).stacks.setdefault(call.contents.site.name, [])


def _find(call: Call) -> Stack:
    ref = call.params.get("id") or call.params["name"]
    for stack in _stacks(call):
        if ref in (stack.id, stack.name):
            return stack
    raise ApiError(404, f"The Stack ({ref}) could not be found.")


def _outputs(stack: Stack) -> list[dict[str, Any]]:
    out = []
    for key, spec in (stack.template.get("outputs") or {}).items():
        value = (spec or {}).get("value")
        if isinstance(value, dict) and "get_param" in value:
            value = stack.parameters.get(value["get_param"])
        out.append({"output_key": key, "output_value": value,
                    "description": (spec or {}).get("description", "")})
    return out


def stack_view(call: Call, stack: Stack, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": stack.id,
        "stack_name": stack.name,
        "stack_status": stack.status,
        "stack_status_reason": stack.reason,
        "creation_time": stack.created,
        "updated_time": stack.updated,
        "deletion_time": None,
        "description": stack.template.get("description", ""),
        "project": stack.project_id,
        "stack_owner": None,
        "stack_user_project_id": stack.project_id,
        "tags": list(stack.tags) or None,
        "parent": None,
        "links": [{"rel": "self", "href": call.link(f"/v1/{stack.project_id}/stacks/"
                                                    f"{stack.name}/{stack.id}")}],
    }
    if detail:
        out.update({
            "parameters": {**stack.parameters, "OS::stack_id": stack.id,
                           "OS::stack_name": stack.name,
                           "OS::project_id": stack.project_id},
            "outputs": _outputs(stack),
            "disable_rollback": not stack.rollback,
            "timeout_mins": None,
            "template_description": stack.template.get("description", ""),
            "capabilities": [],
            "notification_topics": [],
        })
    return out


def _validate(call: Call, template: Any, parameters: Any) -> tuple[dict, dict]:
    if not isinstance(template, dict) or "heat_template_version" not in template:
        raise ApiError(400, "The template is not a Heat template: heat_template_version missing")
    declared = template.get("parameters") or {}
    parameters = dict(parameters or {})
    for key in parameters:
        if key not in declared:
            raise ApiError(400, f"The Parameter ({key}) was not defined in template.")
    for key, spec in declared.items():
        if key not in parameters and "default" not in (spec or {}):
            raise ApiError(400, f"The Parameter ({key}) was not provided.")
    return template, parameters


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(t) for t in value]
    return [t for t in str(value or "").split(",") if t]


def _finish(call: Call, stack: Stack, action: str) -> None:
    """After ``stack_seconds``: COMPLETE, or FAILED/rolled back where stacks fail."""
    w = workloads(call.fleet)
    site = call.contents.site.name
    stacks = _stacks(call)

    def done() -> None:
        if stack.status != f"{action}_IN_PROGRESS":
            return
        if action == "DELETE":
            if stack in stacks:
                stacks.remove(stack)
            return
        if w.stack_fails(site):
            reason = "Resource CREATE failed: simulated failure"
            if stack.rollback:
                if action == "UPDATE" and stack.previous is not None:
                    stack.template, stack.parameters = stack.previous
                stack.status, stack.reason = "ROLLBACK_COMPLETE", f"{reason}; rolled back"
            else:
                stack.status, stack.reason = f"{action}_FAILED", reason
        else:
            stack.status = f"{action}_COMPLETE"
            stack.reason = f"Stack {action} completed successfully"
        stack.updated = now_iso() if action == "UPDATE" else stack.updated

    if w.stack_seconds <= 0:
        done()
    else:
        asyncio.get_running_loop().call_later(w.stack_seconds, done)


@route(SERVICE, "GET", "/v1/{project}/stacks")
def list_stacks(call: Call) -> web.Response:
    q = call.query
    wanted_tags = _tags(q.get("tags"))
    found = [
        s for s in _stacks(call)
        if (q.get("name") is None or s.name == q["name"])
        and (q.get("status") is None or s.status.endswith(q["status"]))
        and all(t in s.tags for t in wanted_tags)
    ]
    return reply({"stacks": [stack_view(call, s, detail=False) for s in found]})


@route(SERVICE, "POST", "/v1/{project}/stacks")
async def create_stack(call: Call) -> web.Response:
    body = await call.json()
    if isinstance(body, dict) and isinstance(body.get("stack"), dict):
        body = body["stack"]
    if not isinstance(body, dict) or not body.get("stack_name"):
        raise ApiError(400, "The stack_name parameter is required")
    name = str(body["stack_name"])
    stacks = _stacks(call)
    if any(s.name == name for s in stacks):
        raise ApiError(409, f"The Stack ({name}) already exists.")
    template, parameters = _validate(call, body.get("template"), body.get("parameters"))
    stack = Stack(
        id=str(uuid.uuid4()), name=name, project_id=call.project_id, template=template,
        parameters=parameters, tags=_tags(body.get("tags")), status="CREATE_IN_PROGRESS",
        reason="Stack CREATE started", created=now_iso(),
        rollback=not body.get("disable_rollback", True),
    )
    stacks.append(stack)
    _finish(call, stack, "CREATE")
    return reply({"stack": {"id": stack.id, "links": stack_view(call, stack, False)["links"]}},
                 status=201)


def _show(call: Call) -> web.Response:
    return reply({"stack": stack_view(call, _find(call))})


async def _update(call: Call) -> web.Response:
    stack = _find(call)
    if stack.status.endswith("_IN_PROGRESS"):
        raise ApiError(409, f"Stack {stack.name} is in progress ({stack.status})")
    body = await call.json() or {}
    template, parameters = _validate(call, body.get("template", stack.template),
                                     body.get("parameters", {}))
    stack.previous = (stack.template, stack.parameters)
    stack.template, stack.parameters = template, parameters
    if "tags" in body:
        stack.tags = _tags(body["tags"])
    if "disable_rollback" in body:
        stack.rollback = not body["disable_rollback"]
    stack.status, stack.reason = "UPDATE_IN_PROGRESS", "Stack UPDATE started"
    _finish(call, stack, "UPDATE")
    return empty(202)


def _delete(call: Call) -> web.Response:
    stack = _find(call)
    stack.status, stack.reason = "DELETE_IN_PROGRESS", "Stack DELETE started"
    _finish(call, stack, "DELETE")
    return empty(204)


route(SERVICE, "GET", "/v1/{project}/stacks/{name}")(_show)
route(SERVICE, "GET", "/v1/{project}/stacks/{name}/{id}")(_show)
route(SERVICE, "PUT", "/v1/{project}/stacks/{name}")(_update)
route(SERVICE, "PUT", "/v1/{project}/stacks/{name}/{id}")(_update)
route(SERVICE, "DELETE", "/v1/{project}/stacks/{name}")(_delete)
route(SERVICE, "DELETE", "/v1/{project}/stacks/{name}/{id}")(_delete)


@route(SERVICE, "GET", "/v1/{project}/stacks/{name}/{id}/template")
def stack_template(call: Call) -> web.Response:
    return reply(_find(call).template)
