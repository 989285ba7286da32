"""Failures through the real path: killed agents, timeouts, values XCom refuses, a control
plane restart with a task in flight, and a task that prints a million lines.

The DAGs are in ``projects/failures/dag.py`` (one project, so one environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from leoflow.engine.logs import LogKey
from leoflow.engine.logs.records import decode_line
from leoflow.engine.store.rows import DagRunRow
from tests.e2e.harness import Harness, Projects, RunResult, open_plane

pytestmark = pytest.mark.slow

FAILURES = Path(__file__).parent / "projects" / "failures"


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        await asyncio.sleep(0.05)
    return [p for p in pids if alive(p)]


async def printed(harness: Harness, run, task_id: str, prefix: str, try_number: int = 1,
                  timeout: float = 20.0) -> str:
    """The first stdout line of a try starting with ``prefix``, read from its live log."""
    key = LogKey(run.dag_id, run.run_id, task_id, try_number=try_number, map_index=-1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records, _ = await harness.plane.logs.read(key)
        for record in records:
            if record.stream == "stdout" and record.event.startswith(prefix):
                return record.event
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{task_id} printed no line starting {prefix!r} within {timeout:g} s")


async def printed_pids(harness: Harness, run, task_id: str) -> list[int]:
    """The pids a task printed first thing (``pid N [child M] [try T]``)."""
    line = await printed(harness, run, task_id, "pid ")
    return [int(n) for n in re.findall(r"\d+", line.split(" try ")[0])]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def kill_agents(harness: Harness, run, task_ids: list[str]) -> tuple[float, list[int]]:
    """SIGKILL the process group of each task's agent; returns when, and the user pids."""
    tis = [await harness.wait_running(run, task_id) for task_id in task_ids]
    user_pids = [pid for task_id in task_ids
                 for pid in await printed_pids(harness, run, task_id)]
    agents = [harness.plane.subprocess_executor.pid_of(ti) for ti in tis]
    assert all(agents), agents
    killed_at = time.monotonic()
    for pid in agents:
        os.killpg(pid, signal.SIGKILL)
    return killed_at, user_pids


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


