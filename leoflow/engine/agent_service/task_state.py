"""``AgentService.TaskState``: the task state store as the task's own agent reaches it.

The scope (run, task, map index) comes from the task instance the try's token belongs to,
never from the request, so a task reads and writes its own values only: no other task, run,
DAG or tenant is reachable from user code.
"""

from __future__ import annotations

import json

import grpc

from leoflow.engine.store import Store
from leoflow.engine.store import task_state as store_state
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.rpc import agent_pb2 as pb


async def task_state_call(store: Store, ti: TaskInstanceRow, request: pb.TaskStateRequest,
                          context: grpc.aio.ServicerContext) -> pb.TaskStateResponse:
    """Serve one get/set/delete/clear; a refused value or key is INVALID_ARGUMENT (or
    RESOURCE_EXHAUSTED above the size cap) with the reason."""
    scope = store_state.Scope(ti.dag_run_id, ti.task_id, ti.map_index)
    action = request.action
    if action not in ("get", "set", "delete", "clear"):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"action must be get, set, delete or clear, not {action!r}")
    if action != "clear" and not request.key:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a task state key is required")
    if action == "get":
        async with store.connect() as conn:
            found, value = await store_state.get_value(conn, scope, request.key)
        return pb.TaskStateResponse(found=found,
                                    value_json=json.dumps(value) if found else "")
    if action == "set":
        try:
            value = json.loads(request.value_json)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "value_json is not JSON")
        retention = (request.retention_seconds if request.HasField("retention_seconds")
                     else None)
        try:
            async with store.begin() as conn:
                await store_state.set_value(conn, scope, request.key, value,
                                            retention_seconds=retention,
                                            never_expire=request.never_expire)
        except store_state.TaskStateTooLarge as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except store_state.TaskStateError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb.TaskStateResponse()
    async with store.begin() as conn:
        if action == "delete":
            await store_state.delete_value(conn, scope, request.key)
        else:
            await store_state.clear(conn, scope)
    return pb.TaskStateResponse()
