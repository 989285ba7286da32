"""TEST DOUBLE: a scripted executor that stands in for the real ones in scheduler tests.

The real executors (subprocess agents, Kubernetes pods) live in leoflow/engine/executors;
this one runs nothing. Each started try waits for the test to say how it ends, or ends by
itself according to ``outcomes`` (task_id → list of states, one per try).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from leoflow.engine.executors.base import EventCallback, ExecutorEvent, TaskLaunch
from leoflow.engine.spec.model import TaskSpec


class ScriptedExecutor:
    name = "scripted"

    def __init__(self, *, auto: bool = False,
                 outcomes: dict[str, list[str]] | None = None,
                 infos: dict[str, dict[str, Any]] | None = None) -> None:
        self.auto = auto
        self.outcomes = {k: list(v) for k, v in (outcomes or {}).items()}
        self.infos = infos or {}
        self.callback: EventCallback | None = None
        self.started: list[TaskLaunch] = []
        self.cancelled: list[tuple[str, str]] = []
        self.reconciled: list[TaskLaunch] = []
        self.lost_on_reconcile = True
        self._tasks: set[asyncio.Task[None]] = set()
        self.changed = asyncio.Event()

    def set_callback(self, callback: EventCallback) -> None:
        self.callback = callback

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        self.started.append(launch)
        self.changed.set()
        if self.auto or launch.task_id in self.outcomes:
            queue = self.outcomes.get(launch.task_id)
            state = queue.pop(0) if queue else "success"
            job = asyncio.create_task(self._finish(launch, state,
                                                   self.infos.get(launch.task_id, {})))
            self._tasks.add(job)
            job.add_done_callback(self._tasks.discard)

    async def _finish(self, launch: TaskLaunch, state: str, info: dict[str, Any]) -> None:
        assert self.callback is not None
        await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, "running"))
        if state != "hang":
            await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, state,
                                              error="scripted failure" if state == "failed"
                                              else None, info=info))

    async def finish(self, task_id: str, state: str = "success", *, map_index: int = -1,
                     info: dict[str, Any] | None = None, error: str | None = None,
                     run_id: str | None = None) -> None:
        """End the latest try of ``task_id`` (in ``run_id`` if given): a test's way to say
        "the task is done"."""
        launch = self.latest(task_id, map_index, run_id)
        assert self.callback is not None
        await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, "running"))
        await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, state,
                                          error=error, info=info or {}))

    async def running(self, task_id: str, *, map_index: int = -1,
                      run_id: str | None = None) -> None:
        """Report that the latest try of ``task_id`` started (and leave it running)."""
        launch = self.latest(task_id, map_index, run_id)
        assert self.callback is not None
        await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, "running"))

    async def drain(self) -> None:
        """Wait for the tries that end by themselves (``auto`` / ``outcomes``) to report."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def latest(self, task_id: str, map_index: int = -1, run_id: str | None = None) -> TaskLaunch:
        for launch in reversed(self.started):
            if launch.task_id == task_id and launch.map_index == map_index \
                    and run_id in (None, launch.run_id):
                return launch
        raise AssertionError(f"{task_id}[{map_index}] was never started; started: "
                             f"{[(s.task_id, s.map_index) for s in self.started]}")

    def started_ids(self) -> list[str]:
        return [s.task_id if s.map_index < 0 else f"{s.task_id}[{s.map_index}]"
                for s in self.started]

    async def cancel(self, ti_id: str, reason: str) -> None:
        self.cancelled.append((ti_id, reason))

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        self.reconciled.extend(known)
        if self.lost_on_reconcile and self.callback is not None:
            for launch in known:
                await self.callback(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                                  error="lost while the scheduler was down"))

    async def close(self) -> None:
        for job in list(self._tasks):
            job.cancel()