async def test_sigkill_of_an_agent_fails_or_retries_the_try_at_once(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(FAILURES)
    user_pids: list[int] = []
    try:
        async with open_plane(e2e_home, sqlite_url) as harness:
            dag_id = await harness.register(prepared, "sleepers")
            run = await harness.trigger(dag_id, {"seconds": 60})
            killed_at, user_pids = await kill_agents(harness, run, ["nap_once", "nap_retry"])
            state = await harness.wait(run, timeout=30)
            result = await harness.result(run)
    finally:
        kill_all(user_pids)  # a safety net: they die with their agent (test below)
    assert state == "failed"
    assert result.tasks["nap_once"].state == "failed"
    assert "killed by signal 9" in (result.tasks["nap_once"].error or "")
    # the try with a retry left is retried, and the second try succeeds
    retried = result.tasks["nap_retry"]
    assert [(n, s) for n, s, _ in retried.tries] == [(1, "up_for_retry"), (2, "success")]
    assert result.xcom["nap_retry"] == 2
    finished = [t for t, kind, d in result.events
                if kind == "ti.finished" and d["task_id"] == "nap_once"]
    assert finished[0] - killed_at < 3.0  # the executor saw the exit: no heartbeat wait
    # what the task printed before it was killed is in its log
    assert result.lines("nap_retry", 1, streams=("stdout",))[0].startswith("pid ")


async def test_sigkill_of_an_agent_leaves_no_user_process(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(FAILURES)
    user_pids: list[int] = []
    try:
        async with open_plane(e2e_home, sqlite_url) as harness:
            dag_id = await harness.register(prepared, "sleepers")
            run = await harness.trigger(dag_id, {"seconds": 60})
            _, user_pids = await kill_agents(harness, run, ["nap_once"])
            await harness.wait_event(lambda kind, d: kind == "ti.finished"
                                     and d["task_id"] == "nap_once", timeout=10)
            left = await wait_gone(user_pids, timeout=5)
    finally:
        kill_all(user_pids)
    assert left == []


async def test_execution_timeout_fails_the_try_and_kills_its_processes(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(FAILURES)
    async with open_plane(e2e_home, sqlite_url) as harness:
        dag_id = await harness.register(prepared, "timeout")
        run = await harness.trigger(dag_id)
        await harness.wait_running(run, "stuck")
        pids = await printed_pids(harness, run, "stuck")
        assert len(pids) == 2 and all(alive(p) for p in pids)
        state = await harness.wait(run, timeout=30)
        result = await harness.result(run)
    assert state == "failed"
    stuck = result.tasks["stuck"]
    assert stuck.state == "failed" and stuck.try_number == 1
    assert "AirflowTaskTimeout" in (stuck.error or ""), stuck.error
    assert result.tasks["after_stuck"].state == "upstream_failed"
    # the user process and the child it started are gone
    assert await wait_gone(pids, timeout=10) == []


async def test_values_xcom_refuses_fail_the_task_clearly(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(FAILURES)
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="bad_values", timeout=30)
    assert result.state == "failed"
    too_big = result.tasks["too_big"]
    assert too_big.state == "failed"
    assert "256" in (too_big.error or "") or "262144" in (too_big.error or ""), too_big.error
    assert "too_big" in too_big.error and "return_value" in too_big.error
    assert ("too_big", "return_value") not in result.keys  # nothing stored
    a_set = result.tasks["a_set"]
    assert a_set.state == "failed"
    assert "TypeError" in (a_set.error or "") and "set" in a_set.error, a_set.error
    assert not any(task == "a_set" for task, _ in result.keys)
    assert result.tasks["downstream"].state == "upstream_failed"
    assert result.tasks["downstream_of_set"].state == "upstream_failed"


async def restart_with_task_in_flight(projects: Projects, sqlite_url: str,
                                      e2e_home: Path) -> RunResult:
    """Stop the control plane (keeping agents) while ``slow`` sleeps; start a new one."""
    prepared = await projects.prepare(FAILURES)
    port = free_port()
    async with open_plane(e2e_home, sqlite_url, grpc_port=port) as first:
        dag_id = await first.register(prepared, "restart")
        run = await first.trigger(dag_id, {"seconds": 3})
        ti_id = await first.wait_running(run, "slow")
        await printed(first, run, "slow", "before the restart")
        agent = first.plane.subprocess_executor.pid_of(ti_id)
        assert agent is not None
        await first.plane.stop(keep_agents=True)
    assert alive(agent)
    async with open_plane(e2e_home, sqlite_url, grpc_port=port) as second:
        await second.wait(run, timeout=30)
        result = await second.result(run)
    if result.state == "success":
        assert await wait_gone([agent]) == []  # it reported, then exited
    else:
        kill_all([agent])
    return result


async def test_restart_with_a_task_in_flight_adopts_its_agent(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    result = await restart_with_task_in_flight(projects, sqlite_url, e2e_home)
    assert result.state == "success", (result.states(), result.tasks["slow"].error)
    slow = result.tasks["slow"]
    assert slow.try_number == 1 and len(slow.tries) == 1  # the same try finished
    assert result.xcom == {"slow": 41, "plus_one": 42}
    lines = result.lines("slow", streams=("stdout",))
    assert lines[1] == "before the restart" and lines[-1] == "done"
    # the agent's own lines (what it ran, how it ended) are in the same log
    agent = result.lines("slow", streams=("agent",))
    assert agent[0].startswith("running restart.slow (try 1)")
    assert any(line.startswith("task success after") for line in agent), agent
    assert result.lines("plus_one", streams=("stdout",)) == ["got 41"]


async def test_restart_loses_no_log_line(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    result = await restart_with_task_in_flight(projects, sqlite_url, e2e_home)
    assert result.lines("slow", streams=("stdout",))[1:] == [
        "before the restart", "after the restart", "done"]


async def adopt_sleeping_agent(projects: Projects, sqlite_url: str, e2e_home: Path,
                               port: int) -> tuple[DagRunRow, int, int]:
    """Start ``slow`` for a minute and stop the control plane under it (agents kept)."""
    prepared = await projects.prepare(FAILURES)
    async with open_plane(e2e_home, sqlite_url, grpc_port=port) as first:
        dag_id = await first.register(prepared, "restart")
        run = await first.trigger(dag_id, {"seconds": 60})
        ti_id = await first.wait_running(run, "slow")
        (user,) = await printed_pids(first, run, "slow")
        await printed(first, run, "slow", "before the restart")
        agent = first.plane.subprocess_executor.pid_of(ti_id)
        assert agent is not None
        await first.plane.stop(keep_agents=True)
    return run, agent, user


async def test_an_adopted_agent_that_dies_fails_its_try_at_once(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    port = free_port()
    run, agent, user = await adopt_sleeping_agent(projects, sqlite_url, e2e_home, port)
    try:
        async with open_plane(e2e_home, sqlite_url, grpc_port=port) as second:
            await asyncio.sleep(0.5)
            os.killpg(agent, signal.SIGKILL)
            killed_at = time.monotonic()
            state = await second.wait(run, timeout=30)
            detected = time.monotonic() - killed_at
            result = await second.result(run)
    finally:
        kill_all([user])
    assert state == "failed"
    assert "exited before reporting" in (result.tasks["slow"].error or "")
    assert detected < 3.0  # seen by the pid watch, before any heartbeat deadline


async def test_an_adopted_agent_that_hangs_is_failed_by_missed_heartbeats(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    port = free_port()
    run, agent, user = await adopt_sleeping_agent(projects, sqlite_url, e2e_home, port)
    try:
        async with open_plane(e2e_home, sqlite_url, grpc_port=port,
                              heartbeat_timeout=3.0) as second:
            await asyncio.sleep(0.5)
            os.killpg(agent, signal.SIGSTOP)  # frozen: alive, silent
            stopped_at = time.monotonic()
            state = await second.wait(run, timeout=30)
            detected = time.monotonic() - stopped_at
            result = await second.result(run)
            assert await wait_gone([agent], timeout=5) == []  # its group was killed
    finally:
        kill_all([agent, user])
    assert state == "failed"
    assert "no heartbeat for 3 s" in (result.tasks["slow"].error or "")
    assert detected < 3.0 + 3.0


async def test_a_million_lines_are_stored_in_bounded_memory(
        projects: Projects, sqlite_url: str, e2e_home: Path) -> None:
    prepared = await projects.prepare(FAILURES)
    lines = 1_000_000
    async with open_plane(e2e_home, sqlite_url) as harness:
        dag_id = await harness.register(prepared, "chatty")
        before = rss_kb()
        peak = before
        started = time.monotonic()
        run = await harness.trigger(dag_id, {"lines": lines})
        waiter = asyncio.create_task(harness.wait(run, timeout=120))
        while not waiter.done():
            peak = max(peak, rss_kb())
            await asyncio.sleep(0.05)
        state = waiter.result()
        ran = time.monotonic() - started
        key = LogKey(run.dag_id, run.run_id, "print_lines", try_number=1, map_index=-1)
        await harness.plane.logs.flush(key)
        count, first, last = await asyncio.to_thread(stdout_lines, harness.plane.logs.path(key))
        result = await harness.result(run, max_log_records=10)
    assert state == "success"
    assert result.xcom["print_lines"] == lines
    assert (count, first, last) == (lines, "line 0", f"line {lines - 1}")
    growth_mb = (peak - before) / 1024
    print(f"{lines} lines: run {ran:.1f} s, read back {time.monotonic() - started - ran:.1f} s,"
          f" control-plane RSS growth {growth_mb:.1f} MB")
    assert growth_mb < 64, f"RSS grew by {growth_mb:.1f} MB"


def stdout_lines(path: Path) -> tuple[int, str | None, str | None]:
    """How many stdout records a log file holds, and the first and last one's text."""
    count, first, last = 0, None, None
    with open(path, "rb") as handle:
        for raw in handle:
            if b'"stream":"stdout"' in raw:
                count += 1
                last = raw
                first = first or raw
    def text(raw: bytes | None) -> str | None:
        return None if raw is None else decode_line(raw).event
    return count, text(first), text(last)


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
