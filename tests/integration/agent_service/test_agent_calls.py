"""The real agent service over real gRPC, on SQLite and PostgreSQL: the calls of a try as a
current agent makes them (the task in Authenticate's answer, the XComs in the report) and as
older agents do (Authenticate then FetchTask; PushXCom then ReportState), each checked
against the try's fencing record."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import AgentError, AgentRejected
from leoflow.engine.agent_service.service import AgentService
from leoflow.engine.store import tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.xcom.forwarding import ForwardingXCom
from leoflow.engine.xcom.sql import SqlXComBackend
from leoflow.rpc import agent_pb2 as pb
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


async def _values(h: Harness, dag_id: str) -> dict[str, Any]:
    run = (await h.runs(dag_id))[0]
    entries = (await SqlXComBackend(h.store).list(dag_run_id=run.id, limit=None)).items
    return {e.key: e.value for e in entries}


def _success(**values: Any) -> pb.ReportStateRequest:
    return pb.ReportStateRequest(state="success", xcoms=[
        pb.OutcomeXCom(key=k, value_json=json.dumps(v)) for k, v in values.items()])


async def test_a_report_carries_its_xcoms_and_a_resent_one_writes_nothing(harness, serve):
    service, address = await serve()
    events: list[str] = []

    async def counted(event: Any) -> None:
        events.append(event.state)
        await harness.scheduler.report(event)

    service.report = counted
    ti_id, token = await _queued_try(harness, "carried")
    client = _client(address, ti_id, token)
    try:
        auth = await client.authenticate()
        assert auth.report_takes_xcoms
        answer = await client.report_state(_success(n=1, return_value={"a": 1}))
        assert answer.recorded_state == "success"
    finally:
        await client.close()
    # committed with the report, before the answer
    assert await _values(harness, "carried") == {"n": 1, "return_value": {"a": 1}}
    await harness.settle()
    run_id = (await harness.runs("carried"))[0].run_id
    assert await harness.states("carried", run_id) == {"a": "success"}

    # the answer was lost; the agent resends to a restarted control plane: the first
    # report stands, nothing is written or queued again
    restarted, address = await serve()
    restarted.report = counted
    client = _client(address, ti_id, token)
    try:
        answer = await client.report_state(_success(n=2, return_value={"a": 2}))
        assert answer.recorded_state == "success"
    finally:
        await client.close()
    assert await _values(harness, "carried") == {"n": 1, "return_value": {"a": 1}}
    assert events == ["running", "success"]


async def test_a_refused_xcom_fails_the_try_as_a_refused_push_does(harness, serve):
    service, address = await serve()
    ti_id, token = await _queued_try(harness, "too_big")
    client = _client(address, ti_id, token)
    big = "x" * 300_000
    try:
        await client.authenticate()
        with pytest.raises(AgentError) as pushed:  # the old path: PushXCom refuses it
            await client.push_xcom("return_value", big)
        answer = await client.report_state(_success(small=1, return_value=big))
        assert answer.recorded_state == "failed"
    finally:
        await client.close()
    async with harness.store.connect() as conn:
        attempt = await tokens.check_token(conn, ti_id, token)
    assert attempt is not None and attempt.report is not None
    # the message the agent makes of a refused push, and nothing stored (not even "small")
    assert attempt.report["error"] == (
        f"XComPushError: cannot store XCom 'return_value': {pushed.value} (exit code 1)")
    assert "above the 256 KB limit" in attempt.report["error"]
    assert await _values(harness, "too_big") == {}
    assert any("XComs were not stored" in line for _, line in service.logs.lines)


async def test_an_older_agent_pushes_then_reports(harness, serve):
    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "pushed")
    client = _client(address, ti_id, token)
    try:
        await client.authenticate(fetch=False)
        await client.fetch_task()
        assert await client.push_xcom("return_value", 42) == 2
        answer = await client.report_state(pb.ReportStateRequest(state="success"))
        assert answer.recorded_state == "success"
    finally:
        await client.close()
    assert await _values(harness, "pushed") == {"return_value": 42}


async def test_xcoms_only_travel_with_a_success(harness, serve):
    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "failed_with")
    client = _client(address, ti_id, token)
    try:
        await client.authenticate()
        request = _success(return_value=1)
        request.state = "failed"
        with pytest.raises(AgentError, match="only a success carries XComs"):
            await client.report_state(request)
    finally:
        await client.close()
    assert await _values(harness, "failed_with") == {}


class RefusingXCom(ForwardingXCom):
    """The SQL backend, refusing writes of ``key`` as a full disk does (that failure is
    produced for real in tests/integration/xcom/test_xcom_disk_full.py, which needs root)."""

    def __init__(self, backend: SqlXComBackend, key: str) -> None:
        super().__init__(backend)
        self.key = key

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = "return_value", value: Any, conn: Any = None) -> int:
        if key == self.key:
            raise OSError("no space left on device")
        return await super().push(dag_run_id=dag_run_id, task_id=task_id,
                                  map_index=map_index, key=key, value=value, conn=conn)


async def test_a_write_refused_in_the_transaction_rolls_the_report_back(harness, serve):
    service, address = await serve()
    service.xcom = RefusingXCom(SqlXComBackend(harness.store), "return_value")
    ti_id, token = await _queued_try(harness, "disk_full")
    client = _client(address, ti_id, token)
    try:
        await client.authenticate()
        answer = await client.report_state(_success(first=1, return_value=2))
        assert answer.recorded_state == "failed"
    finally:
        await client.close()
    async with harness.store.connect() as conn:
        attempt = await tokens.check_token(conn, ti_id, token)
    assert attempt is not None and attempt.report is not None
    assert attempt.report["error"] == (
        "XComPushError: cannot store XCom 'return_value': PushXCom failed: "
        "INVALID_ARGUMENT: no space left on device (exit code 1)")
    assert await _values(harness, "disk_full") == {}  # "first" was rolled back with it


async def _queued_version(h: Harness, dag_id: str, literal: int) -> tuple[str, str]:
    """A queued try of task ``a`` of a new version of ``dag_id`` (its input ``literal``)."""
    await h.register(spec(dag_id, task("a", inputs={"args": [{"literal": literal}],
                                                   "kwargs": {}})))
    run_id = await h.trigger(dag_id, run_id=f"{dag_id}_{literal}")
    launch = h.executor.latest("a", run_id=run_id)
    async with h.store.begin() as conn:
        token = await tokens.mint_token(conn, launch.ti_id, launch.try_number)
    return launch.ti_id, token


@pytest.mark.parametrize("cached_versions", [64, 1])
async def test_each_run_is_given_its_own_versions_spec(harness, serve, cached_versions):
    """Parsed specs are kept by DAG version: a run of a new version is not given the old
    version's task, and a version pushed out of the (bounded) cache is read again."""
    service, address = await serve()
    service.tasks._specs.size = cached_versions
    old = await _queued_version(harness, "versions", 41)
    old_client = _client(address, *old)
    try:
        assert (await old_client.authenticate()).task.args_json == "[41]"
        new = await _queued_version(harness, "versions", 42)
        new_client = _client(address, *new)
        try:
            assert (await new_client.authenticate()).task.args_json == "[42]"
            assert len(service.tasks._specs) == min(2, cached_versions)
            # the old version's try, asked again (an older agent's FetchTask)
            assert (await old_client.fetch_task()).args_json == "[41]"
            assert (await new_client.fetch_task()).args_json == "[42]"
        finally:
            await new_client.close()
    finally:
        await old_client.close()


