"""An agent given several control-plane addresses survives the one it talks to going away.

The two control planes here are the agent tests' TEST DOUBLE of the agent service (a real
gRPC server, scripted answers; tests/integration/agent/control_plane.py): what is under
test is the real ``leoflow-agent`` process moving between them. The real replicas are in
tests/e2e/test_ha.py.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import AgentConfigError
from tests.integration.agent.control_plane import (
    ScriptedControlPlane,
    fetch,
    run_agent_process,
    start_server,
)

DAG = """
import time
from leoflow import DAG, task
with DAG("demo") as dag:
    @task
    def slow():
        print("before", flush=True)
        time.sleep(2.0)
        print("after", flush=True)
        return 42
    slow()
"""


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def test_the_agent_moves_to_the_next_replica_and_finishes_there(project) -> None:
    folder = project(DAG)
    first = ScriptedControlPlane(fetch(str(folder), "slow"))
    second = ScriptedControlPlane(fetch(str(folder), "slow"))
    first_server, first_address = await start_server(first)
    second_server, second_address = await start_server(second)
    try:
        agent = asyncio.create_task(run_agent_process(f"{first_address},{second_address}"))
        for _ in range(200):  # the task started on the first replica
            if any(line == "before" for _, line in first.recorded.lines):
                break
            await asyncio.sleep(0.05)
        assert first.recorded.authenticated == 1
        await first_server.stop(grace=None)  # the replica dies mid-task
        run = await asyncio.wait_for(agent, 60)
        assert run.returncode == 0, run.stderr
        # the result reached the second replica: the task ran once, not from the start
        assert second.recorded.report.state == "success"
        assert second.recorded.pushed == {"return_value": 42}
        assert second.recorded.authenticated == 0
        assert "after" in second.recorded.text("stdout")  # nothing lost in the switch
        assert f"trying {second_address}" in run.stderr
    finally:
        await second_server.stop(grace=None)


async def test_a_dead_first_address_is_skipped_without_waiting(project) -> None:
    folder = project(DAG.replace("2.0", "0.1"))
    live = ScriptedControlPlane(fetch(str(folder), "slow"))
    server, address = await start_server(live)
    try:
        run = await run_agent_process(f"{closed_port()},{address}")
        assert run.returncode == 0, run.stderr
        assert live.recorded.report.state == "success"
        assert "retrying in" not in run.stderr  # moved on at once, no backoff
    finally:
        await server.stop(grace=None)


def test_every_address_must_be_host_port() -> None:
    env = {"LEOFLOW_TI_ID": "ti", "LEOFLOW_TOKEN": "t"}
    config = AgentConfig.from_environ({**env, "LEOFLOW_AGENT_ADDRESS": "a:1, b:2"})
    assert config.addresses == ("a:1", "b:2")
    with pytest.raises(AgentConfigError, match="'b' is not host:port"):
        AgentConfig.from_environ({**env, "LEOFLOW_AGENT_ADDRESS": "a:1,b"})
