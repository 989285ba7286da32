"""Warm agents: started ahead so that a task does not wait for the agent's imports.

Each try still gets a process of its own that ran nothing before; these tests check that a
warm agent is used once, that a dead one is replaced by a cold start, and that none is
left behind (after stop, or after the idle delay).
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


async def test_each_try_takes_a_warm_agent_once(projects: Projects, sqlite_url: str,
                                                e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        dag_id = await harness.register(prepared)
        first = await harness.run(prepared)
        assert first.state == "success"
        deadline = time.monotonic() + 10
        while len(executor.warm_pids()) < executor.warm_agents and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        warm = executor.warm_pids()
        assert len(warm) == executor.warm_agents == 2
        run = await harness.trigger(dag_id)
        ti = await harness.wait_running(run, "make_greeting")
        used = executor.pid_of(ti)
        assert used == warm[0]  # the oldest warm agent took the try
        assert await harness.wait(run) == "success"
        result = await harness.result(run)
        assert result.xcom["shout"] == "HELLO, LEOFLOW!"
        assert not alive(used)  # used once: it exited after its try
        assert used not in executor.warm_pids()
        left = executor.warm_pids()
    assert await wait_gone(left, timeout=5) == []  # stop ends the warm agents


async def test_a_dead_warm_agent_is_replaced_by_a_cold_start(projects: Projects,
                                                             sqlite_url: str,
                                                             e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        assert (await harness.run(prepared)).state == "success"
        deadline = time.monotonic() + 10
        while len(executor.warm_pids()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for pid in executor.warm_pids():
            os.killpg(pid, signal.SIGKILL)
        assert await wait_gone(executor.warm_pids() or [], timeout=5) == []
        result = await harness.run(prepared)
    assert result.state == "success"
    assert result.xcom["shout"] == "HELLO, LEOFLOW!"


async def test_warm_agents_end_after_the_idle_delay(projects: Projects, sqlite_url: str,
                                                    e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "hello")
    async with open_plane(e2e_home, sqlite_url) as harness:
        executor = harness.plane.subprocess_executor
        executor.warm_idle = 2.0
        started = time.monotonic()
        assert (await harness.run(prepared)).state == "success"
        warm: list[int] = []
        while not warm and time.monotonic() - started < 10:
            warm = executor.warm_pids()
            await asyncio.sleep(0.02)
        assert warm
        deadline = time.monotonic() + 10
        while executor.warm_pids() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert executor.warm_pids() == []
        assert await wait_gone(warm, timeout=5) == []
        # the next try starts cold, and the pool fills again
        assert (await harness.run(prepared)).state == "success"
