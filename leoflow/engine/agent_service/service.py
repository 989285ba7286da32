"""The control plane's side of agent.proto: authenticate agents, feed them, record what
they report.

Every call is authorized by the per-try token (``fencing.py``). What an agent reports
becomes an ``ExecutorEvent`` for the scheduler, the single writer of task state
(``reports.py``); that includes a try that waits without its process (``deferred`` on a
trigger, ``up_for_reschedule`` until its next poke). Such a try resumes later as the same
try with a fresh token, and ``FetchTask`` then tells the agent how to resume it
(``task_fetch.py``). Log lines and XComs are ``task_io.py``; the task and asset state
stores ``task_state.py`` and ``assets.py``; other DAGs' runs (the real Airflow's
``TriggerDagRun``, ``GetTICount``...) ``dag_runs.py``. This class is the gRPC servicer:
each call checks the caller, then hands over to the module that does the job.

A watchdog fails tries whose agent stops heartbeating (killed with SIGKILL, frozen machine)
within ``heartbeat_timeout`` seconds.

Fencing and durability (docs/security.md, "Crash consistency"): ``Authenticate`` records
the start (pid, host) in the try's row and ``ReportState`` the report, each committed
before the agent is answered: an answer means "durably recorded". An agent that sets
``AuthenticateRequest.fetch`` gets its task in the same answer (built after the start is
committed) and does not call ``FetchTask``; older agents and DAG images still do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from leoflow.engine.agent_service.assets import asset_events_call, asset_state_call
from leoflow.engine.agent_service.dag_runs import dag_runs_call
from leoflow.engine.agent_service.fencing import IN_FLIGHT, Fencing, Session
from leoflow.engine.agent_service.reports import report_state
from leoflow.engine.agent_service.task_fetch import TaskFetch
from leoflow.engine.agent_service.task_io import (
    LogSink,
    XComStore,
    pull_xcom,
    push_xcom,
    stream_logs,
)
from leoflow.engine.agent_service.task_state import task_state_call
from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.services.cross_dag import CrossDagRuns
from leoflow.engine.services.task_dag_runs import TaskDagRuns
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import Store, task_instances, tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.rpc import agent_pb2 as pb
from leoflow.rpc import agent_pb2_grpc as pb_grpc

log = logging.getLogger("leoflow.agent_service")

__all__ = ["AgentService", "LogSink", "XComStore"]


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
                 code_roots: Sequence[Path] = (),
                 cross_dag: CrossDagRuns | None = None) -> None:
        self.store = store
        self.report = report
        self.xcom = xcom
        self.logs = logs
        self.on_reported = on_reported
        self.cancel = cancel
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.fencing = Fencing(store)
        self._sessions: dict[str, Session] = self.fencing.sessions
        self.tasks = TaskFetch(store, xcom, code_dir=code_dir, interpreter_for=interpreter_for,
                               secrets_env=secrets_env, task_env=task_env,
                               code_roots=code_roots)
        # other DAGs' runs for the real Airflow's task runner (``dag_runs.py``); without
        # ``cross_dag`` a task can read them but not trigger one
        self.dag_runs = TaskDagRuns(store, cross_dag)
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
            self._sessions.setdefault(ti.id, Session(ti.id, ti.try_number, "", now))
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

    async def _task_instance(self, session: Session) -> TaskInstanceRow:
        """The try's task instance, read now (a call whose check read nothing)."""
        async with self.store.connect() as conn:
            ti = await task_instances.get_task_instance_by_id(conn, session.ti_id)
        if ti is None:
            raise LookupError(f"task instance {session.ti_id} no longer exists")
        return ti

    # -- the calls ------------------------------------------------------------------------------
    async def Authenticate(self, request: pb.AuthenticateRequest,
                           context: grpc.aio.ServicerContext) -> pb.AuthenticateResponse:
        session, ti = await self.fencing.start(context, request)
        await self.report(ExecutorEvent(session.ti_id, session.try_number, "running",
                                        info={"hostname": request.hostname,
                                              "pid": request.pid}))
        response = pb.AuthenticateResponse(task_instance_id=session.ti_id,
                                           try_number=session.try_number,
                                           heartbeat_interval=self.heartbeat_interval,
                                           report_takes_xcoms=True)
        if request.fetch:
            # what FetchTask would answer, built after the start is committed: the token
            # was checked once for both
            response.task.CopyFrom(await self.tasks.fetch(session, context, ti))
        return response

    async def FetchTask(self, request: pb.FetchTaskRequest,
                        context: grpc.aio.ServicerContext) -> pb.FetchTaskResponse:
        session, ti = await self.fencing.checked(context, starting=True)
        return await self.tasks.fetch(session, context, ti)

    async def StreamLogs(self, request_iterator: Any,
                         context: grpc.aio.ServicerContext) -> pb.StreamLogsResponse:
        session, ti = await self.fencing.authorize_row(context, fenced=False)
        # the log's key only (fixed for the task instance id): the row of the session's
        # last check (Authenticate's) does, when there is one
        ti = ti or session.named or await self._task_instance(session)
        return await stream_logs(self.logs, session, ti, request_iterator)

    async def PushXCom(self, request: pb.PushXComRequest,
                       context: grpc.aio.ServicerContext) -> pb.PushXComResponse:
        _session, ti = await self.fencing.checked(context)
        return await push_xcom(self.xcom, ti, request, context)

    async def PullXCom(self, request: pb.PullXComRequest,
                       context: grpc.aio.ServicerContext) -> pb.PullXComResponse:
        session, ti = await self.fencing.authorize_row(context, fenced=False)
        ti, run, spec = await self.tasks.load(session, ti)
        return await pull_xcom(self.tasks, ti, run, spec, request)

    async def Heartbeat(self, request: pb.HeartbeatRequest,
                        context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        session, ti = await self.fencing.authorize_row(context, fenced=False)
        if ti is None:  # the cached session answered: the row is read here, every time
            async with self.store.connect() as conn:
                ti = await task_instances.get_task_instance_by_id(conn, session.ti_id)
        if ti is None or ti.try_number != session.try_number or ti.state not in IN_FLIGHT:
            self._sessions.pop(session.ti_id, None)
            state = ti.state if ti else "deleted"
            return pb.HeartbeatResponse(stop=True, reason=f"the task instance is {state}")
        return pb.HeartbeatResponse(stop=False)

    async def ReportState(self, request: pb.ReportStateRequest,
                          context: grpc.aio.ServicerContext) -> pb.ReportStateResponse:
        session, ti = await self.fencing.checked(context, reporting=True)
        return await report_state(request, context, session, ti, fencing=self.fencing,
                                  logs=self.logs, xcom=self.xcom, report=self.report,
                                  on_reported=self.on_reported)

    async def TaskState(self, request: pb.TaskStateRequest,
                        context: grpc.aio.ServicerContext) -> pb.TaskStateResponse:
        _session, ti = await self.fencing.checked(context)
        return await task_state_call(self.store, ti, request, context)

    async def AssetEvents(self, request: pb.AssetEventsRequest,
                          context: grpc.aio.ServicerContext) -> pb.AssetEventsResponse:
        session, ti = await self.fencing.checked(context)
        _ti, run, _spec = await self.tasks.load(session, ti)
        return await asset_events_call(self.store, await self.tasks.tenant_of(run.dag_id),
                                       request, context)

    async def AssetState(self, request: pb.AssetStateRequest,
                         context: grpc.aio.ServicerContext) -> pb.AssetStateResponse:
        session, ti = await self.fencing.checked(context)
        _ti, run, _spec = await self.tasks.load(session, ti)
        return await asset_state_call(self.store, await self.tasks.tenant_of(run.dag_id),
                                      request, context)

    async def DagRuns(self, request: pb.DagRunsRequest,
                      context: grpc.aio.ServicerContext) -> pb.DagRunsResponse:
        session, ti = await self.fencing.checked(context)
        _ti, run, _spec = await self.tasks.load(session, ti)
        return await dag_runs_call(self.dag_runs, tenant=await self.tasks.tenant_of(run.dag_id),
                                   source_dag_id=run.dag_id,
                                   requested_by=f"{session.ti_id}#{session.try_number}",
                                   request=request, context=context)
