"""Build a task's own virtual environment before its try starts (``@task.virtualenv``).

``PreparingExecutor`` wraps the subprocess executor. A try whose task asks for an
environment of its own (``options.virtualenv`` in dag.json) that is not built yet is started
only once the environment exists: the build runs as a background task of the control plane
(uv in a subprocess, never blocking the event loop), its progress goes to the try's log,
and a build that fails fails the try (its retries apply, as when Airflow's operator cannot
create its virtualenv). An environment already built starts the try at once.

While it builds, the try stays ``queued``: no agent holds a slot, no heartbeat is due. A
control plane that stops during a build leaves no process; after a restart the try is
reconciled like any other that has none (failed, then retried if it has retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

from leoflow.engine.environments.task_envs import TaskEnvironments, VenvRequest
from leoflow.engine.executors.base import EventCallback, Executor, ExecutorEvent, TaskLaunch
from leoflow.engine.spec.model import TaskSpec

log = logging.getLogger("leoflow.executor.task_environment")

WriteLines = Callable[[TaskLaunch, list[str]], Awaitable[None]]


class PreparingExecutor:
    """An executor that makes a task's environment first, then hands the try to ``inner``."""

    def __init__(self, inner: Executor, environments: TaskEnvironments,
                 write_lines: WriteLines) -> None:
        self.inner = inner
        self.name = inner.name
        self.environments = environments
        self.write_lines = write_lines
        self._callback: EventCallback | None = None
        self._building: dict[str, asyncio.Task[None]] = {}

    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback
        self.inner.set_callback(callback)

    def building(self) -> list[str]:
        """The task instances whose environment is being built (observability, tests)."""
        return list(self._building)

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        request = VenvRequest.from_options(task.options)
        if request is None or self.environments.find_for(request) is not None:
            await self.inner.start(launch, task)
            return
        job = asyncio.create_task(self._prepare(launch, task, request),
                                  name=f"venv-build-{launch.ti_id}")
        self._building[launch.ti_id] = job
        job.add_done_callback(functools.partial(self._finished, launch.ti_id))

    def _finished(self, ti_id: str, job: asyncio.Task[None]) -> None:
        if self._building.get(ti_id) is job:
            del self._building[ti_id]
        if not job.cancelled() and job.exception() is not None:
            log.error("preparing the environment of %s failed", ti_id,
                      exc_info=job.exception())

    async def _prepare(self, launch: TaskLaunch, task: TaskSpec,
                       request: VenvRequest) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write(launch, lines))
        lines.put_nowait(f"preparing the task's virtual environment ({request.describe()})")
        error: str | None = None
        try:
            await self.environments.ensure_for(request, lines.put_nowait)
        except Exception as exc:  # EnvironmentBuildError, UvNotFound, OSError...
            error = f"cannot create the task's virtual environment: {exc}"
            for line in (str(getattr(exc, "output", "") or "")).splitlines()[-20:]:
                lines.put_nowait(line)
            lines.put_nowait(error)
        finally:
            lines.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
        if self._building.get(launch.ti_id) is asyncio.current_task():
            del self._building[launch.ti_id]  # from here on, a cancel goes to ``inner``
        if error is not None:
            if self._callback is not None:
                await self._callback(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                                   error=error))
            return
        await self.inner.start(launch, task)

    async def _write(self, launch: TaskLaunch, lines: asyncio.Queue[str | None]) -> None:
        """One writer per build, so the lines reach the log in order, in batches."""
        done = False
        while not done:
            batch = [await lines.get()]
            while not lines.empty():
                batch.append(lines.get_nowait())
            done = batch[-1] is None
            text = [line for line in batch if line is not None]
            if text:
                try:
                    await self.write_lines(launch, text)
                except Exception:
                    log.exception("cannot write the environment build's log of %s",
                                  launch.ti_id)

    async def cancel(self, ti_id: str, reason: str) -> None:
        job = self._building.pop(ti_id, None)
        if job is not None:
            job.cancel()
            with contextlib.suppress(BaseException):
                await job
            return
        await self.inner.cancel(ti_id, reason)

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        await self.inner.reconcile(known)

    async def cancel_builds(self) -> None:
        """Stop the builds in progress (the control plane is stopping)."""
        for job in list(self._building.values()):
            job.cancel()
        await asyncio.gather(*self._building.values(), return_exceptions=True)
        self._building.clear()

    async def close(self) -> None:
        await self.inner.close()
