"""A try's whole process tree ends with it (issue 15, item 5), through the real path.

A task starts ``sleep 1000`` in the background, a daemon that leaves its session with
``setsid`` (and ticks into a file), and one that also clears its environment. Its agent is
killed with SIGKILL: within a bounded time none of them may remain (read from /proc), and
the retry, which starts right after (retry_delay 0), must see none of them alive nor
ticking. The same for a bash task whose ``execution_timeout`` kills its process group, which
the setsid daemon is not in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from leoflow.engine.executors.try_tree import cgroup_available
from tests.e2e.harness import Harness, Projects, open_plane

pytestmark = pytest.mark.slow

TREES = Path(__file__).parent / "projects" / "process_trees"
BOUND = 5.0  # seconds within which the tree must be gone after its agent died


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tagged(tag: str) -> set[int]:
    """Live processes whose environment holds ``TREE_TAG=<tag>`` (what the task started)."""
    found = set()
    needle = f"TREE_TAG={tag}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{name}/environ").read_bytes().split(b"\0") \
                    and alive(int(name)):
                found.add(int(name))
    return found


def pids_in(folder: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in folder.glob("*.pid")
            if path.read_text().strip()}


async def gone_within(folder: Path, bound: float) -> tuple[float, dict[str, int], set[int]]:
    """Seconds until every process of the tree is gone (or ``bound``), and what is left."""
    started = time.monotonic()
    while True:
        left = {name: pid for name, pid in pids_in(folder).items() if alive(pid)}
        stray = tagged(str(folder))
        elapsed = time.monotonic() - started
        if (not left and not stray) or elapsed > bound:
            return elapsed, left, stray
        await asyncio.sleep(0.01)


def kill_leftovers(folder: Path) -> None:
    """The safety net of a failing test: nothing it started outlives it."""
    for pid in [*pids_in(folder).values(), *tagged(str(folder))]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


async def wait_line(harness: Harness, run, task_id: str, text: str, timeout: float = 30.0
                    ) -> None:
    from leoflow.engine.logs import LogKey

    key = LogKey(run.dag_id, run.run_id, task_id, try_number=1, map_index=-1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records, _ = await harness.plane.logs.read(key)
        if any(r.event == text for r in records):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{task_id} did not print {text!r}")


async def test_sigkill_of_the_agent_ends_the_whole_tree_before_the_retry(
        projects: Projects, sqlite_url: str, e2e_home: Path, tmp_path: Path) -> None:
    prepared = await projects.prepare(TREES)
    folder = tmp_path / "tree"
    folder.mkdir()
    try:
        async with open_plane(e2e_home, sqlite_url) as harness:
            dag_id = await harness.register(prepared, "trees")
            run = await harness.trigger(dag_id, {"dir": str(folder)})
            ti_id = await harness.wait_running(run, "spawner")
            await wait_line(harness, run, "spawner", "spawned")
            started = pids_in(folder)
            assert set(started) == {"sleep", "daemon", "hidden"}
            assert all(alive(pid) for pid in started.values())
            agent = harness.plane.subprocess_executor.pid_of(ti_id)
            assert agent is not None
            os.kill(agent, signal.SIGKILL)  # the agent alone, as a crash would
            elapsed, left, stray = await gone_within(folder, BOUND)
            state = await harness.wait(run, timeout=60)
            result = await harness.result(run)
    finally:
        kill_leftovers(folder)
    print(f"tree of 4 processes gone {elapsed * 1000:.0f} ms after the agent's SIGKILL")
    if not cgroup_available():  # only a cgroup finds a process that cleared its env and
        left.pop("hidden", None)  # left its session (docs/security.md)
    assert left == {} and stray == set(), (left, stray)
    assert elapsed < BOUND
    spawner = result.tasks["spawner"]
    assert [(n, s) for n, s, _ in spawner.tries] == [(1, "up_for_retry"), (2, "success")]
    assert "killed by signal 9" in (spawner.tries[0][2] or "")
    assert state == "success"
    seen = result.xcom["spawner"]
    expected_alive = [] if cgroup_available() else ["hidden"]
    assert seen == {"alive": expected_alive, "ticks_after_start": 0}, seen


async def test_timeout_ends_the_daemon_that_left_the_task_session(
        projects: Projects, sqlite_url: str, e2e_home: Path, tmp_path: Path) -> None:
    prepared = await projects.prepare(TREES)
    folder = tmp_path / "bash"
    folder.mkdir()
    try:
        async with open_plane(e2e_home, sqlite_url) as harness:
            dag_id = await harness.register(prepared, "bash_trees")
            run = await harness.trigger(dag_id, {"dir": str(folder)})
            await harness.wait_running(run, "bash_spawner")
            deadline = time.monotonic() + 20
            while set(pids_in(folder)) != {"sleep", "daemon"}:
                assert time.monotonic() < deadline, pids_in(folder)
                await asyncio.sleep(0.02)
            state = await harness.wait(run, timeout=30)
            # the try is over: nothing of it may still run
            # (the scheduler's timer fails the try, then stops it: a short bound after)
            elapsed, left, stray = await gone_within(folder, 2.0)
            result = await harness.result(run)
    finally:
        kill_leftovers(folder)
    assert state == "failed"
    assert "AirflowTaskTimeout" in (result.tasks["bash_spawner"].error or "")
    print(f"timed-out tree gone {elapsed * 1000:.0f} ms after the run ended")
    assert left == {} and stray == set(), (left, stray, elapsed)
