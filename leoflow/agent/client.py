"""The agent's gRPC client: every call with the try's credentials, retried when transient.

Each call carries ``x-leoflow-ti`` and ``authorization: Bearer <token>``. A call that fails
because the control plane is unreachable (``UNAVAILABLE``, ``DEADLINE_EXCEEDED``) is retried
with exponential backoff, a bounded number of times; ``UNAUTHENTICATED`` and
``PERMISSION_DENIED`` end the agent at once (a stale or reused token never becomes valid).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
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
AGENT_VERSION = "0.1.0"


def describe(error: grpc.aio.AioRpcError) -> str:
    details = error.details() or ""
    return f"{error.code().name}: {details}" if details else error.code().name


class ControlPlaneClient:
    """Typed calls of ``AgentService`` for one task instance try."""

    def __init__(self, config: AgentConfig,
                 channel: grpc.aio.Channel | None = None) -> None:
        self.config = config
        self.channel = channel or grpc.aio.insecure_channel(
            config.address, options=[("grpc.max_receive_message_length", 64 << 20),
                                     ("grpc.max_send_message_length", 64 << 20)])
        self.stub = pb_grpc.AgentServiceStub(self.channel)
        self.metadata = (("x-leoflow-ti", config.ti_id),
                         ("authorization", f"Bearer {config.token}"))

    async def close(self) -> None:
        await self.channel.close()

    async def _call(self, name: str, invoke: Callable[[], Awaitable[T]], *,
                    attempts: int | None = None, timeout_hint: str = "") -> T:
        """Run ``invoke``, retrying transient failures with doubling delays."""
        attempts = attempts or self.config.connect_attempts
        delay = self.config.connect_backoff
        for attempt in range(1, attempts + 1):
            try:
                return await invoke()
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code in REJECTED:
                    raise AgentRejected(
                        f"the control plane at {self.config.address} rejected {name} for task "
                        f"instance {self.config.ti_id} ({describe(error)}); the token is "
                        "wrong, expired or already used") from None
                if code not in TRANSIENT:
                    raise AgentError(f"{name} failed: {describe(error)}") from None
                if attempt == attempts:
                    raise ControlPlaneUnreachable(
                        f"cannot reach the control plane at {self.config.address} "
                        f"({describe(error)}); gave up on {name} after {attempts} attempts"
                        f"{timeout_hint}") from None
                print(f"leoflow-agent: {name}: {describe(error)}; retrying in {delay:.1f} s",
                      file=sys.stderr, flush=True)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def authenticate(self) -> pb.AuthenticateResponse:
        request = pb.AuthenticateRequest(hostname=socket.gethostname(), pid=os.getpid(),
                                         agent_version=AGENT_VERSION)
        return await self._call("Authenticate", lambda: self.stub.Authenticate(
            request, metadata=self.metadata, timeout=5.0))

    async def fetch_task(self) -> pb.FetchTaskResponse:
        return await self._call("FetchTask", lambda: self.stub.FetchTask(
            pb.FetchTaskRequest(), metadata=self.metadata, timeout=CALL_TIMEOUT))

    async def heartbeat(self) -> pb.HeartbeatResponse:
        return await self.stub.Heartbeat(pb.HeartbeatRequest(), metadata=self.metadata,
                                         timeout=CALL_TIMEOUT)

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

    def stream_logs(self, batches: AsyncIterator[pb.LogBatch]) -> Any:
        """Start the client-streaming ``StreamLogs`` call fed by ``batches``."""
        return self.stub.StreamLogs(batches, metadata=self.metadata)

    async def report_state(self, request: pb.ReportStateRequest) -> pb.ReportStateResponse:
        return await self._call("ReportState", lambda: self.stub.ReportState(
            request, metadata=self.metadata, timeout=CALL_TIMEOUT))
