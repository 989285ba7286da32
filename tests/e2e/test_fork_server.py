"""The agents' fork server: one process does the agent's imports once and forks an agent
for each try, so that a task does not wait for (or pay the CPU of) a new interpreter.

Each try still gets a process of its own; these tests check that agents are forked and
used once, that a killed fork server is replaced (or bypassed), that its children outlive
it when the control plane stops for a restart, and that it ends when idle or stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.harness import EXAMPLES, Projects, open_plane
from tests.e2e.test_failures import alive, wait_gone

pytestmark = pytest.mark.slow


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


async def test_agents_are_forked_once_each_and_the_server_ends_with_the_plane(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        dag_id = await harness.register(prepared)
        run = await harness.trigger(dag_id)
        first = await harness.wait_running(run, "make_greeting")
        server = executor.fork_server_pid()
        agent = executor.pid_of(first)
        assert server is not None and agent is not None
        assert parent_of(agent) == server  # forked, not a new interpreter
        assert os.getsid(agent) == agent  # in a session of its own
        second = await harness.wait_running(run, "shout")
        assert executor.pid_of(second) not in (None, agent)  # a new process per try
        assert await harness.wait(run) == "success"
        result = await harness.result(run)
        assert result.xcom["shout"] == "HELLO, LEOFLOW!"
        # the agent's own last line (written after it reported) reached the log
        assert any("reported success" in line
                   for line in result.lines("make_greeting", streams=("agent",)))
    assert await wait_gone([server], timeout=5) == []


async def test_a_killed_fork_server_is_replaced(projects: Projects, sqlite_url: str,
                                               e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        assert (await harness.run(prepared)).state == "success"
        old = executor.fork_server_pid()
        assert old is not None
        os.killpg(old, signal.SIGKILL)
        assert await wait_gone([old], timeout=5) == []
        await asyncio.sleep(0.2)
        result = await harness.run(prepared)
        assert result.state == "success" and result.xcom["shout"] == "HELLO, LEOFLOW!"
        assert executor.fork_server_pid() not in (None, old)


async def test_the_fork_server_ends_when_idle(projects: Projects, sqlite_url: str,
                                             e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        # long enough that the run's end is seen before it ends on a loaded machine
        executor.fork_idle = 3.0
        assert (await harness.run(prepared)).state == "success"
        server = executor.fork_server_pid()
        assert server is not None
        deadline = time.monotonic() + 10
        while executor.fork_server_pid() is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert executor.fork_server_pid() is None
        assert await wait_gone([server], timeout=5) == []
        # the next try starts it again
        assert (await harness.run(prepared)).state == "success"
        assert alive(executor.fork_server_pid() or 0)


async def test_plain_starts_when_the_fork_server_is_off(projects: Projects, sqlite_url: str,
                                                       e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        executor.fork_server = False
        dag_id = await harness.register(prepared)
        run = await harness.trigger(dag_id)
        ti = await harness.wait_running(run, "make_greeting")
        agent = executor.pid_of(ti)
        assert agent is not None and parent_of(agent) == os.getpid()
        assert await harness.wait(run) == "success"
        assert executor.fork_server_pid() is None
