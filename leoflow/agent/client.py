"""The agent's gRPC client: every call with the try's credentials, retried when transient.

Each call carries ``x-leoflow-ti`` and ``authorization: Bearer <token>``. A call that fails
because the control plane is unreachable (``UNAVAILABLE``, ``DEADLINE_EXCEEDED``) is retried
with exponential backoff, a bounded number of times; ``UNAUTHENTICATED`` and
``PERMISSION_DENIED`` end the agent at once (a stale or reused token never becomes valid).

With several control-plane addresses (replicas, ``LEOFLOW_AGENT_ADDRESS=a:1,b:2``) a
transient failure moves the client on to the next address at once; it waits (the backoff)
only after every address failed in a round. The task's token is in the shared database, so
any replica accepts the calls that follow; heartbeats and the log stream fail over too.

Once the control plane has answered this agent, or a call failed after reaching it (it died
under the call: ``may_have_arrived``), it is known to exist: a later call that
finds it unreachable (it is restarting, after a crash) keeps retrying beyond the attempts
for up to ``restart_patience`` seconds (delays capped at ``MAX_DELAY``), so that the report
of a finished task reaches the restarted server instead of being lost with the agent.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import AgentError, AgentRejected, ControlPlaneUnreachable
from leoflow.rpc import agent_pb2 as pb
from leoflow.rpc import agent_pb2_grpc as pb_grpc

T = TypeVar("T")

TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
REJECTED = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
CALL_TIMEOUT = 30.0
RESEND_SECONDS = 5.0  # log messages of a broken stream sent again to the next replica
RESEND_MESSAGES = 512
AGENT_VERSION = "0.1.0"
MAX_DELAY = 2.0  # seconds between two rounds, at most
# gRPC's own reconnection backoff grows to 120 s by default: a channel that saw the control
# plane die would fail every call for minutes after it is back. Capped here.
RECONNECT_BACKOFF_MS = 1000


def may_have_arrived(error: grpc.aio.AioRpcError) -> bool:
    """Whether a transient failure came after a connection to the control plane was made,
    so that the call may have reached it: the control plane exists (it died under the call:
    ``Stream removed``, ``Socket closed``, a reset; or it did not answer in time). Only
    "failed to connect" says nothing was ever there.

    This matters for the first call: a control plane killed after committing an
    ``Authenticate`` but before answering it has recorded the try as started; an agent that
    then gave up after its few attempts would leave a started try that never ran, failed as
    vanished by the restarted control plane. It must wait for the restart instead, as it
    does for every later call."""
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return True
    return "failed to connect" not in (error.details() or "").lower()


def describe(error: grpc.aio.AioRpcError) -> str:
    details = error.details() or ""
    return f"{error.code().name}: {details}" if details else error.code().name


class ControlPlaneClient:
    """Typed calls of ``AgentService`` for one task instance try."""

    def __init__(self, config: AgentConfig,
                 channel: grpc.aio.Channel | None = None) -> None:
        self.config = config
        self.addresses = config.addresses or (config.address,)
        self._channels: dict[int, grpc.aio.Channel] = {} if channel is None else {0: channel}
        self._index = 0
        self.failovers = 0  # times the client moved to another address
        # log messages sent on the current stream, (time, message), for a failover
        self._unconfirmed: deque[tuple[float, pb.LogBatch]] = deque(maxlen=RESEND_MESSAGES)
        self._late: deque[pb.LogBatch] = deque()
        self._streams = 0
        self._reached = False  # the control plane answered once (see the module doc)
        self._use(0)
        self.metadata = (("x-leoflow-ti", config.ti_id),
                         ("authorization", f"Bearer {config.token}"))

    @property
    def address(self) -> str:
        """The address calls go to now."""
        return self.addresses[self._index]

    def _use(self, index: int) -> None:
        self._index = index
        channel = self._channels.get(index)
        if channel is None:
            channel = self._channels[index] = grpc.aio.insecure_channel(
                self.addresses[index],
                options=[("grpc.max_receive_message_length", 64 << 20),
                         ("grpc.max_send_message_length", 64 << 20),
                         ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
                         ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
                         ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS)])
        self.channel = channel
        self.stub = pb_grpc.AgentServiceStub(channel)

    def failover(self, error: grpc.aio.AioRpcError) -> bool:
        """Move on to the next address after a transient ``error``; False with only one."""
        if len(self.addresses) < 2:
            return False
        failed = self.address
        self._use((self._index + 1) % len(self.addresses))
        self.failovers += 1
        print(f"leoflow-agent: {failed}: {describe(error)}; trying {self.address}",
              file=sys.stderr, flush=True)
        return True

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def _call(self, name: str, invoke: Callable[[], Awaitable[T]], *,
                    attempts: int | None = None, timeout_hint: str = "") -> T:
        """Run ``invoke``, retrying transient failures with doubling delays.

        An attempt is a round over every address: a failure moves on to the next address
        at once, and the delay comes only when the whole round failed."""
        attempts = attempts or self.config.connect_attempts
        delay = self.config.connect_backoff
        first_failure: float | None = None
        attempt = 0
        while True:
            attempt += 1
            for _ in self.addresses:
                try:
                    result = await invoke()
                    self._reached = True
                    return result
                except grpc.aio.AioRpcError as exc:
                    error = exc
                    if error.code() not in TRANSIENT:
                        break
                    self._reached = self._reached or may_have_arrived(error)
                    self.failover(error)
            code = error.code()
            if code in REJECTED:
                raise AgentRejected(
                    f"the control plane at {self.address} rejected {name} for task "
                    f"instance {self.config.ti_id} ({describe(error)}); the token is "
                    "wrong, expired or already used") from None
            if code not in TRANSIENT:
                raise AgentError(f"{name} failed: {describe(error)}") from None
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            patient = self._reached and now - first_failure < self.config.restart_patience
            if attempt >= attempts and not patient:
                waited = f" and {now - first_failure:.0f} s" if self._reached else ""
                raise ControlPlaneUnreachable(
                    f"cannot reach the control plane at {self.config.address} "
                    f"({describe(error)}); gave up on {name} after {attempt} attempts"
                    f"{waited}{timeout_hint}") from None
            print(f"leoflow-agent: {name}: {describe(error)}; retrying in {delay:.1f} s",
                  file=sys.stderr, flush=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    async def authenticate(self, *, fetch: bool = True) -> pb.AuthenticateResponse:
        """Start the try; with ``fetch`` the answer carries the task too (``task``), unless
        the control plane predates that (then ``task`` is unset: call ``fetch_task``)."""
        request = pb.AuthenticateRequest(hostname=socket.gethostname(), pid=os.getpid(),
                                         agent_version=AGENT_VERSION, fetch=fetch)
        # the task's inputs may take a while to read, as FetchTask's
        return await self._call("Authenticate", lambda: self.stub.Authenticate(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT if fetch else 5.0))

    async def fetch_task(self) -> pb.FetchTaskResponse:
        return await self._call("FetchTask", lambda: self.stub.FetchTask(
            pb.FetchTaskRequest(), metadata=self.metadata, timeout=CALL_TIMEOUT))

    async def heartbeat(self) -> pb.HeartbeatResponse:
        """One heartbeat, to the first address that answers (one round, no waiting: the
        next beat comes soon enough)."""
        for tried in range(1, len(self.addresses) + 1):
            try:
                return await self.stub.Heartbeat(pb.HeartbeatRequest(),
                                                 metadata=self.metadata, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as error:
                if error.code() not in TRANSIENT or not self.failover(error) \
                        or tried == len(self.addresses):
                    raise
        raise AssertionError("unreachable")

    async def push_xcom(self, key: str, value: Any) -> int:
        """Store ``value`` (JSON-encoded here) under ``key``; returns its stored size."""
        request = pb.PushXComRequest(key=key, value_json=json.dumps(value))
        response = await self._call("PushXCom", lambda: self.stub.PushXCom(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
        return response.size_bytes

    async def pull_xcom(self, task_ids: list[str], key: str,
                        map_indexes: list[int] | None) -> list[Any]:
        request = pb.PullXComRequest(task_ids=task_ids, key=key,
                                     map_indexes=map_indexes or [],
                                     has_map_indexes=map_indexes is not None)
        response = await self._call("PullXCom", lambda: self.stub.PullXCom(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
        values = json.loads(response.values_json or "[]")
        return values if isinstance(values, list) else [values]

    async def task_state(self, action: str, key: str, value: Any = None, *,
                         retention_seconds: float | None = None,
                         never_expire: bool = False) -> tuple[bool, Any]:
        """One task state store call (get/set/delete/clear) for this task instance; returns
        (found, value) for a get."""
        request = pb.TaskStateRequest(action=action, key=key, never_expire=never_expire,
                                      value_json=json.dumps(value) if action == "set" else "")
        if retention_seconds is not None:
            request.retention_seconds = retention_seconds
        response = await self._call("TaskState", lambda: self.stub.TaskState(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
        return response.found, (json.loads(response.value_json) if response.found else None)

    async def asset_events(self, ref: dict[str, Any], *, limit: int | None = None,
                           ascending: bool = True, after: str | None = None,
                           before: str | None = None) -> list[Any]:
        """Past events of an asset or alias of the DAG's tenant (``inlet_events``)."""
        request = pb.AssetEventsRequest(ref_json=json.dumps(ref), ascending=ascending,
                                        after=after or "", before=before or "")
        if limit is not None:
            request.limit = limit
        response = await self._call("AssetEvents", lambda: self.stub.AssetEvents(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
        events = json.loads(response.events_json or "[]")
        return events if isinstance(events, list) else []

    async def asset_state(self, ref: dict[str, Any], action: str, key: str,
                          value: Any = None) -> tuple[bool, Any]:
        """One asset state store call; returns (found, value) for a get."""
        request = pb.AssetStateRequest(ref_json=json.dumps(ref), action=action, key=key,
                                       value_json=json.dumps(value) if action == "set" else "")
        response = await self._call("AssetState", lambda: self.stub.AssetState(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
        return response.found, (json.loads(response.value_json) if response.found else None)

    async def dag_runs(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """One request about other DAG runs (trigger, a run's state, counts, task states, a
        DAG), answered for the DAG's tenant; the answer as the control plane gave it."""
        request = pb.DagRunsRequest(op=op, args_json=json.dumps(args, default=str))
        response = await self._call("DagRuns", lambda: self.stub.DagRuns(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
        answer = json.loads(response.answer_json or "{}")
        return answer if isinstance(answer, dict) else {}

    async def stream_logs(self, batches: AsyncIterator[pb.LogBatch]) -> pb.StreamLogsResponse:
        """The client-streaming ``StreamLogs`` call fed by ``batches``, to its end.

        When it breaks on a transient error the next call (the shipper retries) goes to the
        next address, and starts with the messages sent in the last ``RESEND_SECONDS`` of
        the broken one: a stream confirms nothing before its end, so these may not have
        been stored. A line may then show twice in the log; none is lost."""
        resend = [m for t, m in self._unconfirmed if t >= time.monotonic() - RESEND_SECONDS]
        self._unconfirmed.clear()
        self._streams += 1
        this_stream = self._streams

        def record(message: pb.LogBatch) -> pb.LogBatch:
            self._unconfirmed.append((time.monotonic(), message))
            return message

        async def sent() -> AsyncIterator[pb.LogBatch]:
            for message in resend:
                yield record(message)
            async for message in batches:
                if self._streams != this_stream:
                    # gRPC keeps reading the requests of a failed call until a write fails:
                    # what it took after the failure belongs to the stream that follows.
                    self._late.append(message)
                    return
                while self._late:
                    yield record(self._late.popleft())
                yield record(message)
            while self._late:
                yield record(self._late.popleft())

        try:
            response = await self.stub.StreamLogs(sent(), metadata=self.metadata)
        except grpc.aio.AioRpcError as error:
            if error.code() not in TRANSIENT or not self.failover(error):
                self._unconfirmed.clear()
            raise
        self._unconfirmed.clear()
        return response

    async def report_state(self, request: pb.ReportStateRequest) -> pb.ReportStateResponse:
        return await self._call("ReportState", lambda: self.stub.ReportState(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
