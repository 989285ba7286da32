"""The event-driven scheduler loop.

Everything that can change a run arrives as an item on one queue: an executor's report, a
user's operation, a timer (retry due, cron tick, timeout). One worker drains the queue in
batches; each batch is one transaction that applies the reports and re-evaluates every run
they touched with the pure rules of ``decisions.evaluate_run``. Launches are handed to the
executors after the commit. There is no polling interval: a task finishing wakes its run at
once, and timers exist only for retry delays, cron ticks and timeouts.

All state lives in the database. To decide quickly, the loop also keeps each active run in
memory (a *view*: the run row, its spec and its task instances) and writes through it, so a
decision costs a few conditional updates instead of re-reading the run. A view is trusted
only while the run's ``last_scheduling_decision`` still holds the token the loop stamped
last: whoever else changes a run's task instances clears it first in the same transaction
(``runs.mark_changed``; the operations service does), and the next stamp then fails and
the view is reloaded. Every write is also conditional on the state the view expects; a
write that finds another state means the view was stale, and the batch is rolled back and
redone from the database. Anything outside this module that changes task-instance states
must report through ``Scheduler.report`` or clear the token.

The rest of the in-memory bookkeeping (slots in use, timers) is rebuilt by ``start()``,
which also asks the executors to reconcile what was in flight.

Waiting without a process (docs/triggerer.md). ``start()`` and ``stop()`` also start and
stop the trigger runner (``leoflow.engine.triggers``), so in HA the triggers belong to the
leader. A task instance in ``deferred`` holds no executor or pool slot: a start-from-trigger
sensor (``task.sensor.trigger``) goes there straight from being due, with no executor; a
try that calls ``defer()`` goes there from its agent's report. The loop writes the trigger
row in the same transaction, hands it to the runner after the commit, and applies the
runner's ``TriggerEvent`` as a queue item: resume the same try (``scheduled``, same
try_number, ``next_kwargs["event"]``), or end it. Leaving ``deferred`` by any path deletes
the trigger row in the transaction that moves the task instance (``_write``), so an event
applies at most once; triggers whose task instance someone else moved are deleted when the
run's view is reloaded. ``up_for_reschedule`` frees the slot too and is due again at its
``next_retry_at`` (the ``not_before`` of the rules), keeping its try number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.executors.base import Executor, ExecutorEvent, TaskLaunch
from leoflow.engine.scheduler import timetable
from leoflow.engine.scheduler.asset_partitions import cron_partition_key
from leoflow.engine.scheduler.branch_choice import InvalidBranchChoice, normalize_branch_choice
from leoflow.engine.scheduler.clock import Clock, SystemClock, Timer
from leoflow.engine.scheduler.dag_graph import DagGraph
from leoflow.engine.scheduler.decisions import TIKey, evaluate_run
from leoflow.engine.scheduler.mapping import UnmappableValue, expansion_length
from leoflow.engine.scheduler.reconcile import reconcile_in_flight
from leoflow.engine.scheduler.retry import next_retry_at
from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.services.assets import create_event, record_task_success
from leoflow.engine.spec.model import DagSpec, TaskSpec, XComRef, iter_xcom_refs
from leoflow.engine.store import DuplicateRunError, Store, dags, pools, runs, task_instances, xcom
from leoflow.engine.store import hitl as hitl_rows
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow, TriggerRow
from leoflow.engine.store.task_instances import TRY_ENDED_STATES, NewTaskInstance
from leoflow.engine.triggers import (
    TriggerError,
    TriggerEvent,
    TriggerLogSink,
    TriggerRunner,
    resolve_moment,
    validate,
)
from leoflow.engine.triggers.asset_watchers import AssetWatchers
from leoflow.engine.triggers.files import with_base_path
from leoflow.engine.triggers.runner import TenantConnectionLookup

log = logging.getLogger("leoflow.scheduler")

SKIPMIXIN_KEY = "skipmixin_key"  # Airflow's XCom key for a branch's / short-circuit's choice
OCCUPYING = ("queued", "running")
ACTIVE_RUN_STATES = ("queued", "running")
FINISHED_RUN_STATES = ("success", "failed")
FINISHED_TI = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# Waiting on a trigger row: deferred, or awaiting_input (a human-in-the-loop ``hitl`` trigger).
# States of a task instance parked on a trigger (``trigger_id`` set): deferred; a person's
# answer (awaiting_input); a reschedule-mode sensor waiting from its start in the control
# plane, shown up_for_reschedule as Airflow shows it between pokes.
WAITING_TI = frozenset({"deferred", "awaiting_input", "up_for_reschedule"})
PARKED = datetime.max.replace(tzinfo=UTC)  # "not before" of a task instance only a trigger moves
# Operators the scheduler completes itself: nothing to run (Airflow never sends
# EmptyOperator to an executor either).
NOOP_OPERATORS = frozenset({"empty"})
POOL_CACHE_SECONDS = 1.0  # pool sizes are re-read at most this often (Airflow: once a loop)
RETRY_FAILED_BATCH_AFTER = 1.0  # seconds before the items of a failed batch are retried
MAX_ATTEMPTS = 3  # a queue item whose batch failed this often is dropped (and logged)


class _StaleView(Exception):
    """A conditional write found another state than the in-memory view expected."""


@dataclass
class _Occupant:
    dag_id: str
    dag_run_id: int
    pool: str
    slots: int
    try_number: int
    executor: str | None


@dataclass
class _RunView:
    """An active run as the loop last wrote it; see the module docstring."""

    run: DagRunRow
    spec: DagSpec
    graph: DagGraph
    tis: dict[TIKey, TaskInstanceRow]
    token: datetime
    checked: int  # the batch that last validated the token
    ids: dict[str, TIKey] = field(default_factory=dict)
    branch: dict[str, tuple[str, ...]] = field(default_factory=dict)
    short_circuit: dict[str, bool] = field(default_factory=dict)


@dataclass
class _Batch:
    items: list[tuple[tuple[str, Any], int]] = field(default_factory=list)
    events: list[ExecutorEvent] = field(default_factory=list)
    runs: set[int] = field(default_factory=set)
    dags: set[str] = field(default_factory=set)
    timeouts: list[tuple[str, int]] = field(default_factory=list)
    run_timeouts: set[int] = field(default_factory=set)
    trigger_events: list[TriggerEvent] = field(default_factory=list)


class Scheduler:
    """Moves runs and task instances; see the module docstring.

    ``executors`` maps an executor name to an executor; ``executor_for`` picks the name for a
    task (default: the first executor). ``parallelism`` caps task instances queued or running
    across all DAGs. ``listeners`` are called after each commit with ``(kind, data)`` for
    ``run.running``, ``run.finished``, ``ti.queued``, ``ti.running``, ``ti.finished``,
    ``ti.deferred``, ``ti.rescheduled``.

    ``trigger_logs`` receives what triggers do (the try's log, lines ``trigger: ...``);
    ``connection_lookup(tenant, conn_id)`` resolves HTTP triggers' connections (default: the
    control plane's ``AIRFLOW_CONN_*``); ``triggerer_id`` names this replica's runner.
    """

    def __init__(self, store: Store, executors: Mapping[str, Executor], *,
                 clock: Clock | None = None, parallelism: int = 32,
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
        self.parallelism = parallelism
        self._default_executor = next(iter(self.executors))
        self._executor_for = executor_for or (lambda _task: self._default_executor)
        self._listeners = list(listeners)
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._specs: dict[str, tuple[DagSpec, DagGraph]] = {}
        self._views: dict[int, _RunView] = {}
        self._ti_runs: dict[str, int] = {}  # task instance id → dag_run id, for cached views
        self._batch_no = 0
        self._last_token: datetime | None = None
        self._paused: dict[str, bool] = {}
        self._pool_sizes: dict[str, tuple[int | None, float]] = {}
        self._occupied: dict[str, _Occupant] = {}
        self._occupied_changed = False
        self._held_runs: set[int] = set()
        self._waiting_runs: dict[str, set[int]] = {}
        self._catchup_blocked: set[str] = set()
        self._timers: dict[tuple[str, Any], Timer] = {}
        self._emits: list[tuple[str, dict[str, Any]]] = []
        self._cancels: list[tuple[str, str, str]] = []  # (ti id, executor, reason) this batch
        # Trigger rows this batch created (with what the runner needs) and deleted.
        self._trigger_adds: list[tuple[TriggerRow, TaskInstanceRow]] = []
        self._trigger_drops: list[int] = []
        # Running runs per DAG, counted once per batch (many runs starting at once).
        self._running_runs: dict[str, int] = {}
        self._asset_runs: set[int] = set()  # consumer runs created by this batch's events
        self.triggers = TriggerRunner(store, self.clock, on_event=self._trigger_fired,
                                      logs=trigger_logs, connection_lookup=connection_lookup,
                                      triggerer_id=triggerer_id, max_polls=max_trigger_polls)
        self.watchers = AssetWatchers(store, self.clock, emit=create_event,
                                      wake_run=self.wake_run)  # leader only, as triggers

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume from the database: active runs, in-flight tries, timeouts, cron timers."""
        for executor in self.executors.values():
            executor.set_callback(self.report)
        in_flight: dict[str, list[TaskLaunch]] = {}
        flying: list[tuple[TaskInstanceRow, TaskLaunch, TaskSpec | None]] = []
        now = self.clock.now()
        async with self.store.connect() as conn:
            active = list((await runs.list_runs(conn, state=list(ACTIVE_RUN_STATES),
                                                limit=None, order="id")).items)
            for run in active:
                spec, _ = await self._spec(conn, run.dag_version_id)
                if run.state == "running" and spec.dagrun_timeout:
                    started = run.start_date or now
                    self._set_timer(("run_timeout", run.id),
                                    started + timedelta(seconds=spec.dagrun_timeout),
                                    ("run_timeout", run.id))
                for ti in await task_instances.list_for_run(conn, run.id, state=OCCUPYING):
                    self._occupied[ti.id] = _Occupant(ti.dag_id, ti.dag_run_id, ti.pool,
                                                      ti.pool_slots, ti.try_number,
                                                      ti.executor)
                    task = spec.task(ti.task_id) if ti.task_id in spec.task_ids else None
                    timeout = task.execution_timeout if task else None
                    if ti.state == "running" and timeout:
                        self._set_timer(("timeout", ti.id),
                                        (ti.start_date or now) + timedelta(seconds=timeout),
                                        ("timeout", (ti.id, ti.try_number)))
                    launch = _launch_of(ti, run, operator=ti.operator or "python",
                                        timeout=timeout)
                    name = ti.executor if ti.executor in self.executors \
                        else self._default_executor
                    in_flight.setdefault(name, []).append(launch)
                    flying.append((ti, launch, task))
            dag_rows = (await dags.list_dags(conn, limit=None)).items
        # reported / started / never started: see scheduler/reconcile.py
        plan = await reconcile_in_flight(self.store, [ti for ti, _, task in flying if task])
        plan.adopt.update(ti.id for ti, _, task in flying if task is None)
        self._worker = asyncio.create_task(self._work(), name="leoflow-scheduler")
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
            self._paused[dag.dag_id] = dag.is_paused
            if not dag.is_paused:
                self.wake_dag(dag.dag_id)

    async def stop(self) -> None:
        """Stop the worker, the timers and the trigger runner; executors keep their tasks
        (see ``reconcile``) and trigger rows stay for the next start."""
        await self.triggers.stop()
        await self.watchers.stop()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        self._views.clear()
        self._ti_runs.clear()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the queue is empty and nothing is being processed (for tests, CLIs)."""
        async def settled() -> None:
            while True:
                await self._idle.wait()
                await asyncio.sleep(0)
                if self._idle.is_set() and self._queue.empty():
                    return

        await asyncio.wait_for(settled(), timeout)

    # -- inputs --------------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Hear of changes after they are committed (``(kind, data)``; must not block)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def wake_run(self, dag_run_id: int) -> None:
        """Re-evaluate a run soon (after a user's operation, a timer, a freed limit)."""
        self._put(("run", dag_run_id))

    def wake_dag(self, dag_id: str) -> None:
        """Recompute a DAG's schedule and start its queued runs if they may (after
        registration, pause or unpause, a deleted run)."""
        self._put(("dag", dag_id))
        self.watchers.refresh_soon()  # which assets are scheduled may have changed

    async def cancel_task(self, ti_id: str, executor: str | None, reason: str,
                          try_number: int | None = None) -> None:
        """Stop an in-flight try (a user cleared, marked or deleted it) and free its slot.

        Call it after the change committed, with the ``try_number`` that was in flight: if
        the loop noticed the change first, it has stopped that try itself and may already
        have launched the next one, which this call must leave alone.
        """
        occupant = self._occupied.get(ti_id)
        if try_number is not None and occupant is not None \
                and occupant.try_number != try_number:
            return
        self._cancel_timer(("timeout", ti_id))
        if self._occupied.pop(ti_id, None) is not None:
            self._occupied_changed = True
            self._put(("slots", None))
        target = self.executors.get(executor or "") or self.executors[self._default_executor]
        await target.cancel(ti_id, reason)

    async def report(self, event: ExecutorEvent) -> None:
        """The executors' callback: a try started or ended."""
        self._put(("event", event))

    def _trigger_fired(self, event: TriggerEvent) -> None:
        """The runner's callback: a trigger fired or timed out (applied in a batch)."""
        self._put(("trigger", event))

    def refresh_pools(self) -> None:
        """Forget the cached pool sizes (after a pool was created or resized)."""
        self._pool_sizes.clear()
        self._occupied_changed = True
        self._put(("slots", None))

    def timer_due(self, kind: str, key: Any) -> bool:
        """Whether a timer of ``kind`` is set for ``key`` (for tests and diagnostics)."""
        return (kind, key) in self._timers

    def _put(self, item: tuple[str, Any]) -> None:
        self._idle.clear()
        self._queue.put_nowait(item)

    # -- the worker ------------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            first = await self._queue.get()
            self._idle.clear()
            items = [first]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._run_batch(items)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _run_batch(self, raw: list[tuple[str, Any]]) -> None:
        entries: list[tuple[tuple[str, Any], int]] = []
        for kind, payload in raw:
            if kind == "retry":
                entries.append(payload)
            else:
                entries.append(((kind, payload), 0))
        if len(entries) > 1 and any(n for _, n in entries):
            # Items whose batch failed before go one by one: one bad item must not take
            # the others down with it.
            for entry in entries:
                await self._attempt([entry])
        else:
            await self._attempt(entries)

    async def _attempt(self, entries: list[tuple[tuple[str, Any], int]]) -> None:
        """Process one batch; a stale view redoes it at once, another failure rolls it back
        and retries its items a little later (each item at most ``MAX_ATTEMPTS`` times)."""
        for attempt in range(MAX_ATTEMPTS):
            occupied = dict(self._occupied)
            changed = self._occupied_changed
            try:
                await self._process(self._collect(entries))
                return
            except asyncio.CancelledError:
                raise
            except _StaleView as exc:
                log.info("a run changed under the scheduler (%s); redoing the batch", exc)
                failure: Exception = exc
            except Exception as exc:
                log.exception("scheduler batch failed; its items will be retried")
                failure = exc
            self._occupied = occupied
            self._occupied_changed = changed
            self._forget_all()
            self._emits.clear()
            if not isinstance(failure, _StaleView) or attempt == MAX_ATTEMPTS - 1:
                break
        retry = [(item, n + 1) for item, n in entries if n + 1 < MAX_ATTEMPTS]
        dropped = len(entries) - len(retry)
        if dropped:
            log.error("dropping %d scheduler item(s) after %d failed attempts: %s", dropped,
                      MAX_ATTEMPTS, [item for item, n in entries if n + 1 >= MAX_ATTEMPTS])
        if retry:
            def again() -> None:
                for entry in retry:
                    self._put(("retry", entry))

            self.clock.call_at(self.clock.now() + timedelta(seconds=RETRY_FAILED_BATCH_AFTER),
                               again)

    def _collect(self, entries: list[tuple[tuple[str, Any], int]]) -> _Batch:
        batch = _Batch(items=entries)
        for (kind, payload), _ in entries:
            if kind == "event":
                batch.events.append(payload)
            elif kind == "run":
                batch.runs.add(payload)
            elif kind == "dag":
                batch.dags.add(payload)
            elif kind == "timeout":
                batch.timeouts.append(payload)
            elif kind == "run_timeout":
                batch.run_timeouts.add(payload)
            elif kind == "trigger":
                batch.trigger_events.append(payload)
            # "slots": nothing to add; the batch re-evaluates runs held back by limits
        return batch

    async def _process(self, batch: _Batch) -> None:
        self._batch_no += 1
        launches: list[tuple[TaskLaunch, TaskSpec]] = []
        cancels = self._cancels = []
        adds: list[tuple[TriggerRow, TaskInstanceRow]] = []
        drops: list[int] = []
        self._trigger_adds, self._trigger_drops = adds, drops
        self._running_runs = {}
        # consumer runs created by asset events of this batch: evaluated in the same batch
        self._asset_runs = set()
        now = self.clock.now()
        async with self.store.begin() as conn:
            for dag_id in sorted(batch.dags):
                batch.runs.update(await self._schedule_dag(conn, dag_id, now))
                batch.runs.update(self._waiting_runs.pop(dag_id, set()))
            for event, started in _coalesce(batch.events):
                run_id = await self._apply_event(conn, event, now, started)
                if run_id is not None:
                    batch.runs.add(run_id)
            for ti_id, try_number in batch.timeouts:
                run_id = await self._apply_timeout(conn, ti_id, try_number, now)
                if run_id is not None:
                    batch.runs.add(run_id)
            for trigger_event in batch.trigger_events:
                run_id = await self._apply_trigger_event(conn, trigger_event, now)
                if run_id is not None:
                    batch.runs.add(run_id)
            for dag_run_id in sorted(batch.run_timeouts):
                batch.runs.update(await self._apply_run_timeout(conn, dag_run_id, now))
            if self._occupied_changed:
                batch.runs.update(self._held_runs)
                self._occupied_changed = False
            pending = sorted(batch.runs | self._asset_runs)
            seen: set[int] = set()
            while pending:
                dag_run_id = pending.pop(0)
                if dag_run_id in seen:
                    continue
                seen.add(dag_run_id)
                more = await self._evaluate(conn, dag_run_id, now, launches)
                pending.extend(r for r in more if r not in seen)
                pending.extend(sorted(r for r in self._asset_runs if r not in seen))
        for trigger_id in drops:
            self.triggers.drop(trigger_id)
        for trigger_row, ti_row in adds:
            self.triggers.add(trigger_row, dag_id=ti_row.dag_id, run_id=ti_row.run_id,
                              task_id=ti_row.task_id, map_index=ti_row.map_index,
                              dag_run_id=ti_row.dag_run_id)
        emits, self._emits = self._emits, []
        for kind, data in emits:
            self._emit(kind, data)
        for ti_id, executor_name, reason in cancels:
            target = self.executors.get(executor_name) or self.executors[self._default_executor]
            await target.cancel(ti_id, reason)
        for launch, task in launches:
            await self._launch(launch, task)

    async def _launch(self, launch: TaskLaunch, task: TaskSpec) -> None:
        executor = self.executors[self._executor_for(task)]
        try:
            await executor.start(launch, task)
        except Exception as exc:
            log.exception("executor %s could not start %s", executor.name, launch.ti_id)
            await self.report(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                            error=f"the executor could not start the task: "
                                                  f"{type(exc).__name__}: {exc}"))
        self._emit("ti.queued", {"ti_id": launch.ti_id, "dag_id": launch.dag_id,
                                 "run_id": launch.run_id, "task_id": launch.task_id,
                                 "map_index": launch.map_index})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self.triggers.notice(kind, data)
        for listener in self._listeners:
            try:
                listener(kind, data)
            except Exception:
                log.exception("scheduler listener failed on %s", kind)

    def _emit_after_commit(self, kind: str, data: dict[str, Any]) -> None:
        if self._listeners or self.triggers.watching:
            self._emits.append((kind, data))

    # -- specs and views -------------------------------------------------------------------------
    async def _spec(self, conn: AsyncConnection, version_id: str) -> tuple[DagSpec, DagGraph]:
        cached = self._specs.get(version_id)
        if cached is None:
            version = await dags.get_version(conn, version_id)
            if version is None:
                raise LookupError(f"DAG version {version_id} is missing")
            spec = DagSpec.from_json(version.spec)
            cached = (spec, DagGraph.of(spec))
            self._specs[version_id] = cached
        return cached

    def _token(self, now: datetime) -> datetime:
        """A ``last_scheduling_decision`` value never stamped before (see the docstring)."""
        token = now
        if self._last_token is not None and token <= self._last_token:
            token = self._last_token + timedelta(microseconds=1)
        self._last_token = token
        return token

    async def _view(self, conn: AsyncConnection, dag_run_id: int,
                    now: datetime) -> _RunView | None:
        """The run's view, validated once per batch; ``None`` when the run is gone."""
        view = self._views.get(dag_run_id)
        if view is not None and view.checked == self._batch_no:
            return view
        token = self._token(now)
        if view is not None:
            if await runs.stamp_scheduling_decision(conn, dag_run_id, token,
                                                    if_equals=view.token):
                view.token = token
                view.checked = self._batch_no
                return view
            self._forget(dag_run_id)
        # Stamping first locks the run's row (PostgreSQL): a user's change to it either
        # committed before (and is read below) or waits for this batch to commit.
        if not await runs.stamp_scheduling_decision(conn, dag_run_id, token):
            self._stop_tries(t for t, o in self._occupied.items() if o.dag_run_id == dag_run_id)
            return None
        run = await runs.get_run_by_id(conn, dag_run_id)
        assert run is not None
        spec, graph = await self._spec(conn, run.dag_version_id)
        tis = await task_instances.list_for_run(conn, dag_run_id)
        self._stop_tries(ti.id for ti in tis if ti.id in self._occupied and (
            ti.state not in OCCUPYING or ti.try_number != self._occupied[ti.id].try_number))
        await self._drop_stale_triggers(conn, dag_run_id, tis)
        view = _RunView(run=run, spec=spec, graph=graph, tis={}, token=token,
                        checked=self._batch_no)
        for ti in tis:
            self._keep(view, ti)
        await self._load_choices(conn, view)
        if run.state in FINISHED_RUN_STATES:
            # Read for a late report or a user's change; not worth keeping.
            for ti_id in view.ids:
                self._ti_runs.pop(ti_id, None)
        else:
            self._views[dag_run_id] = view
        return view

    async def _drop_stale_triggers(self, conn: AsyncConnection, dag_run_id: int,
                                   tis: list[TaskInstanceRow]) -> None:
        """Triggers whose task instance someone else moved out of ``deferred`` (cleared,
        marked): delete them, so that they neither fire nor keep polling. A run none of whose
        task instances names a trigger has none (the common case: no query)."""
        if not any(ti.trigger_id is not None for ti in tis):
            return
        found = await trigger_rows.triggers_of_run(conn, dag_run_id)
        if not found:
            return
        by_id = {ti.id: ti for ti in tis}
        for row in found:
            owner = by_id.get(row.task_instance_id)
            if owner is None or owner.state not in WAITING_TI or owner.trigger_id != row.id:
                await trigger_rows.delete_trigger(conn, row.id)
                self._trigger_drops.append(row.id)

    def _stop_tries(self, ti_ids: Iterable[str]) -> None:
        """Tries the loop launched whose task instance someone else ended (cleared, marked,
        deleted): stop them now, before this batch launches their next try. The operation's
        own ``cancel_task`` comes later and then leaves the next try alone."""
        for ti_id in list(ti_ids):
            occupant = self._occupied[ti_id]
            self._cancels.append((ti_id, occupant.executor or self._default_executor,
                                  "changed by a user (cleared, marked or deleted)"))
            self._release(ti_id)
            self._cancel_timer(("timeout", ti_id))

    def _keep(self, view: _RunView, row: TaskInstanceRow) -> None:
        key = (row.task_id, row.map_index)
        view.tis[key] = row
        view.ids[row.id] = key
        self._ti_runs[row.id] = view.run.id

    def _forget(self, dag_run_id: int) -> None:
        view = self._views.pop(dag_run_id, None)
        if view is not None:
            for ti_id in view.ids:
                self._ti_runs.pop(ti_id, None)

    def _forget_all(self) -> None:
        self._views.clear()
        self._ti_runs.clear()

    async def _load_choices(self, conn: AsyncConnection, view: _RunView) -> None:
        """What successful branch and short-circuit tasks chose (kept in XCom)."""
        for (task_id, map_index), ti in view.tis.items():
            if ti.state != "success" or task_id not in view.graph.tasks:
                continue
            operator = view.graph.tasks[task_id].operator
            if operator not in ("branch", "short_circuit"):
                continue
            row = await xcom.get_xcom(conn, view.run.id, task_id, SKIPMIXIN_KEY, map_index)
            if row is None or not isinstance(row.value, dict):
                continue
            if operator == "branch":
                view.branch[task_id] = tuple(row.value.get("followed", ()))
            else:
                view.short_circuit[task_id] = bool(row.value.get("short_circuit", True))

    async def _write(self, conn: AsyncConnection, view: _RunView, ti: TaskInstanceRow,
                     state: str | None, now: datetime, **changes: Any) -> TaskInstanceRow:
        """Move ``ti`` to ``state`` in the database and in the view (``set_task_state``'s
        timestamps), on the condition that the database agrees with the view.

        Leaving ``deferred`` deletes the trigger in the same transaction: whatever moved the
        task instance (its event, a timeout, the run's timeout), the trigger is spent."""
        if ti.state in WAITING_TI and state not in WAITING_TI and ti.trigger_id is not None:
            await trigger_rows.delete_trigger(conn, ti.trigger_id)
            self._trigger_drops.append(ti.trigger_id)
            changes = {"trigger_id": None, "trigger_timeout": None, **changes}
        values = _stamped(ti, state, now, changes)
        if not await task_instances.update_if(conn, ti.id, expected_states=(ti.state,),
                                              **values):
            raise _StaleView(f"task instance {ti.task_id}[{ti.map_index}] of run "
                             f"{view.run.run_id} is no longer {ti.state}")
        row = replace(ti, **values)
        view.tis[(row.task_id, row.map_index)] = row
        return row

    # -- executor events -------------------------------------------------------------------------
    async def _ti_view(self, conn: AsyncConnection, ti_id: str, now: datetime
                       ) -> tuple[_RunView, TaskInstanceRow] | None:
        dag_run_id = self._ti_runs.get(ti_id)
        if dag_run_id is None:
            row = await task_instances.get_task_instance_by_id(conn, ti_id)
            if row is None:
                return None
            dag_run_id = row.dag_run_id
        view = await self._view(conn, dag_run_id, now)
        key = None if view is None else view.ids.get(ti_id)
        if view is None or key is None:
            return None
        return view, view.tis[key]

    async def _apply_event(self, conn: AsyncConnection, event: ExecutorEvent, now: datetime,
                           started: ExecutorEvent | None = None) -> int | None:
        """Apply one report; ``started`` is the same try's "running" report when it arrived
        in the same batch (one write for both)."""
        found = await self._ti_view(conn, event.ti_id, now)
        if found is None:
            log.info("ignoring a report for unknown task instance %s", event.ti_id)
            return None
        view, ti = found
        if ti.try_number != event.try_number:
            log.info("ignoring a stale report for %s try %s", event.ti_id, event.try_number)
            return None
        info = dict(started.info) if started is not None else {}
        info.update(event.info)
        where: dict[str, Any] = {k: info[k] for k in ("hostname", "pid", "external_executor_id")
                                 if k in info}
        task = view.spec.task(ti.task_id)
        if started is not None and ti.state in ("queued", "scheduled"):
            where.update(start_date=now, last_heartbeat_at=now, duration=0.0)
            self._emit_after_commit("ti.running", {
                "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id,
                "task_id": ti.task_id, "map_index": ti.map_index})
        if event.state == "running":
            if ti.state not in ("queued", "scheduled"):
                return None
            await self._write(conn, view, ti, "running", now, **where)
            if task.execution_timeout:
                self._set_timer(("timeout", ti.id),
                                now + timedelta(seconds=task.execution_timeout),
                                ("timeout", (ti.id, ti.try_number)))
            self._emit_after_commit("ti.running", {
                "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id,
                "task_id": ti.task_id, "map_index": ti.map_index})
            return None
        if ti.state not in ("queued", "running", "scheduled"):
            return None  # already decided (marked by a user, timed out, cleared)
        state: str = event.state
        error = event.error
        if state == "up_for_reschedule":
            await self._reschedule(conn, view, ti, info, now, where)
            return view.run.id
        if state == "deferred":
            await self._defer(conn, view, ti, task, info, now, where)
            return view.run.id
        if state == "success" and task.operator == "branch":
            try:
                followed = normalize_branch_choice(view.spec, task.task_id,
                                                   info.get("follow_task_ids"))
            except InvalidBranchChoice as exc:
                state, error = "failed", str(exc)
            else:
                await xcom.put_xcom(conn, dag_run_id=view.run.id, task_id=ti.task_id,
                                    map_index=ti.map_index, key=SKIPMIXIN_KEY,
                                    value={"followed": list(followed)}, now=now)
                view.branch[ti.task_id] = followed
        if state == "success" and task.operator == "short_circuit":
            proceed = bool(info.get("short_circuit_continue", True))
            await xcom.put_xcom(conn, dag_run_id=view.run.id, task_id=ti.task_id,
                                map_index=ti.map_index, key=SKIPMIXIN_KEY,
                                value={"short_circuit": proceed}, now=now)
            view.short_circuit[ti.task_id] = proceed
        await self._finish_try(conn, view, ti, task, state, error, now,
                               no_retry=bool(info.get("no_retry")), where=where,
                               retry_delay=info.get("retry_delay"),
                               outlet_events=info.get("outlet_events"))
        return view.run.id

    async def _finish_try(self, conn: AsyncConnection, view: _RunView, ti: TaskInstanceRow,
                          task: TaskSpec, state: str, error: str | None, now: datetime, *,
                          no_retry: bool = False, where: Mapping[str, Any] | None = None,
                          retry_delay: float | None = None,
                          outlet_events: list[dict[str, Any]] | None = None) -> None:
        """End the current try: success, skipped, failed, or up_for_retry when tries remain
        (Airflow's ``is_eligible_to_retry``: the task has retries and try ≤ max_tries).
        ``retry_delay`` (seconds) is a retry policy's delay, used instead of the task's."""
        changes: dict[str, Any] = dict(where or {})
        if state == "failed" and not no_retry and task.retries > 0 \
                and ti.try_number <= ti.max_tries:
            state = "up_for_retry"
            changes["next_retry_at"] = next_retry_at(
                task, dag_id=ti.dag_id, logical_date=view.run.logical_date,
                try_number=ti.try_number, end_date=now) if retry_delay is None \
                else now + timedelta(seconds=float(retry_delay))
        row = await self._write(conn, view, ti, state, now, **changes)
        await task_instances.record_try_of(conn, row, error=error)
        if state == "success" and task.outlets:  # asset events, in this transaction
            self._asset_runs.update(await record_task_success(
                conn, run=view.run, ti=row, task=task, outlet_events=outlet_events, now=now))
        self._release(ti.id)
        self._cancel_timer(("timeout", ti.id))
        self._emit_after_commit("ti.finished", {
            "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
            "map_index": ti.map_index, "state": state, "error": error})

    # -- waiting without a process (reschedule, deferral) ---------------------------------------
    async def _reschedule(self, conn: AsyncConnection, view: _RunView, ti: TaskInstanceRow,
                          info: Mapping[str, Any], now: datetime,
                          where: Mapping[str, Any]) -> None:
        """A reschedule-mode sensor is not done: free its slot until its next poke."""
        raw = info.get("reschedule_date")
        when = datetime.fromtimestamp(float(raw), now.tzinfo) if raw else now
        first = ti.first_poke_at or where.get("start_date") or ti.start_date or now
        await self._write(conn, view, ti, "up_for_reschedule", now, **where,
                          next_retry_at=max(when, now), first_poke_at=first)
        self._release(ti.id)
        self._cancel_timer(("timeout", ti.id))
        self._emit_after_commit("ti.rescheduled", {
            "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
            "map_index": ti.map_index, "reschedule_date": when.isoformat()})

    async def _defer(self, conn: AsyncConnection, view: _RunView, ti: TaskInstanceRow,
                     task: TaskSpec, info: Mapping[str, Any], now: datetime,
                     where: Mapping[str, Any]) -> None:
        """A running try called ``defer()``: park it on its trigger, free its slot."""
        raw = info.get("trigger")
        trigger = raw if isinstance(raw, Mapping) else {}
        timeout = info.get("defer_timeout")
        timeout_at = now + timedelta(seconds=float(timeout)) if timeout else None
        next_kwargs = info.get("next_kwargs")
        try:
            await self._park(conn, view, ti, now, kind=trigger.get("kind"),
                             kwargs=trigger.get("kwargs") or {}, timeout_at=timeout_at,
                             # a sensor deferring itself (its arguments were only known at
                             # run time) times out as a sensor: no retry, soft_fail skips
                             timeout_kind="sensor" if task.sensor is not None else "defer",
                             changes={
                                 **where,
                                 "next_method": info.get("next_method") or None,
                                 "next_kwargs": dict(next_kwargs)
                                 if isinstance(next_kwargs, Mapping) else {}})
        except TriggerError as exc:
            await self._finish_try(conn, view, ti, task, "failed",
                                   f"TaskDeferralError: the task deferred to an invalid "
                                   f"trigger: {exc}", now, where=where)
            return
        self._release(ti.id)
        self._cancel_timer(("timeout", ti.id))

    async def _wait_from_start(self, conn: AsyncConnection, view: _RunView,
                               ti: TaskInstanceRow, task: TaskSpec, now: datetime, *,
                               new_try: bool) -> None:
        """A start-from-trigger sensor is due: a try begins in ``deferred``, no executor."""
        assert task.sensor is not None and task.sensor.trigger is not None
        trigger = task.sensor.trigger
        changes: dict[str, Any] = {
            "scheduled_at": now, "start_date": now, "end_date": None, "duration": None,
            "next_retry_at": None, "waiting_reason": None, "executor": None,
            "hostname": None, "pid": None, "next_method": None, "next_kwargs": None,
            "first_poke_at": None}
        if new_try:
            changes["try_number"] = ti.try_number + 1
        timeout = task.sensor.timeout
        timeout_at = now + timedelta(seconds=float(timeout)) if timeout else None
        # A reschedule-mode sensor shows Airflow's up_for_reschedule while it waits
        waiting = "up_for_reschedule" if task.sensor.mode == "reschedule" else "deferred"
        try:
            kwargs = trigger.kwargs
            if trigger.kind == "file" and "fs_conn_id" in kwargs:
                kwargs = await self._file_kwargs(conn, view, kwargs)
            await self._park(conn, view, ti, now, kind=trigger.kind, kwargs=kwargs,
                             timeout_at=timeout_at, timeout_kind="sensor", changes=changes,
                             waiting=waiting)
        except TriggerError as exc:
            row = await self._write(conn, view, ti, "deferred", now, **changes)
            await self._finish_try(conn, view, row, task, "failed",
                                   f"the sensor's trigger cannot run: {exc}", now,
                                   no_retry=True)

    async def _file_kwargs(self, conn: AsyncConnection, view: _RunView,
                           kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """A FileSensor's path under its connection's base path (``files.with_base_path``),
        with the connections its tasks would see: the DAG's env, then its tenant's."""
        dag = await dags.get_dag(conn, view.run.dag_id)
        tenant = dag.tenant if dag is not None else "default"

        async def lookup(conn_id: str) -> Mapping[str, Any] | None:
            return await self.triggers.connection_lookup(tenant, conn_id)

        return await with_base_path(kwargs, view.spec.env, lookup)

    async def _park(self, conn: AsyncConnection, view: _RunView, ti: TaskInstanceRow,
                    now: datetime, *, kind: Any, kwargs: Mapping[str, Any],
                    timeout_at: datetime | None, timeout_kind: str,
                    changes: Mapping[str, Any], waiting: str = "deferred"
                    ) -> TaskInstanceRow:
        """Write the trigger and move ``ti`` to ``deferred`` on it (raises ``TriggerError``
        before writing anything when the trigger cannot run)."""
        validate(kind, kwargs)
        due_at = None
        if kind == "time":
            due_at = resolve_moment(kwargs, run=view.run, params=_run_params(view.spec, view.run),
                                    now=now)
        try_number = int(changes.get("try_number", ti.try_number))
        row = await trigger_rows.create_trigger(
            conn, classpath=str(kind), kwargs=dict(kwargs), task_instance_id=ti.id,
            try_number=try_number, now=now, due_at=due_at, timeout_at=timeout_at,
            timeout_kind=timeout_kind, triggerer_id=self.triggers.triggerer_id)
        if kind == "hitl":  # a person answers: Airflow 3.1+'s awaiting_input, same machinery
            waiting = "awaiting_input"
            await hitl_rows.open_request(conn, ti_id=ti.id, try_number=try_number,
                                         request=kwargs, now=now, timeout_at=timeout_at)
        parked = await self._write(conn, view, ti, waiting, now, **changes,
                                   trigger_id=row.id, trigger_timeout=timeout_at)
        self._trigger_adds.append((row, parked))
        self._emit_after_commit("ti.deferred", {
            "ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
            "map_index": ti.map_index, "trigger_id": row.id, "kind": row.classpath,
            "state": waiting})
        return parked

    async def _apply_trigger_event(self, conn: AsyncConnection, event: TriggerEvent,
                                   now: datetime) -> int | None:
        """A trigger fired or timed out: resume the try, or end it. Applied once: the task
        instance must still be deferred on this very trigger (``_write`` deletes it)."""
        found = await self._ti_view(conn, event.ti_id, now)
        if found is None or found[1].state not in WAITING_TI \
                or found[1].trigger_id != event.trigger_id \
                or found[1].try_number != event.try_number:
            if await trigger_rows.delete_trigger(conn, event.trigger_id):
                self._trigger_drops.append(event.trigger_id)
            return None
        view, ti = found
        task = view.spec.task(ti.task_id)
        sensor = task.sensor
        if event.timed_out:
            if event.timeout_kind == "sensor" and sensor is not None:
                waited = (now - (ti.start_date or now)).total_seconds()
                limit = f" ({sensor.timeout:g} s)" if sensor.timeout is not None else ""
                message = (f"AirflowSensorTimeout: the sensor waited {waited:g} s, longer "
                           f"than its timeout{limit}")
                if sensor.soft_fail:
                    await self._finish_try(conn, view, ti, task, "skipped", message, now)
                else:
                    await self._finish_try(conn, view, ti, task, "failed", message, now,
                                           no_retry=True)
            else:
                await self._finish_try(conn, view, ti, task, "failed",
                                       "TaskDeferralTimeout: the trigger did not fire before "
                                       "the deferral's timeout", now)
            return view.run.id
        payload = dict(event.payload)
        status = payload.get("status")
        if status == "failed":
            await self._finish_try(conn, view, ti, task, "failed",
                                   f"the trigger reported a failure: "
                                   f"{payload.get('reason') or payload}", now)
        elif status == "skipped":
            await self._finish_try(conn, view, ti, task, "skipped",
                                   f"the trigger asked to skip: "
                                   f"{payload.get('reason') or payload}", now)
        elif sensor is not None and sensor.trigger is not None:
            await self._finish_try(conn, view, ti, task, "success", None, now)
        else:
            next_kwargs = dict(ti.next_kwargs or {})
            next_kwargs["event"] = payload
            await self._write(conn, view, ti, "scheduled", now, next_kwargs=next_kwargs,
                              waiting_reason=None)
        return view.run.id

    async def _apply_timeout(self, conn: AsyncConnection, ti_id: str, try_number: int,
                             now: datetime) -> int | None:
        """execution_timeout: stop the try through its executor; fail it (or retry it)."""
        self._timers.pop(("timeout", ti_id), None)
        found = await self._ti_view(conn, ti_id, now)
        if found is None:
            return None
        view, ti = found
        if ti.try_number != try_number or ti.state != "running":
            return None
        task = view.spec.task(ti.task_id)
        self._cancels.append((ti.id, ti.executor or self._executor_for(task),
                              "execution_timeout"))
        message = (f"AirflowTaskTimeout: the task ran longer than its execution_timeout "
                   f"({task.execution_timeout:g} s) and was stopped")
        await self._finish_try(conn, view, ti, task, "failed", message, now)
        return view.run.id

    async def _apply_run_timeout(self, conn: AsyncConnection, dag_run_id: int,
                                 now: datetime) -> list[int]:
        """dagrun_timeout: the run fails; unfinished task instances are skipped (Airflow),
        in-flight ones stopped through their executor."""
        self._timers.pop(("run_timeout", dag_run_id), None)
        view = await self._view(conn, dag_run_id, now)
        if view is None or view.run.state != "running":
            return []
        for ti in list(view.tis.values()):
            if ti.state in FINISHED_TI:
                continue
            in_flight = ti.state in OCCUPYING
            if in_flight:
                self._cancels.append((ti.id, ti.executor or self._default_executor,
                                      "dagrun_timeout"))
                self._release(ti.id)
                self._cancel_timer(("timeout", ti.id))
            in_try = in_flight or ti.state in ("deferred", "awaiting_input",
                                               "up_for_reschedule")
            row = await self._write(conn, view, ti, "skipped", now)
            if in_try:
                await task_instances.record_try_of(
                    conn, row, error="the run exceeded its dagrun_timeout")
        return await self._finish_run(conn, view, "failed", now, reason="dagrun_timeout")

    # -- evaluation ----------------------------------------------------------------------------
    async def _evaluate(self, conn: AsyncConnection, dag_run_id: int, now: datetime,
                        launches: list[tuple[TaskLaunch, TaskSpec]]) -> list[int]:
        """Apply the rules to one run; returns other runs to evaluate (freed run slots)."""
        view = await self._view(conn, dag_run_id, now)
        if view is None:
            self._held_runs.discard(dag_run_id)
            return []
        run = view.run
        if run.state in FINISHED_RUN_STATES:
            # Finished elsewhere (a user marked it): it no longer holds a run slot.
            self._forget(run.id)
            self._held_runs.discard(run.id)
            return await self._release_dag(conn, run.dag_id, now)
        if await self._is_paused(conn, run.dag_id):
            return []  # Airflow examines no run of a paused DAG; unpausing wakes them
        spec, graph = view.spec, view.graph
        if run.state == "queued":
            if not await self._start_run(conn, view, now):
                return []
            run = view.run
        if not view.tis:
            for row in await task_instances.create_task_instances(
                    conn, run, [_new_ti(task) for task in spec.tasks]):
                self._keep(view, row)
        states: dict[TIKey, str | None] = {k: t.state for k, t in view.tis.items()}
        fresh: list[TIKey] = []  # to be scheduled now (a new try)
        for _ in range(len(spec.tasks) + 2):  # each pass completes no-op tasks; bounded
            decision = evaluate_run(
                graph, states,
                mapped_lengths=await self._mapped_lengths(conn, view, states),
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
                await self._write(conn, view, view.tis[key], "skipped", now)
                states[key] = "skipped"
            for key in decision.upstream_failed:
                await self._write(conn, view, view.tis[key], "upstream_failed", now)
                states[key] = "upstream_failed"
            completed_noop = False
            for key in decision.schedule:
                ti = view.tis[key]
                if spec.task(ti.task_id).operator in NOOP_OPERATORS:
                    row = await self._write(conn, view, ti, "success", now,
                                            try_number=ti.try_number + 1, scheduled_at=now,
                                            queued_at=now, start_date=now, duration=0.0,
                                            next_retry_at=None, waiting_reason=None)
                    await task_instances.record_try_of(conn, row)
                    task_spec = spec.task(ti.task_id)
                    if task_spec.outlets:  # an EmptyOperator with outlets emits events too
                        self._asset_runs.update(await record_task_success(
                            conn, run=view.run, ti=row, task=task_spec, outlet_events=None,
                            now=now))
                    states[key] = "success"
                    completed_noop = True
                else:
                    states[key] = "scheduled"
                    fresh.append(key)
            if not completed_noop:
                break
        await self._hand_out(conn, view, fresh, now, launches)
        if decision.finished:
            return await self._finish_run(conn, view, decision.run_state.value, now)
        if decision.next_wakeup is not None:
            self._set_timer(("wakeup", run.id), decision.next_wakeup, ("run", run.id))
        return []

    async def _expand(self, conn: AsyncConnection, view: _RunView,
                      states: dict[TIKey, str | None], task_id: str, length: int) -> None:
        # The placeholder row becomes map index 0 (same id), the others are new rows.
        view.tis.pop((task_id, -1))
        states.pop((task_id, -1), None)
        rows = await task_instances.expand_placeholder(
            conn, view.run, task_id, length, _new_ti(view.spec.task(task_id)))
        for row in rows:
            self._keep(view, row)
            states[(row.task_id, row.map_index)] = row.state

    async def _start_run(self, conn: AsyncConnection, view: _RunView, now: datetime) -> bool:
        """queued → running, unless the DAG is at max_active_runs."""
        run = view.run
        active = self._running_runs.get(run.dag_id)
        if active is None:
            active = await runs.count_runs(conn, dag_id=run.dag_id, state="running")
        self._running_runs[run.dag_id] = active
        if active >= view.spec.max_active_runs:
            self._waiting_runs.setdefault(run.dag_id, set()).add(run.id)
            return False
        waiting = self._waiting_runs.get(run.dag_id)
        if waiting is not None:
            waiting.discard(run.id)
        view.run = await runs.update_run_state(conn, run.id, "running", now=now)
        self._running_runs[run.dag_id] = active + 1
        if view.spec.dagrun_timeout:
            self._set_timer(("run_timeout", run.id),
                            (view.run.start_date or now)
                            + timedelta(seconds=view.spec.dagrun_timeout),
                            ("run_timeout", run.id))
        self._emit_after_commit("run.running", {"dag_id": run.dag_id, "run_id": run.run_id})
        return True

    async def _finish_run(self, conn: AsyncConnection, view: _RunView, state: str,
                          now: datetime, reason: str | None = None) -> list[int]:
        run = view.run
        await runs.update_run_state(conn, run.id, state, now=now)
        self._running_runs.pop(run.dag_id, None)
        self._cancel_timer(("run_timeout", run.id))
        self._cancel_timer(("wakeup", run.id))
        self._held_runs.discard(run.id)
        self._forget(run.id)
        data = {"dag_id": run.dag_id, "run_id": run.run_id, "state": state}
        if reason:
            data["reason"] = reason
        self._emit_after_commit("run.finished", data)
        return await self._release_dag(conn, run.dag_id, now)

    async def _release_dag(self, conn: AsyncConnection, dag_id: str, now: datetime) -> list[int]:
        """A run of ``dag_id`` ended: runs waiting for max_active_runs, and catchup runs
        that were not created for want of a run slot, may go now."""
        more = sorted(self._waiting_runs.pop(dag_id, set()))
        if dag_id in self._catchup_blocked:
            more.extend(sorted(await self._schedule_dag(conn, dag_id, now)))
        return more

    async def _is_paused(self, conn: AsyncConnection, dag_id: str) -> bool:
        paused = self._paused.get(dag_id)
        if paused is None:
            dag = await dags.get_dag(conn, dag_id)
            paused = self._paused[dag_id] = dag is None or dag.is_paused
        return paused

    async def _hand_out(self, conn: AsyncConnection, view: _RunView, fresh: list[TIKey],
                        now: datetime, launches: list[tuple[TaskLaunch, TaskSpec]]) -> None:
        """Hand scheduled task instances to executors within the limits; record why not."""
        run, spec = view.run, view.spec
        new = set(fresh)
        ready = [view.tis[k] for k in fresh]
        ready.extend(t for k, t in view.tis.items() if t.state == "scheduled" and k not in new)
        if not ready:
            self._held_runs.discard(run.id)
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
                await self._wait_from_start(conn, view, ti, task, now, new_try=fresh_try)
                continue
            start: dict[str, Any] = {}
            if fresh_try:
                start = {"try_number": ti.try_number + 1, "next_method": None,
                         "next_kwargs": None, "first_poke_at": None, "trigger_id": None,
                         "trigger_timeout": None}
            reason = self._limit_reason(run.dag_id, spec)
            if reason is None:
                reason = await self._pool_reason(conn, ti)
            if reason is not None:
                held = True
                if is_new:
                    await self._write(conn, view, ti, "scheduled", now, **start,
                                      next_retry_at=None, waiting_reason=reason)
                elif ti.waiting_reason != reason:
                    await self._write(conn, view, ti, "scheduled", now,
                                      scheduled_at=ti.scheduled_at, waiting_reason=reason)
                continue
            executor = self._executor_for(task)
            if is_new:
                row = await self._write(conn, view, ti, "queued", now, **start,
                                        scheduled_at=now, next_retry_at=None,
                                        executor=executor, waiting_reason=None)
            else:
                row = await self._write(conn, view, ti, "queued", now, executor=executor,
                                        waiting_reason=None)
            self._occupied[ti.id] = _Occupant(ti.dag_id, run.id, ti.pool, ti.pool_slots,
                                              row.try_number, executor)
            launches.append((_launch_of(row, run, operator=task.operator,
                                        timeout=task.execution_timeout), task))
        if held:
            self._held_runs.add(run.id)
        else:
            self._held_runs.discard(run.id)

    def _limit_reason(self, dag_id: str, spec: DagSpec) -> str | None:
        if len(self._occupied) >= self.parallelism:
            return (f"waiting for a free slot: parallelism ({self.parallelism}) task "
                    "instances are queued or running")
        in_dag = sum(1 for o in self._occupied.values() if o.dag_id == dag_id)
        if in_dag >= spec.max_active_tasks:
            return (f"waiting: max_active_tasks ({spec.max_active_tasks}) of DAG {dag_id!r} "
                    "are queued or running")
        return None

    async def _pool_reason(self, conn: AsyncConnection, ti: TaskInstanceRow) -> str | None:
        size = await self._pool_size(conn, ti.pool)
        if size is None:
            return f"waiting: pool {ti.pool!r} does not exist (create it, or change the task)"
        used = sum(o.slots for o in self._occupied.values() if o.pool == ti.pool)
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

    def _release(self, ti_id: str) -> None:
        if self._occupied.pop(ti_id, None) is not None:
            self._occupied_changed = True

    # -- inputs of the rules -----------------------------------------------------------------
    async def _mapped_lengths(self, conn: AsyncConnection, view: _RunView,
                              states: Mapping[TIKey, str | None]) -> dict[str, int | None]:
        """Lengths of what unexpanded mapped tasks map over, once their upstreams succeeded."""
        lengths: dict[str, int | None] = {}
        for task_id, deps in view.graph.map_deps.items():
            if not deps or (task_id, -1) not in states:
                continue
            if any(st != "success" for (tid, _), st in states.items() if tid in deps):
                lengths[task_id] = None
                continue
            task = view.graph.tasks[task_id]
            assert task.expand is not None
            values: dict[XComRef, Any] = {}
            for value in task.expand.values.values():
                for ref in iter_xcom_refs(value):
                    values[ref] = await self._xcom_value(conn, view, ref)
            params = _run_params(view.spec, view.run)
            try:
                lengths[task_id] = expansion_length(
                    task.expand, task_id=task_id,
                    xcom_length=lambda ref, found=values: _length(found.get(ref)),
                    param_value=lambda name, given=params: given.get(name))
            except UnmappableValue as exc:
                log.warning("%s", exc)
                lengths[task_id] = None
        return lengths

    async def _xcom_value(self, conn: AsyncConnection, view: _RunView, ref: XComRef) -> Any:
        if view.spec.task(ref.task_id).is_mapped:
            values = await xcom.get_mapped_values(conn, view.run.id, ref.task_id, ref.key)
            return [values.get(i) for i in range(len(values))] if values else []
        row = await xcom.get_xcom(conn, view.run.id, ref.task_id, ref.key)
        return None if row is None else row.value

    # -- schedules ----------------------------------------------------------------------------
    async def _schedule_dag(self, conn: AsyncConnection, dag_id: str, now: datetime) -> set[int]:
        """Create the scheduled runs that are due (within max_active_runs) and set a timer
        for the next one."""
        self._cancel_timer(("cron", dag_id))
        self._catchup_blocked.discard(dag_id)
        dag = await dags.get_dag(conn, dag_id)
        self._paused[dag_id] = dag is None or dag.is_paused
        # A stale DAG (its file is gone or no longer defines it) gets no new scheduled runs.
        if dag is None or dag.is_paused or dag.is_stale or dag.current_version_id is None:
            return set()
        spec, _ = await self._spec(conn, dag.current_version_id)
        if spec.schedule.kind in ("none", "assets"):  # "assets": runs come from events
            return set()
        last = await runs.list_runs(conn, dag_id=dag_id, run_type="scheduled", limit=1,
                                    order="-logical_date")
        last_logical = last.items[0].logical_date if last.items else None
        tz = timetable.timezone_of(spec.schedule)
        start_date = timetable.parse_date(spec.start_date, tz)
        end_date = timetable.parse_date(spec.end_date, tz)
        created: set[int] = set()
        due = timetable.runs_between(spec.schedule, start_date=start_date, end_date=end_date,
                                     last_logical_date=last_logical, now=now,
                                     catchup=spec.catchup)
        active = await runs.count_runs(conn, dag_id, state=list(ACTIVE_RUN_STATES)) \
            if due else 0
        blocked = False
        for info in due:
            if active >= spec.max_active_runs:
                # Airflow creates no run while a DAG has max_active_runs active ones; the
                # rest follow as runs finish (``_release_dag``).
                blocked = True
                break
            try:
                run = await runs.create_run(
                    conn, dag_id=dag_id,
                    run_id=timetable.run_id(DagRunType.SCHEDULED, info.logical_date),
                    run_type="scheduled", dag_version_id=dag.current_version_id,
                    run_after=info.run_after, logical_date=info.logical_date,
                    data_interval_start=info.data_interval.start,
                    data_interval_end=info.data_interval.end, triggered_by="timetable",
                    partition_key=cron_partition_key(spec.schedule, info.logical_date),
                    now=now)
            except DuplicateRunError as exc:
                log.warning("DAG %s: no scheduled run for %s: %s", dag_id,
                            info.logical_date.isoformat(), exc)
            else:
                created.add(run.id)
                active += 1
            last_logical = info.logical_date
        upcoming = timetable.next_run(spec.schedule, start_date=start_date, end_date=end_date,
                                      last_logical_date=last_logical, now=now,
                                      catchup=spec.catchup)
        await dags.set_next_dagrun(
            conn, dag_id, logical_date=upcoming.logical_date if upcoming else None,
            data_interval_start=upcoming.data_interval.start if upcoming else None,
            data_interval_end=upcoming.data_interval.end if upcoming else None,
            run_after=upcoming.run_after if upcoming else None)
        if blocked:
            self._catchup_blocked.add(dag_id)
        elif upcoming is not None:
            self._set_timer(("cron", dag_id), upcoming.run_after, ("dag", dag_id))
        return created

    # -- timers ----------------------------------------------------------------------------------
    def _set_timer(self, key: tuple[str, Any], when: datetime, item: tuple[str, Any]) -> None:
        self._cancel_timer(key)

        def fire() -> None:
            self._timers.pop(key, None)
            self._put(item)

        self._timers[key] = self.clock.call_at(when, fire)

    def _cancel_timer(self, key: tuple[str, Any]) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()


def _coalesce(events: list[ExecutorEvent]
              ) -> list[tuple[ExecutorEvent, ExecutorEvent | None]]:
    """Pair a try's "running" report with its final report when both are in one batch."""
    final_at: dict[tuple[str, int], int] = {}
    for i, event in enumerate(events):
        if event.state != "running":
            final_at.setdefault((event.ti_id, event.try_number), i)
    started: dict[int, ExecutorEvent] = {}
    out: list[tuple[ExecutorEvent, ExecutorEvent | None]] = []
    for i, event in enumerate(events):
        if event.state == "running":
            j = final_at.get((event.ti_id, event.try_number))
            if j is not None and j > i:
                started[j] = event
                continue
        out.append((event, started.get(i)))
    return out


def _stamped(ti: TaskInstanceRow, state: str | None, now: datetime,
             changes: Mapping[str, Any]) -> dict[str, Any]:
    """The columns ``task_instances.set_task_state`` would write for this transition."""
    values: dict[str, Any] = {"state": state}
    if state == "scheduled":
        values["scheduled_at"] = now
    elif state == "queued":
        values["queued_at"] = now
    elif state == "running":
        values.update(start_date=now, end_date=None, duration=None, last_heartbeat_at=now)
    elif state in TRY_ENDED_STATES:
        values["end_date"] = now
        if ti.start_date is not None:
            values["duration"] = (now - ti.start_date).total_seconds()
    values.update(changes)
    return values


def _new_ti(task: TaskSpec) -> NewTaskInstance:
    return NewTaskInstance(task_id=task.task_id, map_index=-1, state=None,
                           max_tries=task.retries, operator=task.operator, pool=task.pool,
                           pool_slots=task.pool_slots, priority_weight=task.priority_weight)


def _launch_of(ti: TaskInstanceRow, run: DagRunRow, *, operator: str,
               timeout: float | None = None) -> TaskLaunch:
    return TaskLaunch(ti_id=ti.id, dag_id=ti.dag_id, run_id=ti.run_id, dag_run_id=run.id,
                      task_id=ti.task_id, map_index=ti.map_index, try_number=ti.try_number,
                      dag_version_id=run.dag_version_id, operator=operator,
                      execution_timeout=timeout, pid=ti.pid)


def _length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        return len(value)
    raise UnmappableValue(None, "expand", value)


def _run_params(spec: DagSpec, run: DagRunRow) -> dict[str, Any]:
    params = {name: p.get("default") for name, p in spec.params.items()}
    params.update({k: v for k, v in (run.conf or {}).items() if k in spec.params})
    return params
