"""The control plane's side of agent.proto: authenticate agents, feed them, record what
they report.

Every call is authorized by the per-try token (``leoflow.engine.store.tokens``). What an
agent reports becomes an ``ExecutorEvent`` for the scheduler, the single writer of task
state; that includes a try that waits without its process (``deferred`` on a trigger,
``up_for_reschedule`` until its next poke). Such a try resumes later as the same try with a
fresh token, and ``FetchTask`` then tells the agent how to resume it (``next_method``,
``next_kwargs_json`` with the trigger's ``event``, ``first_poke_at``).

A watchdog fails tries whose agent stops heartbeating (killed with SIGKILL, frozen machine)
within ``heartbeat_timeout`` seconds.

Fencing and durability (docs/security.md, "Crash consistency"). The token is the try's
attempt identity: the calls that let an agent act (``Authenticate``, ``FetchTask``,
``PushXCom``, ``ReportState``, the state stores) check it against the store every time,
with the task instance's current try, so an agent of a replaced or revoked attempt is
refused before it runs user code or writes anything. ``Authenticate`` records the start
(pid, host) in the try's row and ``ReportState`` the report, each committed before the
agent is answered: an answer means "durably recorded". The scheduler, the single writer of
task-instance state, applies them from its queue, or from the rows after a restart
(``leoflow.engine.scheduler.reconcile``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc

from leoflow.engine.agent_service.assets import (
    asset_context,
    asset_events_call,
    asset_state_call,
)
from leoflow.engine.agent_service.context import build_context, run_params
from leoflow.engine.agent_service.task_state import task_state_call
from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.faults import fault_point
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import Store, dags, runs, task_instances, tokens
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow
from leoflow.rpc import agent_pb2 as pb
from leoflow.rpc import agent_pb2_grpc as pb_grpc

log = logging.getLogger("leoflow.agent_service")


class XComStore(Protocol):
    async def push(self, *, dag_run_id: int, task_id: str, map_index: int, key: str,
                   value: Any) -> int: ...

    async def get(self, dag_run_id: int, task_id: str, key: str = ...,
                  map_index: int = ...) -> Any: ...

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = ...
                         ) -> dict[int, Any]: ...


class LogSink(Protocol):
    async def write_lines(self, ti: TaskInstanceRow, try_number: int, stream: str,
                          lines: list[str], timestamp: float | None) -> None:
        """Store lines read together from one stream (they share one timestamp)."""

    async def finish(self, ti: TaskInstanceRow, try_number: int) -> None: ...


@dataclass
class _Session:
    ti_id: str
    try_number: int
    token: str
    last_seen: float


IN_FLIGHT = ("queued", "running")  # where a try's agent may start and act


class AgentService(pb_grpc.AgentServiceServicer):
    """One instance serves every agent of the control plane."""

    def __init__(self, store: Store, *, report: Callable[[ExecutorEvent], Awaitable[None]],
                 xcom: XComStore, logs: LogSink, code_dir: Path,
                 interpreter_for: Callable[[DagSpec], str],
                 secrets_env: Callable[[str], Awaitable[Mapping[str, str]]] | None = None,
                 task_env: Callable[[TaskSpec], Mapping[str, str]] | None = None,
                 on_reported: Callable[[str], None] | None = None,
                 cancel: Callable[[str, str], Awaitable[None]] | None = None,
                 heartbeat_interval: float = 2.0, heartbeat_timeout: float = 10.0,
                 code_roots: Sequence[Path] = ()) -> None:
        self.store = store
        self.code_roots = tuple(code_roots)
        self.report = report
        self.xcom = xcom
        self.logs = logs
        self.code_dir = code_dir
        self.interpreter_for = interpreter_for
        self.secrets_env = secrets_env
        # variables a task needs from the control plane itself (where its own virtual
        # environment is: leoflow.engine.environments.task_envs)
        self.task_env = task_env
        self.on_reported = on_reported
        self.cancel = cancel
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._sessions: dict[str, _Session] = {}
        self._specs: dict[str, DagSpec] = {}
        self._watchdog: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the heartbeat watchdog; tries already running get a full grace period."""
        async with self.store.connect() as conn:
            page = await task_instances.list_task_instances(conn, state=list(IN_FLIGHT),
                                                            limit=None)
            # a queued try whose agent authenticated (its "running" not applied yet) is
            # watched too; one that never started has no agent to watch
            started = await tokens.attempts_of(
                conn, [ti.id for ti in page.items if ti.state == "queued"])
        # their agents get twice the usual grace: they reconnect to this new process first
        now = time.monotonic() + self.heartbeat_timeout
        for ti in page.items:
            attempt = started.get(ti.id)
            if ti.state == "queued" and (attempt is None or not attempt.started):
                continue
            self._sessions.setdefault(ti.id, _Session(ti.id, ti.try_number, "", now))
        self._watchdog = asyncio.create_task(self._watch(), name="leoflow-heartbeat-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.heartbeat_timeout / 4))
            deadline = time.monotonic() - self.heartbeat_timeout
            for session in [s for s in self._sessions.values() if s.last_seen < deadline]:
                self._sessions.pop(session.ti_id, None)
                log.warning("no heartbeat from %s for %ss", session.ti_id, self.heartbeat_timeout)
                if self.cancel is not None:
                    await self.cancel(session.ti_id, "missed heartbeats")
                await self.report(ExecutorEvent(
                    session.ti_id, session.try_number, "failed",
                    error=f"the task's agent sent no heartbeat for {self.heartbeat_timeout:g} s "
                          "(killed or hung); the try is failed"))

    # -- auth ----------------------------------------------------------------------------------
    async def _authorize(self, context: grpc.aio.ServicerContext, *, fenced: bool = True,
                         starting: bool = False, reporting: bool = False) -> _Session:
        """The caller's session, its token checked.

        ``fenced`` calls (everything that lets an agent act or write) are checked against
        the store every time: the token must be the task instance's current attempt (same
        try number; not revoked or replaced), not already reported (except a retried
        ``ReportState``); ``starting`` calls also need the try in flight. Heartbeats, log
        lines and XCom reads use the session cached by the last check."""
        metadata = {k: v for k, v in (context.invocation_metadata() or ())}
        ti_id = metadata.get("x-leoflow-ti", "")
        bearer = metadata.get("authorization", "")
        token = bearer[7:] if bearer.lower().startswith("bearer ") else ""
        if not ti_id or not token:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "missing x-leoflow-ti or authorization metadata")
        session = self._sessions.get(ti_id)
        if not fenced and session is not None and session.token == token:
            session.last_seen = time.monotonic()
            return session
        async with self.store.connect() as conn:
            attempt = await tokens.check_token(conn, ti_id, token)
            ti = None if attempt is None else \
                await task_instances.get_task_instance_by_id(conn, ti_id)
        refusal = None
        if attempt is None or ti is None:
            refusal = "invalid or expired task token for this task instance"
        elif ti.try_number != attempt.try_number:
            refusal = (f"this agent's try {attempt.try_number} is not the task instance's "
                       f"current try {ti.try_number}")
        elif attempt.reported_at is not None and not reporting:
            refusal = "this try already reported its state; its token is spent"
        elif starting and ti.state not in IN_FLIGHT:
            refusal = f"the task instance is {ti.state}, not queued or running"
        if refusal is not None:
            if session is not None and session.token == token:
                self._sessions.pop(ti_id, None)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)
        assert attempt is not None
        if session is None or session.token != token:
            session = _Session(ti_id, attempt.try_number, token, time.monotonic())
            if attempt.reported_at is None:
                self._sessions[ti_id] = session
        session.last_seen = time.monotonic()
        return session

    async def _load(self, session: _Session) -> tuple[TaskInstanceRow, DagRunRow, DagSpec]:
        async with self.store.connect() as conn:
            ti = await task_instances.get_task_instance_by_id(conn, session.ti_id)
            run = await runs.get_run_by_id(conn, ti.dag_run_id)
            spec = self._specs.get(run.dag_version_id)
            if spec is None:
                version = await dags.get_version(conn, run.dag_version_id)
                spec = DagSpec.from_json(version.spec)
                self._specs[run.dag_version_id] = spec
        return ti, run, spec

    # -- the calls ------------------------------------------------------------------------------
    async def Authenticate(self, request: pb.AuthenticateRequest,
                           context: grpc.aio.ServicerContext) -> pb.AuthenticateResponse:
        session = await self._authorize(context, starting=True)
        # Recorded before the answer, in the row a restart's revocation also writes: an
        # agent either starts here, or is refused because its try was handed to another.
        async with self.store.begin() as conn:
            started = await tokens.record_start(conn, session.ti_id, session.token,
                                                session.try_number, pid=request.pid or None,
                                                hostname=request.hostname)
        if not started:
            self._sessions.pop(session.ti_id, None)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "this try's token was revoked (the control plane restarted "
                                "and handed the try to another agent)")
        await self.report(ExecutorEvent(session.ti_id, session.try_number, "running",
                                        info={"hostname": request.hostname,
                                              "pid": request.pid}))
        return pb.AuthenticateResponse(task_instance_id=session.ti_id,
                                       try_number=session.try_number,
                                       heartbeat_interval=self.heartbeat_interval)

    async def FetchTask(self, request: pb.FetchTaskRequest,
                        context: grpc.aio.ServicerContext) -> pb.FetchTaskResponse:
        from leoflow.engine.xcom.resolve import resolve_inputs

        session = await self._authorize(context, starting=True)
        ti, run, spec = await self._load(session)
        task = spec.task(ti.task_id)
        params = run_params(spec, run)

        async def fetch(task_id: str, key: str) -> Any:
            return await self._pull_one(run.id, spec, task_id, key)

        try:
            args, kwargs = await resolve_inputs(task, ti.map_index, fetch=fetch, params=params)
        except Exception as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"cannot resolve the inputs of {ti.task_id!r}: {exc}")
        project_dir, dag_file = await self._code_of(run, spec)
        env = dict(spec.env)
        # the task's own env from leoflow.yaml (kubernetes.env, tasks.<id>.kubernetes.env):
        # the agent starts user code with a clean environment, so it must travel here
        env.update({str(k): str(v) for k, v in
                    ((task.kubernetes or {}).get("env") or {}).items()})
        if self.task_env is not None:
            env.update(self.task_env(task))
        if self.secrets_env is not None:
            # Variables and connections of the DAG's tenant, for this task's process only.
            env.update(await self.secrets_env(await self._tenant_of(run.dag_id)))
        raw_task = next((t for t in spec.raw.get("tasks", ()) if t["task_id"] == ti.task_id),
                        {})
        run_context = build_context(run, ti, params)
        assets = await asset_context(self.store, await self._tenant_of(run.dag_id), run, task)
        run_context.update(assets)
        run_context["dag_run"]["partition_key"] = assets["partition_key"]
        run_context["dag_run"]["partition_date"] = assets["partition_date"]
        return pb.FetchTaskResponse(
            dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index,
            try_number=ti.try_number, max_tries=ti.max_tries, operator=task.operator,
            task_json=json.dumps(raw_task), args_json=json.dumps(args),
            kwargs_json=json.dumps(kwargs),
            context_json=json.dumps(run_context),
            project_dir=str(project_dir), dag_file=str(dag_file),
            dag_folder=str(project_dir / Path(spec.fileloc).parent),
            python=self.interpreter_for(spec), env=env,
            execution_timeout=task.execution_timeout or 0.0,
            next_method=ti.next_method or "",
            next_kwargs_json=json.dumps(ti.next_kwargs) if ti.next_method else "",
            first_poke_at=ti.first_poke_at.timestamp() if ti.first_poke_at else 0.0)

    async def StreamLogs(self, request_iterator: Any,
                         context: grpc.aio.ServicerContext) -> pb.StreamLogsResponse:
        session = await self._authorize(context, fenced=False)
        ti, _run, _spec = await self._load(session)
        stored = 0
        # Each message is already a batch (the agent sends what one read of the pipe gave,
        # up to 1,000 lines), and the log store only queues it: storing every message as
        # it comes keeps the live tail live for a task that prints a line now and then.
        async for message in request_iterator:
            session.last_seen = time.monotonic()
            for (stream, timestamp), lines in _runs(message.lines):
                await self.logs.write_lines(ti, session.try_number, stream, lines,
                                            timestamp or None)
                stored += len(lines)
        return pb.StreamLogsResponse(lines_stored=stored)

    async def PushXCom(self, request: pb.PushXComRequest,
                       context: grpc.aio.ServicerContext) -> pb.PushXComResponse:
        session = await self._authorize(context)
        ti, _run, _spec = await self._load(session)
        try:
            value = json.loads(request.value_json)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "value_json is not JSON")
        try:
            size = await self.xcom.push(dag_run_id=ti.dag_run_id, task_id=ti.task_id,
                                        map_index=ti.map_index, key=request.key, value=value)
        except Exception as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED
                                if "large" in type(exc).__name__.lower()
                                else grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb.PushXComResponse(size_bytes=size)

    async def PullXCom(self, request: pb.PullXComRequest,
                       context: grpc.aio.ServicerContext) -> pb.PullXComResponse:
        session = await self._authorize(context, fenced=False)
        ti, run, spec = await self._load(session)
        task_ids = list(request.task_ids) or [ti.task_id]
        key = request.key or "return_value"
        values = []
        for task_id in task_ids:
            if task_id not in spec.task_ids:
                values.append(None)
                continue
            if request.has_map_indexes and spec.task(task_id).is_mapped:
                mapped = await self.xcom.get_mapped(run.id, task_id, key)
                chosen = [mapped.get(i) for i in request.map_indexes]
                values.append(chosen[0] if len(chosen) == 1 else chosen)
            else:
                values.append(await self._pull_one(run.id, spec, task_id, key))
        return pb.PullXComResponse(values_json=json.dumps(values))

    async def Heartbeat(self, request: pb.HeartbeatRequest,
                        context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        session = await self._authorize(context, fenced=False)
        async with self.store.connect() as conn:
            ti = await task_instances.get_task_instance_by_id(conn, session.ti_id)
        if ti is None or ti.try_number != session.try_number or ti.state not in (
                "queued", "running"):
            self._sessions.pop(session.ti_id, None)
            state = ti.state if ti else "deleted"
            return pb.HeartbeatResponse(stop=True, reason=f"the task instance is {state}")
        return pb.HeartbeatResponse(stop=False)

    async def ReportState(self, request: pb.ReportStateRequest,
                          context: grpc.aio.ServicerContext) -> pb.ReportStateResponse:
        session = await self._authorize(context, reporting=True)
        ti, _run, _spec = await self._load(session)
        if request.state not in REPORTABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"state must be one of {', '.join(REPORTABLE)}, "
                                f"not {request.state!r}")
        info: dict[str, Any] = {"no_retry": request.no_retry}
        if request.state == "failed" and request.HasField("retry_delay"):
            info["retry_delay"] = max(0.0, float(request.retry_delay))  # the retry policy's
        if request.state == "up_for_reschedule":
            if request.reschedule_date <= 0:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    "up_for_reschedule needs reschedule_date (epoch seconds)")
            info["reschedule_date"] = float(request.reschedule_date)
        elif request.state == "deferred":
            info.update(await _deferral(request, context))
        if request.follow_task_ids_json:
            info["follow_task_ids"] = json.loads(request.follow_task_ids_json)
        if request.state == "success" and request.outlet_events_json:
            try:
                info["outlet_events"] = _outlet_events(request.outlet_events_json)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if ti.operator == "short_circuit":
            info["short_circuit_continue"] = request.short_circuit_continue
        error = None
        if request.state == "failed":
            parts = [f"{request.error_type}: {request.error_message}".strip(": ")]
            if request.exit_code:
                parts.append(f"(exit code {request.exit_code})")
            error = " ".join(p for p in parts if p)
            if request.traceback:
                error += "\n" + request.traceback
            if request.retry_reason:
                error += f"\nretry policy: {request.retry_reason}"
        self._sessions.pop(session.ti_id, None)
        await self.logs.finish(ti, session.try_number)
        # Committed before the answer (the token is spent by it); the scheduler applies it
        # from its queue, or from this row after a restart. A retried report (its answer
        # was lost) gets the first one's answer and is not queued again.
        report = {"state": request.state, "error": error, "info": info}
        async with self.store.begin() as conn:
            stood = await tokens.record_report(conn, session.ti_id, session.token,
                                               session.try_number, report)
        if stood is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "this try's token was revoked or replaced; report refused")
        assert stood is not None
        if self.on_reported is not None:
            self.on_reported(session.ti_id)
        if stood is report:
            await self.report(ExecutorEvent(session.ti_id, session.try_number,
                                            request.state, error=error, info=info))
        fault_point("reported", context)
        return pb.ReportStateResponse(recorded_state=str(stood.get("state") or ""))

    async def TaskState(self, request: pb.TaskStateRequest,
                        context: grpc.aio.ServicerContext) -> pb.TaskStateResponse:
        session = await self._authorize(context)
        ti, _run, _spec = await self._load(session)
        return await task_state_call(self.store, ti, request, context)

    async def AssetEvents(self, request: pb.AssetEventsRequest,
                          context: grpc.aio.ServicerContext) -> pb.AssetEventsResponse:
        session = await self._authorize(context)
        _ti, run, _spec = await self._load(session)
        return await asset_events_call(self.store, await self._tenant_of(run.dag_id), request,
                                       context)

    async def AssetState(self, request: pb.AssetStateRequest,
                         context: grpc.aio.ServicerContext) -> pb.AssetStateResponse:
        session = await self._authorize(context)
        _ti, run, _spec = await self._load(session)
        return await asset_state_call(self.store, await self._tenant_of(run.dag_id), request,
                                      context)

    # -- helpers -------------------------------------------------------------------------------
    async def _pull_one(self, dag_run_id: int, spec: DagSpec, task_id: str, key: str) -> Any:
        """A task's value; for a mapped task the ordered list of its instances' values."""
        if spec.task(task_id).is_mapped:
            mapped = await self.xcom.get_mapped(dag_run_id, task_id, key)
            return [mapped.get(i) for i in range(max(mapped, default=-1) + 1)]
        found = await self.xcom.get(dag_run_id, task_id, key)
        return getattr(found, "value", found)

    async def _tenant_of(self, dag_id: str) -> str:
        async with self.store.connect() as conn:
            dag = await dags.get_dag(conn, dag_id)
        return dag.tenant if dag is not None else "default"

    async def _code_of(self, run: DagRunRow, spec: DagSpec) -> tuple[Path, Path]:
        """Where the DAG's code is: the project folder, and the pinned version's DAG file.

        Runs are pinned to a version, so the DAG file is written out from the version's
        stored source (once per version) instead of read from the project, which may have
        changed since; the project folder stays on ``sys.path`` for its helper modules.
        The project folder is the registered file's path without the spec's ``fileloc``
        (``dag.py`` of a project, ``sub/x.py`` of a plain folder); a path relative to one
        of ``code_roots`` (Lite's workspace, a server's DAGs folder) is found there.
        """
        async with self.store.connect() as conn:
            dag = await dags.get_dag(conn, run.dag_id)
            version = await dags.get_version(conn, run.dag_version_id)
        fileloc = Path(dag.fileloc) if dag and dag.fileloc else Path(spec.fileloc)
        if not fileloc.is_absolute():
            fileloc = next((root / fileloc for root in self.code_roots
                            if (root / fileloc).exists()), fileloc)
        project_dir = project_root(fileloc, spec.fileloc) if fileloc.is_absolute() \
            else self.code_dir
        if version is None or not version.source_code:
            return project_dir, fileloc
        digest = version.content_hash.split(":")[-1][:16]
        target = self.code_dir / run.dag_id / digest / Path(spec.fileloc).name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            from leoflow.engine.safe_files import write_file

            write_file(target, version.source_code, root=self.code_dir)  # no link followed
        return project_dir, target


