"""The event-driven scheduler loop: its face, its start and stop, and the shape of a batch.

Everything that can change a run arrives as a typed item on one queue (``work_items``): an
executor's report, a user's operation, a timer (retry due, cron tick, timeout), a trigger's
event. One worker drains the queue in batches (``batching``); each batch is one transaction
that applies the reports and re-evaluates every run they touched with the pure rules of
``decisions.evaluate_run``. Launches are handed to the executors after the commit. There is
no polling interval: a task finishing wakes its run at once, and timers (``timers``) exist
only for retry delays, cron ticks and timeouts.

All state lives in the database; what the loop keeps in memory is a cache it can rebuild.
The rooms, each with its own docstring:

- ``run_views``: the in-memory views of active runs and the one conditional write through
  them (anything outside the loop that changes task-instance states must report through
  ``Scheduler.report`` or clear the run's token, ``runs.mark_changed``);
- ``reports``: executors' reports applied to tries; ``tries``: ending a try;
- ``deferral``: waiting without a process (reschedule, deferral, triggers' events);
- ``lifecycle``: a run's start, evaluation, expansion, end and timeout;
- ``admission``: slots, pools and limits, and the reason a task waits;
- ``cron``: the runs a timetable makes due.

``start()`` rebuilds the bookkeeping (slots in use, timers) from the database and asks the
executors to reconcile what was in flight; it also starts the trigger runner and the asset
watchers (``leoflow.engine.triggers``), which the scheduler owns and feeds through callbacks,
so in HA they belong to the leader. ``drain()`` is the orderly way down: nothing new starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from leoflow.engine.clock import Clock, SystemClock
from leoflow.engine.executors.base import Executor, ExecutorEvent, TaskLaunch
from leoflow.engine.long_lived import LongLived
from leoflow.engine.scheduler.admission import Admission, Occupant, Slots, launch_of
from leoflow.engine.scheduler.asset_events import AssetEvents
from leoflow.engine.scheduler.batching import WorkQueue
from leoflow.engine.scheduler.cron import Schedules
from leoflow.engine.scheduler.deferral import Deferral
from leoflow.engine.scheduler.lifecycle import Lifecycle
from leoflow.engine.scheduler.reconcile import reconcile_in_flight
from leoflow.engine.scheduler.reports import Reports
from leoflow.engine.scheduler.run_views import ACTIVE_RUN_STATES, OCCUPYING, RunViews
from leoflow.engine.scheduler.timers import Timers
from leoflow.engine.scheduler.tries import Tries
from leoflow.engine.scheduler.work_items import (
    Batch,
    DagItem,
    ReportItem,
    RetryItem,
    RunItem,
    SlotsItem,
    TimeoutItem,
    TriggerItem,
    Work,
    WorkItem,
    coalesce,
    collect,
)
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import Store, dags, runs, task_instances
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.engine.triggers import TriggerEvent, TriggerLogSink, TriggerRunner
from leoflow.engine.triggers.asset_watchers import AssetWatchers
from leoflow.engine.triggers.runner import TenantConnectionLookup

log = logging.getLogger("leoflow.scheduler")

NOT_STARTED = "the scheduler was draining (stopping), so the task was not started"


class Scheduler:
    """Moves runs and task instances; see the module docstring.

    ``executors`` maps an executor name to an executor; ``executor_for`` picks the name for a
    task (default: the first executor). ``assets`` are the asset rules a successful try and
    the asset watchers apply (``leoflow.engine.services.assets``; see ``asset_events``).
    ``parallelism`` caps task instances queued or running across all DAGs. ``listeners``
    are called after each commit with ``(kind, data)`` for ``run.running``,
    ``run.finished``, ``ti.queued``, ``ti.running``, ``ti.finished``, ``ti.deferred``,
    ``ti.rescheduled``.

    ``trigger_logs`` receives what triggers do (the try's log, lines ``trigger: ...``);
    ``connection_lookup(tenant, conn_id)`` resolves HTTP triggers' connections (default: the
    control plane's ``AIRFLOW_CONN_*``); ``triggerer_id`` names this replica's runner.
    """

    def __init__(self, store: Store, executors: Mapping[str, Executor], *,
                 assets: AssetEvents, clock: Clock | None = None, parallelism: int = 32,
                 executor_for: Callable[[TaskSpec], str] | None = None,
                 listeners: Iterable[Callable[[str, dict[str, Any]], None]] = (),
                 trigger_logs: TriggerLogSink | None = None,
                 connection_lookup: TenantConnectionLookup | None = None,
                 triggerer_id: str | None = None, max_trigger_polls: int = 32) -> None:
        if not executors:
            raise ValueError("the scheduler needs at least one executor")
        self.store = store
        self.executors = dict(executors)
        self.clock: Clock = clock or SystemClock()
        self._default_executor = next(iter(self.executors))
        self._executor_for = executor_for or (lambda _task: self._default_executor)
        self._listeners = list(listeners)
        self._batch_no = 0
        self._not_started: str | None = None  # set by drain(): launches are failed instead
        self.queue = WorkQueue(self.clock, self._apply)
        self.timers = Timers(self.clock, self.queue.put)
        self.slots = Slots(parallelism, self.timers)
        self.views = RunViews(self.slots.stop_changed)
        self.long_lived = LongLived()  # keeps the cyclic GC off the views (long_lived.py)
        self.triggers = TriggerRunner(store, self.clock, on_event=self._trigger_fired,
                                      logs=trigger_logs, connection_lookup=connection_lookup,
                                      triggerer_id=triggerer_id, max_polls=max_trigger_polls)
        self.watchers = AssetWatchers(store, self.clock, emit=assets.create_event,
                                      wake_run=self.wake_run)  # leader only, as triggers
        tries = Tries(self.views, self.slots, self.timers, assets)
        deferral = Deferral(self.views, tries, triggerer_id=self.triggers.triggerer_id,
                            connection_lookup=self.triggers.connection_lookup)
        self.schedules = Schedules(self.views, self.timers)
        self.reports = Reports(self.views, tries, deferral, self.timers, self._executor_for)
        self.deferral = deferral
        self.lifecycle = Lifecycle(self.views, self.slots, self.timers, tries,
                                   Admission(self.slots, self.views, deferral.wait_from_start,
                                             self._executor_for), self.schedules, assets)

    @property
    def parallelism(self) -> int:
        """Task instances queued or running at most, across all DAGs."""
        return self.slots.parallelism

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume from the database: active runs, in-flight tries, timeouts, cron timers."""
        self._not_started = None
        self.timers.open()
        for executor in self.executors.values():
            executor.set_callback(self.report)
        in_flight: dict[str, list[TaskLaunch]] = {}
        flying: list[tuple[TaskInstanceRow, TaskLaunch, TaskSpec | None]] = []
        now = self.clock.now()
        async with self.store.connect() as conn:
            active = list((await runs.list_runs(conn, state=list(ACTIVE_RUN_STATES),
                                                limit=None, order="id")).items)
            for run in active:
                spec, _ = await self.views.spec(conn, run.dag_version_id)
                if run.state == "running" and spec.dagrun_timeout:
                    self.lifecycle.set_run_timeout(run.id, run.start_date or now,
                                                   spec.dagrun_timeout)
                for ti in await task_instances.list_for_run(conn, run.id, state=OCCUPYING):
                    self.slots.occupy(ti.id, Occupant(ti.dag_id, ti.dag_run_id, ti.pool,
                                                      ti.pool_slots, ti.try_number,
                                                      ti.executor))
                    task = spec.task(ti.task_id) if ti.task_id in spec.task_ids else None
                    timeout = task.execution_timeout if task else None
                    if ti.state == "running" and timeout:
                        self.timers.set(("timeout", ti.id),
                                        (ti.start_date or now) + timedelta(seconds=timeout),
                                        TimeoutItem(ti.id, ti.try_number))
                    launch = launch_of(ti, run, operator=ti.operator or "python",
                                       timeout=timeout)
                    name = ti.executor if ti.executor in self.executors \
                        else self._default_executor
                    in_flight.setdefault(name, []).append(launch)
                    flying.append((ti, launch, task))
            dag_rows = (await dags.list_dags(conn, limit=None)).items
        # reported / started / never started: see scheduler/reconcile.py
        plan = await reconcile_in_flight(self.store, [ti for ti, _, task in flying if task])
        plan.adopt.update(ti.id for ti, _, task in flying if task is None)
        self.queue.start()
        await self.triggers.start()
        await self.watchers.start()
        for event in plan.events:  # before anything the executors conclude
            await self.report(event)
        for name, launches in in_flight.items():
            await self.executors[name].reconcile(
                [replace(launch, pid=plan.pids.get(launch.ti_id, launch.pid))
                 for launch in launches if launch.ti_id in plan.adopt])
        for ti, launch, task in flying:
            if ti.id in plan.relaunch and task is not None:
                await self._launch(launch, task)  # the same try, with a fresh token
        for run in active:
            self.wake_run(run.id)
        for dag in dag_rows:
            self.schedules.paused[dag.dag_id] = dag.is_paused
            if not dag.is_paused:
                self.wake_dag(dag.dag_id)

    async def drain(self, not_started: str = NOT_STARTED) -> None:
        """Start nothing from now on, and return once the batch in progress is done.

        The orderly way down (Lite's Ctrl-C): timers, the trigger runner and the asset
        watchers stop, so no cron tick, retry, timeout or trigger adds work; reports are
        still applied, so the tries that end (or that the caller fails) are recorded and
        their runs settle. A task instance the rules still hand out (a downstream
        ``all_done`` task, say) is failed without retry with ``not_started`` as its error,
        never given to an executor. The batch in progress, if any, commits and does what it
        does after the commit (minus starting tries) before this returns, so a ``stop()``
        after it cuts no batch in half.
        """
        self._not_started = not_started
        self.timers.close()
        await self.triggers.stop()
        await self.watchers.stop()
        await self.queue.between_batches()

    @property
    def draining(self) -> bool:
        """Whether ``drain()`` was called (and no ``start()`` since)."""
        return self._not_started is not None

    async def stop(self) -> None:
        """Stop the worker, the timers and the trigger runner; executors keep their tasks
        (see ``reconcile``) and trigger rows stay for the next start."""
        await self.triggers.stop()
        await self.watchers.stop()
        self.timers.cancel_all()
        await self.queue.stop()
        self.views.forget_all()
        self.long_lived.release()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the queue is empty and nothing is being processed (for tests, CLIs)."""
        await self.queue.idle(timeout)

    # -- inputs --------------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Hear of changes after they are committed (``(kind, data)``; must not block)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def wake_run(self, dag_run_id: int) -> None:
        """Re-evaluate a run soon (after a user's operation, a timer, a freed limit)."""
        self._put(RunItem(dag_run_id))

    def wake_dag(self, dag_id: str) -> None:
        """Recompute a DAG's schedule and start its queued runs if they may (after
        registration, pause or unpause, a deleted run)."""
        self._put(DagItem(dag_id))
        self.watchers.refresh_soon()  # which assets are scheduled may have changed

    async def cancel_task(self, ti_id: str, executor: str | None, reason: str,
                          try_number: int | None = None) -> None:
        """Stop an in-flight try (a user cleared, marked or deleted it) and free its slot.

        Call it after the change committed, with the ``try_number`` that was in flight: if
        the loop noticed the change first, it has stopped that try itself and may already
        have launched the next one, which this call must leave alone.
        """
        occupant = self.slots.occupied.get(ti_id)
        if try_number is not None and occupant is not None \
                and occupant.try_number != try_number:
            return
        self.timers.cancel(("timeout", ti_id))
        if self.slots.release(ti_id) is not None:
            self._put(SlotsItem())
        await self._executor(executor).cancel(ti_id, reason)

    async def report(self, event: ExecutorEvent) -> None:
        """The executors' callback: a try started or ended."""
        self._put(ReportItem(event))

    def _trigger_fired(self, event: TriggerEvent) -> None:
        """The runner's callback: a trigger fired or timed out (applied in a batch)."""
        self._put(TriggerItem(event))

    def refresh_pools(self) -> None:
        """Forget the cached pool sizes (after a pool was created or resized)."""
        self.slots.forget_pool_sizes()
        self._put(SlotsItem())

    def timer_due(self, kind: str, key: Any) -> bool:
        """Whether a timer of ``kind`` is set for ``key`` (for tests and diagnostics)."""
        return (kind, key) in self.timers

    def _put(self, item: WorkItem | RetryItem) -> None:
        self.queue.put(item)

    # -- one batch -------------------------------------------------------------------------------
    async def _apply(self, entries: list[tuple[WorkItem, int]]) -> None:
        """Apply one batch; on failure, undo what it changed in memory and raise."""
        saved = self.slots.snapshot()
        try:
            await self._process(collect(entries))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.slots.restore(saved)
            self.views.forget_all()
            raise

    async def _process(self, work: Work) -> None:
        """One transaction: the work collected, then every run it touched evaluated.
        (Looked up on each batch: bench/assets.py times batches by replacing it.)"""
        self._batch_no += 1
        batch = Batch(number=self._batch_no, now=self.clock.now())
        lifecycle, runs_ = self.lifecycle, work.runs
        async with self.store.begin() as conn:
            for dag_id in sorted(work.dags):
                if self._not_started is None:  # draining: no new scheduled runs
                    runs_.update(await self.schedules.schedule_dag(conn, dag_id, batch.now))
                runs_.update(lifecycle.take_waiting(dag_id))
            for event, started in coalesce(work.reports):
                run_id = await self.reports.apply(conn, batch, event, started)
                if run_id is not None:
                    runs_.add(run_id)
            for timeout in work.timeouts:
                run_id = await self.reports.apply_timeout(conn, batch, timeout)
                if run_id is not None:
                    runs_.add(run_id)
            for trigger_event in work.trigger_events:
                run_id = await self.deferral.apply_event(conn, batch, trigger_event)
                if run_id is not None:
                    runs_.add(run_id)
            for dag_run_id in sorted(work.run_timeouts):
                runs_.update(await lifecycle.apply_run_timeout(conn, batch, dag_run_id))
            if self.slots.changed:
                runs_.update(self.slots.held_runs)
                self.slots.changed = False
            pending = sorted(runs_ | batch.asset_runs)
            seen: set[int] = set()
            while pending:
                dag_run_id = pending.pop(0)
                if dag_run_id in seen:
                    continue
                seen.add(dag_run_id)
                more = await lifecycle.evaluate(conn, batch, dag_run_id)
                pending.extend(r for r in more if r not in seen)
                pending.extend(sorted(r for r in batch.asset_runs if r not in seen))
        await self._after_commit(batch)

    async def _after_commit(self, batch: Batch) -> None:
        """What a committed batch decided: triggers handed over or dropped, listeners told,
        tries stopped, tries started."""
        for trigger_id in batch.trigger_drops:
            self.triggers.drop(trigger_id)
        for trigger_row, ti_row in batch.trigger_adds:
            self.triggers.add(trigger_row, dag_id=ti_row.dag_id, run_id=ti_row.run_id,
                              task_id=ti_row.task_id, map_index=ti_row.map_index,
                              dag_run_id=ti_row.dag_run_id)
        self.long_lived.note(len(self.triggers) + len(self.views.by_run))
        for kind, data in batch.emits:
            data.setdefault("batch_ns", batch.started_ns)  # tracing: when it was decided
            self._emit(kind, data)
        for cancel in batch.cancels:
            await self._executor(cancel.executor).cancel(cancel.ti_id, cancel.reason)
        for launch, task in batch.launches:
            await self._launch(launch, task, decided_ns=batch.started_ns)

    def _executor(self, name: str | None) -> Executor:
        return self.executors.get(name or "") or self.executors[self._default_executor]

    async def _launch(self, launch: TaskLaunch, task: TaskSpec, *,
                      decided_ns: int | None = None) -> None:
        executor = self.executors[self._executor_for(task)]
        launch_ns = time.time_ns()
        if self._not_started is not None:  # draining: the try is failed, never started
            await self.report(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                            error=self._not_started, info={"no_retry": True}))
        else:
            try:
                await executor.start(launch, task)
            except Exception as exc:
                log.exception("executor %s could not start %s", executor.name, launch.ti_id)
                await self.report(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                                error=f"the executor could not start the "
                                                      f"task: {type(exc).__name__}: {exc}"))
        self._emit("ti.queued", {"ti_id": launch.ti_id, "dag_id": launch.dag_id,
                                 "run_id": launch.run_id, "task_id": launch.task_id,
                                 "map_index": launch.map_index,
                                 "try_number": launch.try_number,
                                 "batch_ns": decided_ns or launch_ns, "launch_ns": launch_ns})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self.triggers.notice(kind, data)
        for listener in self._listeners:
            try:
                listener(kind, data)
            except Exception:
                log.exception("scheduler listener failed on %s", kind)