async def test_every_acting_call_checks_the_token_in_the_store(harness, serve):
    """The task instance a call acts on is the one its own token check read: once the
    token is revoked in the store (another replica, a restart), the next call is refused
    although this service authenticated the agent a moment ago."""
    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "revoked_later")
    client = _client(address, ti_id, token)
    try:
        await client.authenticate()
        assert await client.push_xcom("k", 1) > 0
        async with harness.store.begin() as conn:
            await tokens.revoke_token(conn, ti_id)
        with pytest.raises(AgentRejected):
            await client.push_xcom("k", 2)
        with pytest.raises(AgentRejected):
            await client.task_state("get", "k")
        with pytest.raises(AgentRejected):
            await client.report_state(_success())
        async with harness.store.connect() as conn:
            assert await tokens.check_token(conn, ti_id, token) is None
    finally:
        await client.close()


async def test_a_refused_authenticate_records_no_start(harness, serve):
    """The check and the start are one transaction: a try no longer in flight is refused
    and its token row keeps no start (pid, host)."""
    from sqlalchemy import update

    from leoflow.engine.store.tables import task_instance

    _service, address = await serve()
    ti_id, token = await _queued_try(harness, "not_in_flight")
    async with harness.store.begin() as conn:
        await conn.execute(update(task_instance).where(task_instance.c.id == ti_id)
                           .values(state="failed"))
    client = _client(address, ti_id, token)
    try:
        with pytest.raises(AgentRejected):
            await client.authenticate()
    finally:
        await client.close()
    async with harness.store.connect() as conn:
        attempt = await tokens.check_token(conn, ti_id, token)
    assert attempt is not None and not attempt.started


async def test_log_lines_after_authenticate_are_keyed_without_a_read(harness, serve):
    """StreamLogs names its lines from the row Authenticate's check read (the dag, run,
    task and map index of a task instance never change): no statement reaches the store."""
    from sqlalchemy import event

    named: list[tuple[str, str, str, int, int]] = []

    class Named(Lines):
        async def write_lines(self, ti: TaskInstanceRow, try_number: int, stream: str,
                              lines: list[str], timestamp: float | None) -> None:
            named.append((ti.dag_id, ti.run_id, ti.task_id, ti.map_index, try_number))

    service, address = await serve()
    service.logs = Named()
    ti_id, token = await _queued_try(harness, "keyed")
    client = _client(address, ti_id, token)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    try:
        await client.authenticate()
        await harness.settle()  # the scheduler has applied "running": it reads nothing more
        event.listen(harness.store.engine.sync_engine, "before_cursor_execute", count)
        try:
            async def batches() -> AsyncIterator[pb.LogBatch]:
                yield pb.LogBatch(lines=[pb.LogLine(stream="stdout", line="hi", timestamp=1.0)])

            assert (await client.stream_logs(batches())).lines_stored == 1
        finally:
            event.remove(harness.store.engine.sync_engine, "before_cursor_execute", count)
        run = (await harness.runs("keyed"))[0]
        assert named == [("keyed", run.run_id, "a", -1, 1)]
        assert statements == []
    finally:
        await client.close()
