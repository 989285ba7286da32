"""The real agent service over real gRPC, on SQLite and PostgreSQL: the calls of a try as a
current agent makes them (the task in Authenticate's answer) and as older agents do
(Authenticate, then FetchTask), each checked against the try's fencing record."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import AgentRejected
from leoflow.engine.agent_service.service import AgentService
from leoflow.engine.store import tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.xcom.sql import SqlXComBackend
from leoflow.rpc import agent_pb2_grpc as pb_grpc
from tests.integration.scheduler.conftest import Harness, make_harness, spec, task
from tests.integration.scheduler.scripted_executor import ScriptedExecutor


class Lines:
    """The log sink (the service only queues lines to it): what it was given, in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.finished = 0

    async def write_lines(self, ti: TaskInstanceRow, try_number: int, stream: str,
                          lines: list[str], timestamp: float | None) -> None:
        self.lines.extend((stream, line) for line in lines)

    async def finish(self, ti: TaskInstanceRow, try_number: int) -> None:
        self.finished += 1


Serve = Callable[[], Awaitable[tuple[AgentService, str]]]


@pytest.fixture
async def harness(db_url: str, clock: Any) -> AsyncIterator[Harness]:
    h = await make_harness(db_url, clock, ScriptedExecutor())
    yield h
    await h.scheduler.stop()
    await h.store.close()


@pytest.fixture
async def serve(harness: Harness, tmp_path: Path) -> AsyncIterator[Serve]:
    """``service, address = await serve()``: a new agent service on the harness's store
    (a second call is a restarted control plane: nothing of the first in memory)."""
    servers: list[grpc.aio.Server] = []

    async def start() -> tuple[AgentService, str]:
        service = AgentService(harness.store, report=harness.scheduler.report,
                               xcom=SqlXComBackend(harness.store), logs=Lines(),
                               code_dir=tmp_path / "code",
                               interpreter_for=lambda _spec: sys.executable)
        server = grpc.aio.server()
        pb_grpc.add_AgentServiceServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return service, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(None)


async def _queued_try(h: Harness, dag_id: str) -> tuple[str, str]:
    """A queued try of task ``a`` and its token, as the executor hands them to an agent."""
    await h.register(spec(dag_id, task("a", inputs={"args": [{"literal": 41}],
                                                   "kwargs": {}})))
    await h.trigger(dag_id)
    launch = h.executor.latest("a")
    async with h.store.begin() as conn:
        token = await tokens.mint_token(conn, launch.ti_id, launch.try_number)
    return launch.ti_id, token


def _client(address: str, ti_id: str, token: str) -> ControlPlaneClient:
    return ControlPlaneClient(AgentConfig(address=address, ti_id=ti_id, token=token,
                                          connect_attempts=1))


async def test_authenticate_answers_with_the_task_fetchtask_would_give(harness, serve):
    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "with_task")
    client = _client(address, ti_id, token)
    try:
        auth = await client.authenticate()
        assert auth.HasField("task")
        assert (auth.task.dag_id, auth.task.task_id, auth.task.try_number,
                auth.task.args_json) == ("with_task", "a", 1, "[41]")
        # the start is committed before the answer, with the agent's pid
        async with harness.store.connect() as conn:
            attempt = await tokens.check_token(conn, ti_id, token)
        assert attempt is not None and attempt.started
        # an older agent's FetchTask, on the same token, answers the same task
        assert await client.fetch_task() == auth.task
    finally:
        await client.close()


async def test_an_older_agent_authenticates_then_fetches(harness, serve):
    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "old_agent")
    client = _client(address, ti_id, token)
    try:
        auth = await client.authenticate(fetch=False)
        assert not auth.HasField("task") and auth.try_number == 1
        task_ = await client.fetch_task()
        assert (task_.task_id, task_.args_json) == ("a", "[41]")
        await harness.settle()
        assert (await harness.ti("old_agent", (await harness.runs("old_agent"))[0].run_id,
                                 "a")).state == "running"
    finally:
        await client.close()


async def test_a_stale_token_gets_no_task(harness, serve):
    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "stale")
    async with harness.store.begin() as conn:
        await tokens.revoke_token(conn, ti_id)
    client = _client(address, ti_id, token)
    try:
        with pytest.raises(AgentRejected):
            await client.authenticate()
    finally:
        await client.close()