def project_root(file: Path, relative: str) -> Path:
    """``/dags/sub/x.py`` less ``sub/x.py`` is ``/dags``; else the file's folder."""
    parts = Path(relative).parts
    if parts and file.parts[-len(parts):] == parts and len(file.parts) > len(parts):
        return Path(*file.parts[:-len(parts)])
    return file.parent


REPORTABLE = ("success", "failed", "skipped", "deferred", "up_for_reschedule")


async def _deferral(request: pb.ReportStateRequest, context: grpc.aio.ServicerContext
                    ) -> dict[str, Any]:
    """The ``info`` of a ``deferred`` report; a malformed one is refused with the field."""
    def parse(name: str, text: str) -> Any:
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise ValueError(f"{name} is not JSON: {exc}") from None

    try:
        trigger = parse("trigger_json", request.trigger_json)
        next_kwargs = parse("next_kwargs_json", request.next_kwargs_json) or {}
        if not isinstance(trigger, dict) or "kind" not in trigger:
            raise ValueError('trigger_json must be {"kind": ..., "kwargs": {...}}')
        if not isinstance(next_kwargs, dict):
            raise ValueError("next_kwargs_json must be a JSON object")
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise  # abort raises; this keeps type checkers and readers sure of it
    return {"trigger": trigger, "next_method": request.next_method or None,
            "next_kwargs": next_kwargs,
            "defer_timeout": float(request.defer_timeout) if request.defer_timeout > 0
            else None}


def _outlet_events(text: str) -> list[dict[str, Any]]:
    """``outlet_events_json`` of a success: a list of objects, each with a ``ref``."""
    try:
        events = json.loads(text)
    except ValueError:
        raise ValueError("outlet_events_json is not JSON") from None
    if not isinstance(events, list) or not all(
            isinstance(e, dict) and isinstance(e.get("ref"), dict) for e in events):
        raise ValueError('outlet_events_json must be a list of {"ref": ..., "extra": ...}')
    return events


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


async def serve(service: AgentService, host: str = "127.0.0.1", port: int = 0
                ) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server for ``service``; returns it with the port it listens on."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    pb_grpc.add_AgentServiceServicer_to_server(service, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port} for agents (is the port in use?)")
    await server.start()
    return server, bound
