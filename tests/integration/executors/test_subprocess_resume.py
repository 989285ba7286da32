"""A resumed try (deferred or rescheduled) starts a second agent for the same try while the
first one may still be exiting: the executor must keep supervising the second one and must
not truncate the first one's output file. Real processes stand in for the two agents (a
custom ``agent_command``), so no control plane is needed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from leoflow.engine.executors.base import ExecutorEvent, TaskLaunch
from leoflow.engine.executors.subprocess import SubprocessExecutor
from leoflow.engine.spec.model import TaskSpec

# The first "agent" prints, then lingers a little (as an agent does after it reported the
# deferral); the second prints and stays until cancelled.
AGENT = ("import os, sys, time; print('agent', os.environ['LEOFLOW_TOKEN'], flush=True); "
         "time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.3)")


def launch() -> TaskLaunch:
    return TaskLaunch(ti_id="ti-1", dag_id="d", run_id="r", dag_run_id=1, task_id="t",
                      map_index=-1, try_number=1, dag_version_id="v", operator="python")


async def test_the_first_agent_of_a_resumed_try_exiting_does_not_drop_the_second(
        tmp_path: Path) -> None:
    tokens = iter(["first", "second"])
    lines: list[str] = []
    events: list[ExecutorEvent] = []

    async def mint(_: TaskLaunch) -> str:
        return next(tokens)

    async def output(_: TaskLaunch, line: str) -> None:
        lines.append(line)

    async def record(event: ExecutorEvent) -> None:
        events.append(event)

    executor = SubprocessExecutor(address="127.0.0.1:1", mint_token=mint,
                                  agent_command=[sys.executable, "-c", AGENT],
                                  on_agent_output=output, output_dir=tmp_path)
    executor.set_callback(record)
    task = TaskSpec(task_id="t", operator="python")
    try:
        await executor.start(launch(), task)
        first = executor.pid_of("ti-1")
        executor.note_reported("ti-1")  # the first agent reported "deferred"
        executor.agent_command = [sys.executable, "-c", AGENT, "30"]
        await executor.start(launch(), task)  # the trigger fired: the same try resumes
        second = executor.pid_of("ti-1")
        assert second not in (None, first)
        for _ in range(100):  # the first agent exits after 0.3 s
            if "agent first" in lines:
                break
            await asyncio.sleep(0.05)
        assert "agent first" in lines  # its output was forwarded, not truncated
        assert executor.pid_of("ti-1") == second  # still supervised
        assert executor.running() == ["ti-1"]
        assert events == []  # the first agent had reported: its exit is no failure
    finally:
        await executor.cancel("ti-1", "test over")
        await executor.close()
