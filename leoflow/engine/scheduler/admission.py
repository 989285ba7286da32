"""Admission: which scheduled task instances go to an executor now, and why the others wait.

A try holds a slot from ``queued`` until it ends or parks (deferred, up_for_reschedule):
one of ``parallelism`` across all DAGs, one of its DAG's ``max_active_tasks``, and
``pool_slots`` of its pool. ``Slots`` is that bookkeeping, in memory (rebuilt by
``Scheduler.start`` from the task instances queued or running); ``Admission.hand_out`` takes
a run's ready task instances in priority order and either queues each for its executor or
records the reason it waits (``waiting_reason``, shown to users as Airflow shows it). Runs
held back by a limit are remembered, so that a freed slot re-evaluates exactly those.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.scheduler.decisions import TIKey
from leoflow.engine.scheduler.run_views import OCCUPYING, RunView, RunViews
from leoflow.engine.scheduler.timers import Timers
from leoflow.engine.scheduler.work_items import Batch, Cancel
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import pools
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow

POOL_CACHE_SECONDS = 1.0  # pool sizes are re-read at most this often (Airflow: once a loop)
CHANGED_BY_A_USER = "changed by a user (cleared, marked or deleted)"


@dataclass
class Occupant:
    """A try holding slots: whose it is, which pool, which executor runs it."""

    dag_id: str
    dag_run_id: int
    pool: str
    slots: int
    try_number: int
    executor: str | None


class Slots:
    """The slots in use (by task instance id), the runs held back by a limit, pool sizes."""

    def __init__(self, parallelism: int, timers: Timers) -> None:
        self.parallelism = parallelism
        self._timers = timers
        self.occupied: dict[str, Occupant] = {}
        self.changed = False  # a slot was freed since the last batch looked
        self.held_runs: set[int] = set()
        self._pool_sizes: dict[str, tuple[int | None, float]] = {}

    def occupy(self, ti_id: str, occupant: Occupant) -> None:
        self.occupied[ti_id] = occupant

    def release(self, ti_id: str) -> Occupant | None:
        """Free a try's slots; the runs held back by a limit are looked at again."""
        occupant = self.occupied.pop(ti_id, None)
        if occupant is not None:
            self.changed = True
        return occupant

    def stop_changed(self, batch: Batch, dag_run_id: int,
                     tis: list[TaskInstanceRow] | None) -> None:
        """A run was read again: tries the loop launched whose task instance someone else
        ended (cleared, marked, deleted; ``tis`` is ``None`` when the run is gone) are
        stopped now, before this batch launches their next try. The operation's own
        ``cancel_task`` comes later and then leaves the next try alone."""
        occupied = self.occupied
        if tis is None:
            ended = [t for t, o in occupied.items() if o.dag_run_id == dag_run_id]
        else:
            ended = [ti.id for ti in tis if ti.id in occupied and (
                ti.state not in OCCUPYING or ti.try_number != occupied[ti.id].try_number)]
        for ti_id in ended:
            occupant = self.release(ti_id)
            if occupant is not None:
                batch.cancels.append(Cancel(ti_id, occupant.executor, CHANGED_BY_A_USER))
            self._timers.cancel(("timeout", ti_id))

    def snapshot(self) -> tuple[dict[str, Occupant], bool]:
        """What a batch may change, to put back when it rolls back."""
        return dict(self.occupied), self.changed

    def restore(self, saved: tuple[dict[str, Occupant], bool]) -> None:
        self.occupied, self.changed = dict(saved[0]), saved[1]

    def forget_pool_sizes(self) -> None:
        """A pool was created or resized: read the sizes again."""
        self._pool_sizes.clear()
        self.changed = True

    def limit_reason(self, dag_id: str, spec: DagSpec) -> str | None:
        """Why a task of ``dag_id`` may not start now (parallelism, max_active_tasks)."""
        if len(self.occupied) >= self.parallelism:
            return (f"waiting for a free slot: parallelism ({self.parallelism}) task "
                    "instances are queued or running")
        in_dag = sum(1 for o in self.occupied.values() if o.dag_id == dag_id)
        if in_dag >= spec.max_active_tasks:
            return (f"waiting: max_active_tasks ({spec.max_active_tasks}) of DAG {dag_id!r} "
                    "are queued or running")
        return None

    async def pool_reason(self, conn: AsyncConnection, ti: TaskInstanceRow) -> str | None:
        """Why ``ti`` may not start now for want of pool slots."""
        size = await self._pool_size(conn, ti.pool)
        if size is None:
            return f"waiting: pool {ti.pool!r} does not exist (create it, or change the task)"
        used = sum(o.slots for o in self.occupied.values() if o.pool == ti.pool)
        if used + ti.pool_slots > size:
            return (f"waiting: pool {ti.pool!r} has {max(size - used, 0)} free slot(s) of "
                    f"{size}, the task needs {ti.pool_slots}")
        return None

    async def _pool_size(self, conn: AsyncConnection, name: str) -> int | None:
        cached = self._pool_sizes.get(name)
        if cached is not None and time.monotonic() - cached[1] < POOL_CACHE_SECONDS:
            return cached[0]
        row = await pools.get_pool(conn, name)
        size = None if row is None else row.slots
        self._pool_sizes[name] = (size, time.monotonic())
        return size


