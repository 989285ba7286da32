"""TEST DOUBLE of the control plane's AgentService: a real grpc.aio server, scripted state.

The real service (database-backed) lives in ``leoflow.engine.agent_service`` and is tested
on its own. This double speaks the same ``agent.proto`` over a real gRPC server on
127.0.0.1, checks the two metadata entries on every call like the real one, and records
what the agent sent so that tests can assert on it: log lines, XComs, heartbeats, the final
state.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from leoflow.rpc import agent_pb2 as pb
from leoflow.rpc import agent_pb2_grpc as pb_grpc

TI_ID = "0b6f2f8e-0000-4000-8000-000000000001"
TOKEN = "good-token"


def rss_peak_kb(pid: int) -> int | None:
    """VmHWM (peak resident set) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Recorded:
    """What the agent did, as the double saw it."""

    authenticated: int = 0
    fetch_calls: int = 0  # FetchTask calls (an agent that got its task in Authenticate: 0)
    agent_pid: int | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)
    line_count: int = 0
    stream_calls: int = 0
    pushed: dict[str, Any] = field(default_factory=dict)
    push_order: list[str] = field(default_factory=list)
    pulls: list[pb.PullXComRequest] = field(default_factory=list)
    heartbeats: int = 0
    report: pb.ReportStateRequest | None = None
    agent_rss_peak_kb: int | None = None

    def text(self, stream: str | None = None) -> list[str]:
        return [line for s, line in self.lines if stream is None or s == stream]


class ScriptedControlPlane(pb_grpc.AgentServiceServicer):
    """Serves one task instance: ``task`` is what FetchTask answers.

    ``xcoms`` maps ``(task_id, key)`` to a stored value; ``mapped`` maps a task id to the
    ordered values of its instances. ``stop_after_beats`` answers ``stop`` from that
    heartbeat on (and once ``stop_when()`` is true, when given). ``keep_lines`` caps the
    stored log lines (all are counted). ``answers_fetch=False`` plays a control plane that
    predates ``AuthenticateRequest.fetch`` (the task only through FetchTask);
    ``takes_xcoms=False`` one whose report does not take the XComs (pushed before it).
    """

    def __init__(self, task: pb.FetchTaskResponse, *, heartbeat_interval: float = 0.2,
                 xcoms: dict[tuple[str, str], Any] | None = None,
                 mapped: dict[str, list[Any]] | None = None,
                 stop_after_beats: int | None = None, keep_lines: int = 100_000,
                 max_xcom_bytes: int = 256 * 1024,
                 stop_when: Callable[[], bool] | None = None,
                 answers_fetch: bool = True, takes_xcoms: bool = True) -> None:
        self.task = task
        self.answers_fetch = answers_fetch
        self.takes_xcoms = takes_xcoms
        self.heartbeat_interval = heartbeat_interval
        self.xcoms = dict(xcoms or {})
        self.mapped = dict(mapped or {})
        self.stop_after_beats = stop_after_beats
        self.stop_when = stop_when
        self.keep_lines = keep_lines
        self.max_xcom_bytes = max_xcom_bytes
        self.recorded = Recorded()
        self.reported = asyncio.Event()

    async def _check(self, context: grpc.aio.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata() or ())
        if (metadata.get("x-leoflow-ti") != TI_ID
                or metadata.get("authorization") != f"Bearer {TOKEN}"):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid or stale token")

    async def Authenticate(self, request, context):
        await self._check(context)
        self.recorded.authenticated += 1
        self.recorded.agent_pid = request.pid
        response = pb.AuthenticateResponse(task_instance_id=TI_ID, try_number=1,
                                           heartbeat_interval=self.heartbeat_interval,
                                           report_takes_xcoms=self.takes_xcoms)
        if request.fetch and self.answers_fetch:
            response.task.CopyFrom(self.task)
        return response

    async def FetchTask(self, request, context):
        await self._check(context)
        self.recorded.fetch_calls += 1
        return self.task

    async def StreamLogs(self, request_iterator, context):
        await self._check(context)
        self.recorded.stream_calls += 1
        count = 0
        async for batch in request_iterator:
            for line in batch.lines:
                count += 1
                self.recorded.line_count += 1
                if len(self.recorded.lines) < self.keep_lines:
                    self.recorded.lines.append((line.stream, line.line))
        return pb.StreamLogsResponse(lines_stored=count)

    def _refusal(self, key: str, value_json: str) -> str | None:
        size = len(value_json.encode())
        if size > self.max_xcom_bytes:
            return f"XCom {key!r} is {size} bytes; the limit is {self.max_xcom_bytes}"
        return None

    async def PushXCom(self, request, context):
        await self._check(context)
        refusal = self._refusal(request.key, request.value_json)
        if refusal is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refusal)
        self.recorded.pushed[request.key] = json.loads(request.value_json)
        self.recorded.push_order.append(request.key)
        return pb.PushXComResponse(size_bytes=len(request.value_json.encode()))

    async def PullXCom(self, request, context):
        await self._check(context)
        self.recorded.pulls.append(request)
        values = []
        for task_id in request.task_ids or [self.task.task_id]:
            if task_id in self.mapped:
                items = list(enumerate(self.mapped[task_id]))
                if request.has_map_indexes:  # like the real service: one index, one value
                    chosen = [v for i, v in items if i in request.map_indexes]
                    values.append(chosen[0] if len(chosen) == 1 else chosen)
                else:
                    values.append([v for _, v in items])
            else:
                values.append(self.xcoms.get((task_id, request.key or "return_value")))
        return pb.PullXComResponse(values_json=json.dumps(values))

    async def Heartbeat(self, request, context):
        await self._check(context)
        self.recorded.heartbeats += 1
        stop = (self.stop_after_beats is not None
                and self.recorded.heartbeats >= self.stop_after_beats
                and (self.stop_when is None or self.stop_when()))
        return pb.HeartbeatResponse(stop=stop, reason="cancelled by a user" if stop else "")

    async def ReportState(self, request, context):
        await self._check(context)
        if self.recorded.agent_pid:
            self.recorded.agent_rss_peak_kb = rss_peak_kb(self.recorded.agent_pid)
        if request.xcoms and not self.takes_xcoms:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "xcoms: unknown field")
        refusals = [r for x in request.xcoms if (r := self._refusal(x.key, x.value_json))]
        if refusals:  # as the real service: the try fails, nothing is stored
            request = pb.ReportStateRequest(
                state="failed", exit_code=1, error_type="XComPushError",
                error_message=f"cannot store XCom: PushXCom failed: {refusals[0]}")
        for x in request.xcoms:
            self.recorded.pushed[x.key] = json.loads(x.value_json)
            self.recorded.push_order.append(x.key)
        self.recorded.report = request
        self.reported.set()
        return pb.ReportStateResponse(recorded_state=request.state)


