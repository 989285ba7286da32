"""A run's life in the loop: start, evaluate with the pure rules, expand, finish, time out.

Evaluating a run applies ``decisions.evaluate_run`` to its view and writes what the rules
decided: mapped tasks expanded, task instances skipped or upstream_failed, no-op tasks
completed on the spot (Airflow never sends EmptyOperator to an executor either), the rest
scheduled and handed to ``Admission``. A queued run starts only within its DAG's
``max_active_runs``; runs that wait for a run slot, and catch-up runs not yet created for
want of one, go as soon as a run of the DAG ends. ``dagrun_timeout`` fails the run and
skips what had not finished, stopping in-flight tries through their executor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.admission import Admission, Slots
from leoflow.engine.scheduler.asset_events import AssetEvents
from leoflow.engine.scheduler.cron import Schedules
from leoflow.engine.scheduler.decisions import TIKey, evaluate_run
from leoflow.engine.scheduler.run_inputs import mapped_lengths
from leoflow.engine.scheduler.run_views import (
    FINISHED_RUN_STATES,
    FINISHED_TI,
    OCCUPYING,
    PARKED,
    RunView,
    RunViews,
)
from leoflow.engine.scheduler.timers import Timers
from leoflow.engine.scheduler.tries import Tries
from leoflow.engine.scheduler.work_items import Batch, Cancel, RunItem, RunTimeoutItem
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import runs, task_instances
from leoflow.engine.store.task_instances import NewTaskInstance

# Operators the scheduler completes itself: nothing to run (Airflow never sends
# EmptyOperator to an executor either).
NOOP_OPERATORS = frozenset({"empty"})


class Lifecycle:
    """Moves runs (see the module docstring)."""

    def __init__(self, views: RunViews, slots: Slots, timers: Timers, tries: Tries,
                 admission: Admission, schedules: Schedules, assets: AssetEvents) -> None:
        self._views = views
        self._slots = slots
        self._timers = timers
        self._tries = tries
        self._admission = admission
        self._schedules = schedules
        self._assets = assets
        self._waiting_runs: dict[str, set[int]] = {}  # queued runs at max_active_runs

    def take_waiting(self, dag_id: str) -> set[int]:
        """The queued runs of ``dag_id`` that waited for a run slot (to evaluate again)."""
        return self._waiting_runs.pop(dag_id, set())

    async def evaluate(self, conn: AsyncConnection, batch: Batch, dag_run_id: int) -> list[int]:
        """Apply the rules to one run; returns other runs to evaluate (freed run slots)."""
        views, now = self._views, batch.now
        view = await views.view(conn, batch, dag_run_id)
        if view is None:
            self._slots.held_runs.discard(dag_run_id)
            return []
        run = view.run
        if run.state in FINISHED_RUN_STATES:
            # Finished elsewhere (a user marked it): it no longer holds a run slot.
            views.forget(run.id)
            self._slots.held_runs.discard(run.id)
            return await self.release_dag(conn, run.dag_id, batch)
        if await self._schedules.is_paused(conn, run.dag_id):
            return []  # Airflow examines no run of a paused DAG; unpausing wakes them
        spec, graph = view.spec, view.graph
        if run.state == "queued":
            if not await self._start_run(conn, batch, view):
                return []
            run = view.run
        if not view.tis:
            for row in await task_instances.create_task_instances(
                    conn, run, [_new_ti(task) for task in spec.tasks]):
                views.keep(view, row)
        states: dict[TIKey, str | None] = {k: t.state for k, t in view.tis.items()}
        fresh: list[TIKey] = []  # to be scheduled now (a new try)
        for _ in range(len(spec.tasks) + 2):  # each pass completes no-op tasks; bounded
            decision = evaluate_run(
                graph, states,
                mapped_lengths=await mapped_lengths(conn, view, states),
                branch_choices=view.branch, short_circuits=view.short_circuit,
                not_before={**{k: t.next_retry_at for k, t in view.tis.items()
                               if t.state in ("up_for_retry", "up_for_reschedule")
                               and t.next_retry_at is not None},
                            # parked on a trigger: only its event moves it
                            **{k: PARKED for k, t in view.tis.items()
                               if t.state == "up_for_reschedule"
                               and t.trigger_id is not None}},
                now=now)
            # expand first: a mapped group's task may expand and settle instances at once
            for task_id, length in decision.expand.items():
                await self._expand(conn, view, states, task_id, length)
            for key in decision.skip:
                await views.write(conn, batch, view, view.tis[key], "skipped")
                states[key] = "skipped"
            for key in decision.upstream_failed:
                await views.write(conn, batch, view, view.tis[key], "upstream_failed")
                states[key] = "upstream_failed"
            completed_noop = False
            for key in decision.schedule:
                ti = view.tis[key]
                task_spec = spec.task(ti.task_id)
                if task_spec.operator in NOOP_OPERATORS:
                    row = await views.write(conn, batch, view, ti, "success",
                                            try_number=ti.try_number + 1, scheduled_at=now,
                                            queued_at=now, start_date=now, duration=0.0,
                                            next_retry_at=None, waiting_reason=None)
                    await task_instances.record_try_of(conn, row)
                    if task_spec.outlets:  # an EmptyOperator with outlets emits events too
                        batch.asset_runs.update(await self._assets.record_task_success(
                            conn, run=view.run, ti=row, task=task_spec, outlet_events=None,
                            now=now))
                    states[key] = "success"
                    completed_noop = True
                else:
                    states[key] = "scheduled"
                    fresh.append(key)
            if not completed_noop:
                break
        await self._admission.hand_out(conn, batch, view, fresh)
        if decision.finished:
            return await self._finish_run(conn, batch, view, decision.run_state.value)
        if decision.next_wakeup is not None:
            self._timers.set(("wakeup", run.id), decision.next_wakeup, RunItem(run.id))
        return []

    async def _expand(self, conn: AsyncConnection, view: RunView,
                      states: dict[TIKey, str | None], task_id: str, length: int) -> None:
        # The placeholder row becomes map index 0 (same id), the others are new rows.
        view.tis.pop((task_id, -1))
        states.pop((task_id, -1), None)
        rows = await task_instances.expand_placeholder(
            conn, view.run, task_id, length, _new_ti(view.spec.task(task_id)))
        for row in rows:
            self._views.keep(view, row)
            states[(row.task_id, row.map_index)] = row.state

    async def _start_run(self, conn: AsyncConnection, batch: Batch, view: RunView) -> bool:
        """queued → running, unless the DAG is at max_active_runs."""
        run, now = view.run, batch.now
        active = batch.running_runs.get(run.dag_id)
        if active is None:
            active = await runs.count_runs(conn, dag_id=run.dag_id, state="running")
        batch.running_runs[run.dag_id] = active
        if active >= view.spec.max_active_runs:
            self._waiting_runs.setdefault(run.dag_id, set()).add(run.id)
            return False
        waiting = self._waiting_runs.get(run.dag_id)
        if waiting is not None:
            waiting.discard(run.id)
        view.run = await runs.update_run_state(conn, run.id, "running", now=now)
        batch.running_runs[run.dag_id] = active + 1
        if view.spec.dagrun_timeout:
            self.set_run_timeout(view.run.id, view.run.start_date or now,
                                 view.spec.dagrun_timeout)
        batch.emit("run.running", {"dag_id": run.dag_id, "run_id": run.run_id})
        return True

    def set_run_timeout(self, dag_run_id: int, started: datetime, seconds: float) -> None:
        """Fail the run ``seconds`` after it ``started`` (its ``dagrun_timeout``)."""
        self._timers.set(("run_timeout", dag_run_id), started + timedelta(seconds=seconds),
                         RunTimeoutItem(dag_run_id))

    async def _finish_run(self, conn: AsyncConnection, batch: Batch, view: RunView, state: str,
                          reason: str | None = None) -> list[int]:
        run = view.run
        await runs.update_run_state(conn, run.id, state, now=batch.now)
        batch.running_runs.pop(run.dag_id, None)
        self._timers.cancel(("run_timeout", run.id))
        self._timers.cancel(("wakeup", run.id))
        self._slots.held_runs.discard(run.id)
        self._views.forget(run.id)
        data = {"dag_id": run.dag_id, "run_id": run.run_id, "state": state}
        if reason:
            data["reason"] = reason
        batch.emit("run.finished", data)
        return await self.release_dag(conn, run.dag_id, batch)

    async def release_dag(self, conn: AsyncConnection, dag_id: str, batch: Batch) -> list[int]:
        """A run of ``dag_id`` ended: runs waiting for max_active_runs, and catchup runs
        that were not created for want of a run slot, may go now."""
        more = sorted(self._waiting_runs.pop(dag_id, set()))
        if self._schedules.blocked(dag_id):
            more.extend(sorted(await self._schedules.schedule_dag(conn, dag_id, batch.now)))
        return more

    async def apply_run_timeout(self, conn: AsyncConnection, batch: Batch,
                                dag_run_id: int) -> list[int]:
        """dagrun_timeout: the run fails; unfinished task instances are skipped (Airflow),
        in-flight ones stopped through their executor."""
        self._timers.forget(("run_timeout", dag_run_id))
        view = await self._views.view(conn, batch, dag_run_id)
        if view is None or view.run.state != "running":
            return []
        for ti in list(view.tis.values()):
            if ti.state in FINISHED_TI:
                continue
            in_flight = ti.state in OCCUPYING
            if in_flight:
                batch.cancels.append(Cancel(ti.id, ti.executor, "dagrun_timeout"))
                self._tries.free(ti.id)
            in_try = in_flight or ti.state in ("deferred", "awaiting_input",
                                               "up_for_reschedule")
            row = await self._views.write(conn, batch, view, ti, "skipped")
            if in_try:
                await task_instances.record_try_of(
                    conn, row, error="the run exceeded its dagrun_timeout")
        return await self._finish_run(conn, batch, view, "failed", reason="dagrun_timeout")


def _new_ti(task: TaskSpec) -> NewTaskInstance:
    return NewTaskInstance(task_id=task.task_id, map_index=-1, state=None,
                           max_tries=task.retries, operator=task.operator, pool=task.pool,
                           pool_slots=task.pool_slots, priority_weight=task.priority_weight)
