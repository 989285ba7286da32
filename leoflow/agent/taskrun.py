"""One try being executed: what FetchTask said, and the supervision of its processes.

``supervise`` is shared by the Python runner and bash: it streams both pipes to the log,
enforces the try's deadline (``execution_timeout``) and the control plane's stop, and makes
sure nothing the task started outlives it.
"""

from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from leoflow.agent.assets import LoopRequester
from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.heartbeat import StopSignal
from leoflow.agent.logs import LogShipper, pump
from leoflow.agent.process import UserProcess, exited, kill_group, reap_leftovers
from leoflow.errors import InvariantError
from leoflow.rpc import agent_pb2 as pb
from leoflow.sdk.asset_runtime import add_asset_context
from leoflow.sdk.context_objects import TaskInstance, build_context

PIPE_GRACE = 2.0
STDERR_TAIL = 30


class LoopTransport:
    """XCom access for templates rendered in a worker thread: calls run on the agent's loop."""

    def __init__(self, client: ControlPlaneClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def pull(self, task_ids: list[str], key: str, map_indexes: list[int] | None) -> list[Any]:
        future = asyncio.run_coroutine_threadsafe(
            self._client.pull_xcom(task_ids, key, map_indexes), self._loop)
        return future.result()

    def push(self, key: str, value: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._client.push_xcom(key, value), self._loop).result()


@dataclass
class TaskRun:
    """Everything the executing code needs about the try."""

    task: pb.FetchTaskResponse
    client: ControlPlaneClient
    shipper: LogShipper
    stop: StopSignal
    deadline: float | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fetch(cls, task: pb.FetchTaskResponse, client: ControlPlaneClient,
                   shipper: LogShipper, stop: StopSignal) -> TaskRun:
        loop = asyncio.get_running_loop()
        timeout = task.execution_timeout
        return cls(task=task, client=client, shipper=shipper, stop=stop,
                   deadline=loop.time() + timeout if timeout > 0 else None,
                   spec=json.loads(task.task_json or "{}"),
                   args=list(json.loads(task.args_json or "[]")),
                   kwargs=dict(json.loads(task.kwargs_json or "{}")),
                   context=dict(json.loads(task.context_json or "{}")))

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.spec.get("options") or {})

    def template_context(self) -> dict[str, Any]:
        """Airflow's context for templates, with stand-ins for the DAG and task objects."""
        task_view = SimpleNamespace(**{**self.spec, "task_id": self.task.task_id,
                                       "dag_id": self.task.dag_id})
        dag_view = SimpleNamespace(dag_id=self.task.dag_id,
                                   params=dict(self.context.get("params") or {}))
        ti = TaskInstance(dag_id=self.task.dag_id, task_id=self.task.task_id,
                          run_id=self.task.run_id, map_index=self.task.map_index,
                          try_number=self.task.try_number, max_tries=self.task.max_tries,
                          task=task_view,
                          transport=LoopTransport(self.client, asyncio.get_running_loop()))
        context = build_context(self.context, dag=dag_view, task=task_view, ti=ti,
                                environ=dict(self.task.env))
        add_asset_context(context, self.context, inlets=list(self.spec.get("inlets") or []),
                          outlets=list(self.spec.get("outlets") or []),
                          requester=LoopRequester(self.client, asyncio.get_running_loop()))
        return context


@dataclass
class Supervised:
    """How a process ended: its return code, and whether the agent killed it and why."""

    returncode: int | None
    killed_for: str | None = None  # "timeout" | "stop"
    stdout_last: str = ""
    stderr_tail: list[str] = field(default_factory=list)


async def supervise(process: UserProcess, run: TaskRun, *,
                    encoding: str = "utf-8",
                    companions: tuple[asyncio.Task[Any], ...] = ()) -> Supervised:
    """Stream the process's output and wait for it, the deadline or a stop, whichever first.

    ``companions`` are tasks that end with the process's pipes (the runner's channel); they
    get the same grace as the log pumps after the process exits.
    """
    if process.stdout is None or process.stderr is None:
        raise InvariantError("the task's process was started without pipes for its output")
    result = Supervised(returncode=None)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)

    def remember_stdout(lines: list[str]) -> None:
        for line in reversed(lines):
            if line.strip():
                result.stdout_last = line
                return

    readers = [
        asyncio.create_task(pump(process.stdout, "stdout", run.shipper, encoding=encoding,
                                 on_lines=remember_stdout)),
        asyncio.create_task(pump(process.stderr, "stderr", run.shipper, encoding=encoding,
                                 on_lines=tail.extend)),
        *companions,
    ]
    waiter = asyncio.create_task(exited(process))  # not wait(): a child may hold the pipes
    stopper = asyncio.create_task(run.stop.wait())
    loop = asyncio.get_running_loop()
    timeout = None if run.deadline is None else max(0.0, run.deadline - loop.time())
    try:
        await asyncio.wait({waiter, stopper}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            result.killed_for = "stop" if stopper.done() else "timeout"
            await kill_group(process)
        _, pending = await asyncio.wait(readers, timeout=PIPE_GRACE)
        if pending:  # something the task started still holds the pipes: end it
            reap_leftovers(process)
            _, pending = await asyncio.wait(pending, timeout=PIPE_GRACE)
            for task in pending:
                task.cancel()
    finally:
        stopper.cancel()
        reap_leftovers(process)
        if process.returncode is None:
            await kill_group(process, grace=0)
        await asyncio.gather(waiter, return_exceptions=True)
        for task in readers:
            if not task.done():
                task.cancel()
        await asyncio.gather(*readers, stopper, return_exceptions=True)
    result.returncode = process.returncode
    result.stderr_tail = list(tail)
    return result


def killed_outcome_fields(run: TaskRun, supervised: Supervised,
                          timeout: float) -> tuple[str, str]:
    """The error type and message for a process the agent killed."""
    if supervised.killed_for == "timeout":
        return ("AirflowTaskTimeout",
                f"execution_timeout of {timeout:g} s exceeded; the task's processes were killed")
    return ("AirflowTaskTerminated",
            f"stopped by the control plane ({run.stop.reason}); the task's processes were "
            "killed")