async def start_server(servicer: ScriptedControlPlane) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pb_grpc.add_AgentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@dataclass
class AgentRun:
    returncode: int
    stderr: str
    elapsed: float


async def run_agent_process(address: str, *, token: str = TOKEN, timeout: float = 60.0,
                            extra_env: dict[str, str] | None = None) -> AgentRun:
    """Start ``python -m leoflow.agent`` as an executor would, and wait for it."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"),
           "LEOFLOW_AGENT_ADDRESS": address, "LEOFLOW_TI_ID": TI_ID, "LEOFLOW_TOKEN": token,
           # a control-plane secret the user process must never see
           "LEOFLOW_DATABASE_URL": "postgresql://secret@db/leoflow",
           # the suite runs with zygotes on when the test run's environment asks for them
           **{k: v for k, v in os.environ.items() if k.startswith("LEOFLOW_ZYGOTE")},
           **(extra_env or {})}
    loop = asyncio.get_running_loop()
    started = loop.time()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "leoflow.agent", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return AgentRun(process.returncode, stderr.decode(), loop.time() - started)


def fetch(project_dir: str, task_id: str, *, operator: str = "python",
          spec: dict[str, Any] | None = None, args: list[Any] | None = None,
          kwargs: dict[str, Any] | None = None, env: dict[str, str] | None = None,
          execution_timeout: float = 0.0, context: dict[str, Any] | None = None,
          python: str | None = None) -> pb.FetchTaskResponse:
    """A FetchTask answer for a task of the ``demo`` DAG in ``project_dir/dag.py``."""
    base_context = {
        "ds": "2024-03-05", "ds_nodash": "20240305", "ts": "2024-03-05T00:00:00+00:00",
        "logical_date": "2024-03-05T00:00:00+00:00",
        "data_interval_start": "2024-03-05T00:00:00+00:00",
        "data_interval_end": "2024-03-05T00:00:00+00:00", "run_id": "manual__2024-03-05",
        "run_type": "manual", "params": {"x": "px"}, "conf": {}, "dag_id": "demo",
        "task_id": task_id, "map_index": -1, "try_number": 1}
    return pb.FetchTaskResponse(
        dag_id="demo", run_id="manual__2024-03-05", task_id=task_id, map_index=-1,
        try_number=1, max_tries=0, operator=operator,
        task_json=json.dumps({"task_id": task_id, "operator": operator, **(spec or {})}),
        args_json=json.dumps(args or []), kwargs_json=json.dumps(kwargs or {}),
        context_json=json.dumps({**base_context, **(context or {})}),
        project_dir=project_dir, dag_file="dag.py", python=python or sys.executable,
        env=env or {}, execution_timeout=execution_timeout)

