"""What a running try sends and reads: its log lines, the XComs it pushes and pulls.

Log lines arrive in batches (the agent sends what one read of the pipe gave) and are stored
as they come, so the live tail stays live. XCom pushes go through the control plane's
backend (size cap, TTL; a value too large is ``RESOURCE_EXHAUSTED``); pulls read the
values of the try's own run only.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import grpc

from leoflow.engine.agent_service.fencing import Session
from leoflow.engine.agent_service.task_fetch import TaskFetch
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow
from leoflow.engine.xcom.base import XComPolicy
from leoflow.rpc import agent_pb2 as pb


class XComStore(Protocol):
    policy: XComPolicy  # the size cap, checked before a report's XComs are written

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int, key: str,
                   value: Any, conn: Any = None) -> int: ...

    async def get(self, dag_run_id: int, task_id: str, key: str = ...,
                  map_index: int = ...) -> Any: ...

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = ...
                         ) -> dict[int, Any]: ...


class LogSink(Protocol):
    """Where a try's lines go. ``ti`` may be the row as the try's last token check read it
    (``Session.named``): take from it only what names the try (id, DAG, run, task, map
    index), never its state."""

    async def write_lines(self, ti: TaskInstanceRow, try_number: int, stream: str,
                          lines: list[str], timestamp: float | None) -> None:
        """Store lines read together from one stream (they share one timestamp)."""

    async def finish(self, ti: TaskInstanceRow, try_number: int) -> None: ...


async def stream_logs(logs: LogSink, session: Session, ti: TaskInstanceRow,
                      request_iterator: Any) -> pb.StreamLogsResponse:
    stored = 0
    # Each message is already a batch (the agent sends what one read of the pipe gave,
    # up to 1,000 lines), and the log store only queues it: storing every message as
    # it comes keeps the live tail live for a task that prints a line now and then.
    async for message in request_iterator:
        session.last_seen = time.monotonic()
        for (stream, timestamp), lines in _runs(message.lines):
            await logs.write_lines(ti, session.try_number, stream, lines, timestamp or None)
            stored += len(lines)
    return pb.StreamLogsResponse(lines_stored=stored)


async def push_xcom(xcom: XComStore, ti: TaskInstanceRow, request: pb.PushXComRequest,
                    context: grpc.aio.ServicerContext) -> pb.PushXComResponse:
    try:
        value = json.loads(request.value_json)
    except ValueError:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "value_json is not JSON")
        raise  # abort raises; this keeps type checkers and readers sure of it
    try:
        size = await xcom.push(dag_run_id=ti.dag_run_id, task_id=ti.task_id,
                               map_index=ti.map_index, key=request.key, value=value)
    except Exception as exc:
        await context.abort(refusal_code(exc), str(exc))
        raise
    return pb.PushXComResponse(size_bytes=size)


def refusal_code(exc: Exception) -> grpc.StatusCode:
    """How a refused XCom value is answered: too large, or not storable."""
    return grpc.StatusCode.RESOURCE_EXHAUSTED if "large" in type(exc).__name__.lower() \
        else grpc.StatusCode.INVALID_ARGUMENT


async def pull_xcom(fetch: TaskFetch, ti: TaskInstanceRow, run: DagRunRow, spec: DagSpec,
                    request: pb.PullXComRequest) -> pb.PullXComResponse:
    task_ids = list(request.task_ids) or [ti.task_id]
    key = request.key or "return_value"
    values: list[Any] = []
    for task_id in task_ids:
        if task_id not in spec.task_ids:
            values.append(None)
            continue
        if request.has_map_indexes and spec.task(task_id).is_mapped:
            mapped = await fetch.xcom.get_mapped(run.id, task_id, key)
            chosen = [mapped.get(i) for i in request.map_indexes]
            values.append(chosen[0] if len(chosen) == 1 else chosen)
        else:
            values.append(await fetch.pull_one(run.id, spec, task_id, key))
    return pb.PullXComResponse(values_json=json.dumps(values))


def _runs(lines: Any) -> list[tuple[tuple[str, float], list[str]]]:
    """Consecutive log lines grouped by (stream, timestamp): the agent stamps each batch it
    read from one pipe once, so a message is usually one run (encoded in one go)."""
    runs: list[tuple[tuple[str, float], list[str]]] = []
    for line in lines:
        key = (line.stream or "stdout", line.timestamp)
        if runs and runs[-1][0] == key:
            runs[-1][1].append(line.line)
        else:
            runs.append((key, [line.line]))
    return runs