class WaitFromStart(Protocol):
    """Parks a start-from-trigger sensor that is due (``Deferral.wait_from_start``)."""

    async def __call__(self, conn: AsyncConnection, batch: Batch, view: RunView,
                       ti: TaskInstanceRow, task: TaskSpec, *, new_try: bool) -> None: ...


class Admission:
    """Hands a run's scheduled task instances to executors within the limits."""

    def __init__(self, slots: Slots, views: RunViews, wait_from_start: WaitFromStart,
                 executor_for: Callable[[TaskSpec], str]) -> None:
        self._slots = slots
        self._views = views
        self._wait_from_start = wait_from_start
        self._executor_for = executor_for

    async def hand_out(self, conn: AsyncConnection, batch: Batch, view: RunView,
                       fresh: list[TIKey]) -> None:
        """Queue what may start (``batch.launches``); record why the rest waits."""
        run, spec, now = view.run, view.spec, batch.now
        write = self._views.write
        new = set(fresh)
        ready = [view.tis[k] for k in fresh]
        ready.extend(t for k, t in view.tis.items() if t.state == "scheduled" and k not in new)
        if not ready:
            self._slots.held_runs.discard(run.id)
            return
        if len(ready) > 1:
            order = {tid: i for i, tid in enumerate(view.graph.order)}
            ready.sort(key=lambda t: (-t.priority_weight, order.get(t.task_id, 0), t.map_index))
        held = False
        for ti in ready:
            is_new = (ti.task_id, ti.map_index) in new
            # A reschedule sensor's next poke continues its try; anything else that is new
            # starts one (and forgets the previous try's deferral).
            fresh_try = is_new and ti.state != "up_for_reschedule"
            task = spec.task(ti.task_id)
            if task.sensor is not None and task.sensor.trigger is not None:
                await self._wait_from_start(conn, batch, view, ti, task, new_try=fresh_try)
                continue
            start: dict[str, Any] = {}
            if fresh_try:
                start = {"try_number": ti.try_number + 1, "next_method": None,
                         "next_kwargs": None, "first_poke_at": None, "trigger_id": None,
                         "trigger_timeout": None}
            reason = self._slots.limit_reason(run.dag_id, spec)
            if reason is None:
                reason = await self._slots.pool_reason(conn, ti)
            if reason is not None:
                held = True
                if is_new:
                    await write(conn, batch, view, ti, "scheduled", **start,
                                next_retry_at=None, waiting_reason=reason)
                elif ti.waiting_reason != reason:
                    await write(conn, batch, view, ti, "scheduled",
                                scheduled_at=ti.scheduled_at, waiting_reason=reason)
                continue
            executor = self._executor_for(task)
            if is_new:
                row = await write(conn, batch, view, ti, "queued", **start, scheduled_at=now,
                                  next_retry_at=None, executor=executor, waiting_reason=None)
            else:
                row = await write(conn, batch, view, ti, "queued", executor=executor,
                                  waiting_reason=None)
            self._slots.occupy(ti.id, Occupant(ti.dag_id, run.id, ti.pool, ti.pool_slots,
                                               row.try_number, executor))
            batch.launches.append((launch_of(row, run, operator=task.operator,
                                             timeout=task.execution_timeout), task))
        if held:
            self._slots.held_runs.add(run.id)
        else:
            self._slots.held_runs.discard(run.id)


def launch_of(ti: TaskInstanceRow, run: DagRunRow, *, operator: str,
              timeout: float | None = None) -> TaskLaunch:
    """What an executor needs to start (or adopt) ``ti``'s current try."""
    return TaskLaunch(ti_id=ti.id, dag_id=ti.dag_id, run_id=ti.run_id, dag_run_id=run.id,
                      task_id=ti.task_id, map_index=ti.map_index, try_number=ti.try_number,
                      dag_version_id=run.dag_version_id, operator=operator,
                      execution_timeout=timeout, pid=ti.pid)
