"""An agent whose first call reached a control plane that then died waits for the restart.

A control plane killed after committing an ``Authenticate`` but before answering it has
recorded the try as started. An agent that gave up after its few connect attempts would
leave a started try that never ran, which the restarted control plane then fails as
vanished (found by the crash trials under load). Real gRPC servers on 127.0.0.1: the first
one dies under the call, the second one starts on the same port later and answers.
"""

from __future__ import annotations

import asyncio
import socket
import time

import grpc
import pytest

from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import ControlPlaneUnreachable
from leoflow.rpc import agent_pb2 as pb
from leoflow.rpc import agent_pb2_grpc as pb_grpc


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DiesUnderTheCall(pb_grpc.AgentServiceServicer):
    """Receives Authenticate, then its server is stopped before it answers."""

    def __init__(self) -> None:
        self.received = asyncio.Event()

    async def Authenticate(self, request, context):
        self.received.set()
        await asyncio.sleep(30)  # the server is stopped meanwhile
        return pb.AuthenticateResponse()


class Answers(pb_grpc.AgentServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def Authenticate(self, request, context):
        self.calls += 1
        return pb.AuthenticateResponse(task_instance_id="ti-1", try_number=1,
                                       heartbeat_interval=2)


async def _serve(servicer: pb_grpc.AgentServiceServicer, port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    pb_grpc.add_AgentServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


def _client(port: int) -> ControlPlaneClient:
    return ControlPlaneClient(AgentConfig(address=f"127.0.0.1:{port}", ti_id="ti-1",
                                          token="t", connect_attempts=2,
                                          connect_backoff=0.1, restart_patience=30.0))


async def test_a_first_call_that_reached_a_dying_control_plane_waits_for_its_restart() -> None:
    port = _free_port()
    dying = DiesUnderTheCall()
    first = await _serve(dying, port)
    client = _client(port)
    call = asyncio.create_task(client.authenticate(fetch=False))
    try:
        await asyncio.wait_for(dying.received.wait(), 10)
        await first.stop(0)  # killed under the call: the agent sees the stream removed
        # down for longer than the 2 attempts (0.1 s + 0.2 s of backoff) would wait
        await asyncio.sleep(2.0)
        assert not call.done(), "the agent gave up while the control plane restarted"
        answers = Answers()
        second = await _serve(answers, port)
        try:
            response = await asyncio.wait_for(call, 20)
        finally:
            await second.stop(0)
        assert (response.task_instance_id, answers.calls) == ("ti-1", 1)
    finally:
        call.cancel()
        await client.close()


async def test_a_control_plane_never_reached_is_given_up_after_the_attempts() -> None:
    client = _client(_free_port())  # nothing listens there
    started = time.monotonic()
    try:
        with pytest.raises(ControlPlaneUnreachable, match="gave up on Authenticate after 2"):
            await client.authenticate(fetch=False)
    finally:
        await client.close()
    assert time.monotonic() - started < 10
