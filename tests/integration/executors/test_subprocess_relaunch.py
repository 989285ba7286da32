"""A try launched again in the same try (a restart or a new leadership term found it never
started) replaces its first agent; the control plane refuses that first agent's token, and
the agent exits with code 4. That exit is not the try's failure: the try belongs to the
newer agent. Real processes stand in for the agents (a custom ``agent_command``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from leoflow.engine.executors.base import ExecutorEvent, TaskLaunch
from leoflow.engine.executors.subprocess import SubprocessExecutor
from leoflow.engine.spec.model import TaskSpec

AGENT = "import sys, time; time.sleep(float(sys.argv[1])); sys.exit(int(sys.argv[2]))"


def launch() -> TaskLaunch:
    return TaskLaunch(ti_id="ti-1", dag_id="d", run_id="r", dag_run_id=1, task_id="t",
                      map_index=-1, try_number=1, dag_version_id="v", operator="python")


async def test_a_refused_replaced_agent_does_not_fail_the_try(tmp_path: Path) -> None:
    events: list[ExecutorEvent] = []

    async def mint(_: TaskLaunch) -> str:
        return "token"

    async def record(event: ExecutorEvent) -> None:
        events.append(event)

    executor = SubprocessExecutor(address="127.0.0.1:1", mint_token=mint,
                                  agent_command=[sys.executable, "-c", AGENT, "0.3", "4"],
                                  output_dir=tmp_path)
    executor.set_callback(record)
    task = TaskSpec(task_id="t", operator="python")
    try:
        await executor.start(launch(), task)  # refused after the relaunch: exits 4
        first = executor.pid_of("ti-1")
        executor.agent_command = [sys.executable, "-c", AGENT, "1.5", "1"]
        await executor.start(launch(), task)  # the same try, launched again
        second = executor.pid_of("ti-1")
        assert second not in (None, first)
        await asyncio.sleep(1.0)
        assert events == []  # the first agent's refusal failed nothing
        for _ in range(100):  # the second one exits 1 without reporting: that is a failure
            if events:
                break
            await asyncio.sleep(0.05)
        assert [(e.state, e.try_number) for e in events] == [("failed", 1)]
        assert "exited with code 1" in (events[0].error or "")
    finally:
        await executor.close()
