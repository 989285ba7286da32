"""The event-driven scheduler loop.

Everything that can change a run arrives as an item on one queue: an executor's report, a
user's operation, a timer (retry due, cron tick, timeout). One worker drains the queue in
batches; each batch is one transaction that applies the reports and re-evaluates every run
they touched with the pure rules of ``decisions.evaluate_run``. Launches are handed to the
executors after the commit. There is no polling interval: a task finishing wakes its run at
once, and timers exist only for retry delays, cron ticks and timeouts.

All state lives in the database; the in-memory bookkeeping (slots in use, timers) is rebuilt
by ``start()``, which also asks the executors to reconcile what was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.executors.base import Executor, ExecutorEvent, TaskLaunch
from leoflow.engine.scheduler import timetable
from leoflow.engine.scheduler.clock import Clock, SystemClock, Timer
from leoflow.engine.scheduler.decisions import (
    DagGraph,
    InvalidBranchChoice,
    evaluate_run,
    normalize_branch_choice,
)
from leoflow.engine.scheduler.mapping import UnmappableValue, expansion_length
from leoflow.engine.scheduler.retry import next_retry_at
from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.spec.model import DagSpec, TaskSpec, XComRef, iter_xcom_refs
from leoflow.engine.store import Store, dags, runs, task_instances, xcom
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow
from leoflow.engine.store.task_instances import NewTaskInstance

log = logging.getLogger("leoflow.scheduler")

SKIPMIXIN_KEY = "skipmixin_key"  # Airflow's XCom key for a branch's / short-circuit's choice
OCCUPYING = ("queued", "running")
ACTIVE_RUN_STATES = ("queued", "running")
# Operators the scheduler completes itself: nothing to run (Airflow never sends
# EmptyOperator to an executor either).
NOOP_OPERATORS = frozenset({"empty"})


@dataclass
class _Occupant:
    dag_id: str
    dag_run_id: int
    pool: str
    slots: int


@dataclass
class _Batch:
    events: list[ExecutorEvent] = field(default_factory=list)
    runs: set[int] = field(default_factory=set)
    dags: set[str] = field(default_factory=set)
    timeouts: list[tuple[str, int]] = field(default_factory=list)
    run_timeouts: set[int] = field(default_factory=set)


class Scheduler:
    """Moves runs and task instances; see the module docstring.

    ``executors`` maps an executor name to an executor; ``executor_for`` picks the name for a
    task (default: the first executor). ``parallelism`` caps task instances queued or running
    across all DAGs.
    """

    def __init__(self, store: Store, executors: Mapping[str, Executor], *,
                 clock: Clock | None = None, parallelism: int = 32,
                 executor_for: Callable[[TaskSpec], str] | None = None,
                 listeners: Iterable[Callable[[str, dict[str, Any]], None]] = ()) -> None:
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
        self._busy = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._specs: dict[str, tuple[DagSpec, DagGraph]] = {}
        self._occupied: dict[str, _Occupant] = {}
        self._held_runs: set[int] = set()
        self._waiting_runs: dict[str, set[int]] = {}
        self._timers: dict[tuple[str, Any], Timer] = {}
        self._launching: set[asyncio.Task[None]] = set()
        self._occupied_changed = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume from the database: active runs, in-flight tries, cron timers."""
        for executor in self.executors.values():
            executor.set_callback(self.report)
        in_flight: dict[str, list[TaskLaunch]] = {}
        async with self.store.connect() as conn:
            page = await runs.list_runs(conn, state=list(ACTIVE_RUN_STATES), limit=None)
            active = list(page.items)
            for run in active:
                for ti in await task_instances.list_for_run(conn, run.id, state=OCCUPYING):
                    self._occupied[ti.id] = _Occupant(ti.dag_id, ti.dag_run_id, ti.pool,
                                                      ti.pool_slots)
                    launch = _launch_of(ti, run, operator=ti.operator or "python")
                    in_flight.setdefault(ti.executor or self._default_executor, []).append(
                        launch)
            dag_rows = (await dags.list_dags(conn, limit=None)).items
        self._worker = asyncio.create_task(self._work(), name="leoflow-scheduler")
        for name, launches in in_flight.items():
            executor = self.executors.get(name) or self.executors[self._default_executor]
            await executor.reconcile(launches)
        for run in active:
            self.wake_run(run.id)
        for dag in dag_rows:
            if not dag.is_paused:
                self.wake_dag(dag.dag_id)

    async def stop(self) -> None:
        """Stop the worker and the timers; executors keep their tasks (see ``reconcile``)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for task in list(self._launching):
            task.cancel()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the queue is empty and nothing is being processed (for tests, CLIs)."""
        async def settled() -> None:
            while True:
                await self._idle.wait()
                await asyncio.sleep(0)
                if self._idle.is_set() and self._queue.empty() and not self._launching:
                    return

        await asyncio.wait_for(settled(), timeout)

    # -- inputs --------------------------------------------------------------------------------
    def wake_run(self, dag_run_id: int) -> None:
        """Re-evaluate a run soon (after a user's operation, a timer, a freed limit)."""
        self._put(("run", dag_run_id))

    def wake_dag(self, dag_id: str) -> None:
        """Recompute a DAG's schedule (after registration, pause or unpause)."""
        self._put(("dag", dag_id))

    async def cancel_task(self, ti_id: str, executor: str | None, reason: str) -> None:
        """Stop an in-flight try (a user cleared, marked or deleted it) and free its slot."""
        self._cancel_timer(("timeout", ti_id))
        if self._occupied.pop(ti_id, None) is not None:
            self._occupied_changed = True
            self._put(("slots", None))
        target = self.executors.get(executor or "") or self.executors[self._default_executor]
        await target.cancel(ti_id, reason)

    async def report(self, event: ExecutorEvent) -> None:
        """The executors' callback: a try started or ended."""
        self._put(("event", event))

    def _put(self, item: tuple[str, Any]) -> None:
        self._idle.clear()
        self._queue.put_nowait(item)

    # -- the worker ------------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            self._busy = True
            self._idle.clear()
            batch = _Batch()
            self._add(batch, item)
            while not self._queue.empty():
                self._add(batch, self._queue.get_nowait())
            try:
                await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler batch failed; its runs will be re-evaluated")
                for run_id in batch.runs:
                    self.clock.call_at(self.clock.now() + timedelta(seconds=1),
                                       lambda r=run_id: self.wake_run(r))
            finally:
                self._busy = False
                if self._queue.empty():
                    self._idle.set()

    def _add(self, batch: _Batch, item: tuple[str, Any]) -> None:
        kind, payload = item
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
        # "slots": nothing to add; the batch re-evaluates runs held back by limits

    async def _process(self, batch: _Batch) -> None:
        launches: list[tuple[TaskLaunch, TaskSpec]] = []
        cancels: list[tuple[str, str, str]] = []
        now = self.clock.now()
        async with self.store.begin() as conn:
            for dag_id in batch.dags:
                batch.runs.update(await self._schedule_dag(conn, dag_id, now))
            for event in batch.events:
                run_id = await self._apply_event(conn, event, now)
                if run_id is not None:
                    batch.runs.add(run_id)
            for ti_id, try_number in batch.timeouts:
                run_id = await self._apply_timeout(conn, ti_id, try_number, now, cancels)
                if run_id is not None:
                    batch.runs.add(run_id)
            for dag_run_id in batch.run_timeouts:
                await self._apply_run_timeout(conn, dag_run_id, now, cancels)
                batch.runs.add(dag_run_id)
            if self._occupied_changed:
                batch.runs.update(self._held_runs)
                self._occupied_changed = False
            pending = sorted(batch.runs)
            seen: set[int] = set()
            while pending:
                dag_run_id = pending.pop(0)
                if dag_run_id in seen:
                    continue
                seen.add(dag_run_id)
                more = await self._evaluate(conn, dag_run_id, now, launches)
                pending.extend(r for r in more if r not in seen)
        for ti_id, executor_name, reason in cancels:
            await self.executors[executor_name].cancel(ti_id, reason)
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
                                 "run_id": launch.run_id, "task_id": launch.task_id})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(kind, data)
            except Exception:
                log.exception("scheduler listener failed on %s", kind)

    # -- specs ---------------------------------------------------------------------------------
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

    # -- executor events -------------------------------------------------------------------------
    async def _apply_event(self, conn: AsyncConnection, event: ExecutorEvent,
                           now: datetime) -> int | None:
        ti = await task_instances.get_task_instance_by_id(conn, event.ti_id)
        if ti is None or ti.try_number != event.try_number:
            log.info("ignoring a stale report for %s try %s", event.ti_id, event.try_number)
            return None
        info = dict(event.info)
        where = {k: info[k] for k in ("hostname", "pid", "external_executor_id") if k in info}
        if event.state == "running":
            row = await task_instances.set_task_state(
                conn, ti.id, "running", now=now, expected_states=("queued", "scheduled"),
                **where)
            if row is not None:
                run = await runs.get_run_by_id(conn, ti.dag_run_id)
                spec, _ = await self._spec(conn, run.dag_version_id)
                task = spec.task(ti.task_id)
                if task.execution_timeout:
                    self._set_timer(("timeout", ti.id),
                                    now + timedelta(seconds=task.execution_timeout),
                                    ("timeout", (ti.id, ti.try_number)))
                self._emit("ti.running", {"ti_id": ti.id, "dag_id": ti.dag_id,
                                          "run_id": ti.run_id, "task_id": ti.task_id})
            return None
        if ti.state not in ("queued", "running", "scheduled"):
            return None  # already decided (marked by a user, timed out, cleared)
        run = await runs.get_run_by_id(conn, ti.dag_run_id)
        spec, _ = await self._spec(conn, run.dag_version_id)
        task = spec.task(ti.task_id)
        state = event.state
        error = event.error
        if state == "success" and task.operator == "branch":
            try:
                followed = normalize_branch_choice(spec, task.task_id,
                                                   info.get("follow_task_ids"))
            except InvalidBranchChoice as exc:
                state, error = "failed", str(exc)
            else:
                await xcom.put_xcom(conn, dag_run_id=run.id, task_id=ti.task_id,
                                    map_index=ti.map_index, key=SKIPMIXIN_KEY,
                                    value={"followed": list(followed)}, now=now)
        if state == "success" and task.operator == "short_circuit":
            await xcom.put_xcom(conn, dag_run_id=run.id, task_id=ti.task_id,
                                map_index=ti.map_index, key=SKIPMIXIN_KEY,
                                value={"short_circuit": bool(
                                    info.get("short_circuit_continue", True))}, now=now)
        await self._finish_try(conn, ti, run, task, state, error, now,
                               no_retry=bool(info.get("no_retry")), where=where)
        return run.id

    async def _finish_try(self, conn: AsyncConnection, ti: TaskInstanceRow, run: DagRunRow,
                          task: TaskSpec, state: str, error: str | None, now: datetime, *,
                          no_retry: bool = False, where: Mapping[str, Any] | None = None) -> None:
        """End the current try: success, skipped, failed, or up_for_retry when tries remain."""
        changes: dict[str, Any] = dict(where or {})
        if state == "failed" and not no_retry and ti.try_number <= ti.max_tries \
                and task.retries > 0:
            state = "up_for_retry"
            changes["next_retry_at"] = next_retry_at(
                task, dag_id=ti.dag_id, logical_date=run.logical_date,
                try_number=ti.try_number, end_date=now)
        await task_instances.set_task_state(conn, ti.id, state, now=now,
                                            expected_states=("queued", "running", "scheduled"),
                                            **changes)
        await task_instances.record_try(conn, ti.id, error=error)
        self._release(ti.id)
        timer = self._timers.pop(("timeout", ti.id), None)
        if timer is not None:
            timer.cancel()
        self._emit("ti.finished", {"ti_id": ti.id, "dag_id": ti.dag_id, "run_id": ti.run_id,
                                   "task_id": ti.task_id, "map_index": ti.map_index,
                                   "state": state, "error": error})

    async def _apply_timeout(self, conn: AsyncConnection, ti_id: str, try_number: int,
                             now: datetime, cancels: list[tuple[str, str, str]]) -> int | None:
        self._timers.pop(("timeout", ti_id), None)
        ti = await task_instances.get_task_instance_by_id(conn, ti_id)
        if ti is None or ti.try_number != try_number or ti.state != "running":
            return None
        run = await runs.get_run_by_id(conn, ti.dag_run_id)
        spec, _ = await self._spec(conn, run.dag_version_id)
        task = spec.task(ti.task_id)
        cancels.append((ti.id, ti.executor or self._executor_for(task),
                        "execution_timeout"))
        message = (f"AirflowTaskTimeout: the task ran longer than its execution_timeout "
                   f"({task.execution_timeout:g} s) and was stopped")
        await self._finish_try(conn, ti, run, task, "failed", message, now)
        return run.id

    async def _apply_run_timeout(self, conn: AsyncConnection, dag_run_id: int, now: datetime,
                                 cancels: list[tuple[str, str, str]]) -> None:
        """dagrun_timeout: the run fails; unfinished task instances are skipped (Airflow)."""
        self._timers.pop(("run_timeout", dag_run_id), None)
        run = await runs.get_run_by_id(conn, dag_run_id)
        if run is None or run.state != "running":
            return
        for ti in await task_instances.list_for_run(conn, run.id):
            if ti.state in ("success", "failed", "skipped", "upstream_failed", "removed"):
                continue
            if ti.state in OCCUPYING:
                cancels.append((ti.id, ti.executor or self._default_executor,
                                "dagrun_timeout"))
                self._release(ti.id)
            await task_instances.set_task_state(conn, ti.id, "skipped", now=now)
        await runs.update_run_state(conn, run.id, "failed", now=now)
        self._emit("run.finished", {"dag_id": run.dag_id, "run_id": run.run_id,
                                    "state": "failed", "reason": "dagrun_timeout"})
        self._wake_waiting(run.dag_id)

    # -- evaluation ----------------------------------------------------------------------------
    async def _evaluate(self, conn: AsyncConnection, dag_run_id: int, now: datetime,
                        launches: list[tuple[TaskLaunch, TaskSpec]]) -> list[int]:
        """Apply the rules to one run; returns other runs to evaluate (freed run slots)."""
        run = await runs.get_run_by_id(conn, dag_run_id)
        if run is None or run.state in ("success", "failed"):
            self._held_runs.discard(dag_run_id)
            return []
        spec, graph = await self._spec(conn, run.dag_version_id)
        if run.state == "queued":
            started = await self._start_run(conn, run, spec, now)
            if started is None:
                return []
            run = started
        tis = await task_instances.list_for_run(conn, run.id)
        if not tis:
            tis = await task_instances.create_task_instances(conn, run, [
                _new_ti(task) for task in spec.tasks])
        by_key = {(t.task_id, t.map_index): t for t in tis}
        for _ in range(len(spec.tasks) + 2):  # each pass completes no-op tasks; bounded
            decision = evaluate_run(
                graph, {k: t.state for k, t in by_key.items()},
                mapped_lengths=await self._mapped_lengths(conn, run, spec, by_key),
                branch_choices=await self._choices(conn, run, spec, by_key, "branch"),
                short_circuits=await self._choices(conn, run, spec, by_key, "short_circuit"),
                not_before={k: t.next_retry_at for k, t in by_key.items()
                            if t.state == "up_for_retry" and t.next_retry_at is not None},
                now=now)
            for key in decision.skip:
                await self._resolve(conn, by_key, key, "skipped", now)
            for key in decision.upstream_failed:
                await self._resolve(conn, by_key, key, "upstream_failed", now)
            for task_id, length in decision.expand.items():
                for row in await task_instances.expand_placeholder(
                        conn, run, task_id, length, _new_ti(spec.task(task_id))):
                    by_key.pop((task_id, -1), None)
                    by_key[(row.task_id, row.map_index)] = row
            completed_noop = False
            for key in decision.schedule:
                ti = by_key[key]
                task = spec.task(ti.task_id)
                row = await task_instances.set_task_state(
                    conn, ti.id, "scheduled", now=now, try_number=ti.try_number + 1,
                    next_retry_at=None, expected_states=(ti.state,))
                if row is None:
                    continue
                if task.operator in NOOP_OPERATORS:
                    row = await task_instances.set_task_state(conn, ti.id, "running", now=now)
                    row = await task_instances.set_task_state(conn, ti.id, "success", now=now)
                    await task_instances.record_try(conn, ti.id)
                    completed_noop = True
                by_key[key] = row
            if not completed_noop:
                break
        await self._queue_scheduled(conn, run, spec, by_key, now, launches)
        if decision.finished:
            await runs.update_run_state(conn, run.id, decision.run_state.value, now=now)
            timer = self._timers.pop(("run_timeout", run.id), None)
            if timer is not None:
                timer.cancel()
            self._held_runs.discard(run.id)
            self._emit("run.finished", {"dag_id": run.dag_id, "run_id": run.run_id,
                                        "state": decision.run_state.value})
            return self._wake_waiting(run.dag_id, now_evaluate=True)
        if decision.next_wakeup is not None:
            self._set_timer(("wakeup", run.id), decision.next_wakeup, ("run", run.id))
        await runs.set_last_scheduling_decision(conn, run.id, now)
        return []

    async def _start_run(self, conn: AsyncConnection, run: DagRunRow, spec: DagSpec,
                         now: datetime) -> DagRunRow | None:
        """queued → running, unless the DAG is paused or at max_active_runs."""
        dag = await dags.get_dag(conn, run.dag_id)
        if dag is None or dag.is_paused:
            return None
        active = await runs.count_runs(conn, dag_id=run.dag_id, state="running")
        if active >= spec.max_active_runs:
            self._waiting_runs.setdefault(run.dag_id, set()).add(run.id)
            return None
        self._waiting_runs.get(run.dag_id, set()).discard(run.id)
        started = await runs.update_run_state(conn, run.id, "running", now=now)
        if spec.dagrun_timeout:
            self._set_timer(("run_timeout", run.id),
                            (started.start_date or now) + timedelta(seconds=spec.dagrun_timeout),
                            ("run_timeout", run.id))
        self._emit("run.running", {"dag_id": run.dag_id, "run_id": run.run_id})
        return started

    def _wake_waiting(self, dag_id: str, now_evaluate: bool = False) -> list[int]:
        waiting = sorted(self._waiting_runs.pop(dag_id, set()))
        if not now_evaluate:
            for run_id in waiting:
                self.wake_run(run_id)
        return waiting

    async def _resolve(self, conn: AsyncConnection, by_key: dict[tuple[str, int], Any],
                       key: tuple[str, int], state: str, now: datetime) -> None:
        ti = by_key[key]
        row = await task_instances.set_task_state(conn, ti.id, state, now=now,
                                                  expected_states=(ti.state,))
        if row is not None:
            by_key[key] = row

    async def _queue_scheduled(self, conn: AsyncConnection, run: DagRunRow, spec: DagSpec,
                               by_key: Mapping[tuple[str, int], TaskInstanceRow],
                               now: datetime,
                               launches: list[tuple[TaskLaunch, TaskSpec]]) -> None:
        """Hand ``scheduled`` task instances to executors within the limits; record why not."""
        order = {tid: i for i, tid in enumerate(spec.task_ids)}
        ready = sorted((t for t in by_key.values() if t.state == "scheduled"),
                       key=lambda t: (-t.priority_weight, order.get(t.task_id, 0), t.map_index))
        held = False
        pools = None
        for ti in ready:
            reason = self._limit_reason(run.dag_id, spec, ti)
            if reason is None:
                if pools is None:
                    pools = {}
                reason = await self._pool_reason(conn, ti, pools)
            if reason is not None:
                held = True
                if ti.waiting_reason != reason:
                    await task_instances.update_task_instance(conn, ti.id, waiting_reason=reason)
                continue
            task = spec.task(ti.task_id)
            executor = self._executor_for(task)
            row = await task_instances.set_task_state(
                conn, ti.id, "queued", now=now, executor=executor, waiting_reason=None,
                expected_states=("scheduled",))
            if row is None:
                continue
            self._occupied[ti.id] = _Occupant(ti.dag_id, run.id, ti.pool, ti.pool_slots)
            if pools is not None:
                pools[ti.pool] = pools.get(ti.pool, 0) + ti.pool_slots
            launches.append((_launch_of(row, run, operator=task.operator,
                                        timeout=task.execution_timeout), task))
        if held:
            self._held_runs.add(run.id)
        else:
            self._held_runs.discard(run.id)

    def _limit_reason(self, dag_id: str, spec: DagSpec, ti: TaskInstanceRow) -> str | None:
        if len(self._occupied) >= self.parallelism:
            return (f"waiting for a free slot: parallelism ({self.parallelism}) task "
                    "instances are queued or running")
        in_dag = sum(1 for o in self._occupied.values() if o.dag_id == dag_id)
        if in_dag >= spec.max_active_tasks:
            return (f"waiting: max_active_tasks ({spec.max_active_tasks}) of DAG {dag_id!r} "
                    "are queued or running")
        return None

    async def _pool_reason(self, conn: AsyncConnection, ti: TaskInstanceRow,
                           pools: dict[str, int]) -> str | None:
        from leoflow.engine.store import pools as pool_repo

        pool = await pool_repo.get_pool(conn, ti.pool)
        if pool is None:
            return f"waiting: pool {ti.pool!r} does not exist (create it, or change the task)"
        used = sum(o.slots for o in self._occupied.values() if o.pool == ti.pool)
        if used + ti.pool_slots > pool.slots:
            return (f"waiting: pool {ti.pool!r} has {pool.slots - used} free slot(s) of "
                    f"{pool.slots}, the task needs {ti.pool_slots}")
        return None

    def _release(self, ti_id: str) -> None:
        if self._occupied.pop(ti_id, None) is not None:
            self._occupied_changed = True

    # -- inputs of the rules -----------------------------------------------------------------
    async def _mapped_lengths(self, conn: AsyncConnection, run: DagRunRow, spec: DagSpec,
                              by_key: Mapping[tuple[str, int], TaskInstanceRow]
                              ) -> dict[str, int | None]:
        lengths: dict[str, int | None] = {}
        for task in spec.tasks:
            if task.expand is None or (task.task_id, -1) not in by_key:
                continue
            values: dict[XComRef, Any] = {}
            known = True
            refs = [ref for value in task.expand.values.values()
                    for ref in iter_xcom_refs(value)]
            for ref in refs:
                states = [t.state for k, t in by_key.items() if k[0] == ref.task_id]
                if not states or any(s != "success" for s in states):
                    known = False
                    break
                values[ref] = await self._xcom_value(conn, run, spec, ref)
            if not known:
                lengths[task.task_id] = None
                continue
            params = _run_params(spec, run)
            try:
                lengths[task.task_id] = expansion_length(
                    task.expand, task_id=task.task_id,
                    xcom_length=lambda ref, found=values: _length(found.get(ref)),
                    param_value=lambda name, given=params: given.get(name))
            except UnmappableValue as exc:
                log.warning("%s", exc)
                lengths[task.task_id] = None
        return lengths

    async def _xcom_value(self, conn: AsyncConnection, run: DagRunRow, spec: DagSpec,
                          ref: XComRef) -> Any:
        if spec.task(ref.task_id).is_mapped:
            values = await xcom.get_mapped_values(conn, run.id, ref.task_id, ref.key)
            return [values.get(i) for i in range(len(values))] if values else []
        row = await xcom.get_xcom(conn, run.id, ref.task_id, ref.key)
        return None if row is None else row.value

    async def _choices(self, conn: AsyncConnection, run: DagRunRow, spec: DagSpec,
                       by_key: Mapping[tuple[str, int], TaskInstanceRow], operator: str
                       ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (task_id, map_index), ti in by_key.items():
            if ti.state != "success" or spec.task(task_id).operator != operator:
                continue
            row = await xcom.get_xcom(conn, run.id, task_id, SKIPMIXIN_KEY, map_index)
            if row is None or not isinstance(row.value, dict):
                continue
            if operator == "branch":
                out[task_id] = tuple(row.value.get("followed", ()))
            else:
                out[task_id] = bool(row.value.get("short_circuit", True))
        return out

    # -- schedules ----------------------------------------------------------------------------
    async def _schedule_dag(self, conn: AsyncConnection, dag_id: str, now: datetime) -> set[int]:
        """Create the scheduled runs that are due and set a timer for the next one."""
        self._cancel_timer(("cron", dag_id))
        dag = await dags.get_dag(conn, dag_id)
        if dag is None or dag.is_paused or dag.current_version_id is None:
            return set()
        spec, _ = await self._spec(conn, dag.current_version_id)
        if spec.schedule.kind == "none":
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
        for info in due:
            run = await runs.create_run(
                conn, dag_id=dag_id, run_id=timetable.run_id(DagRunType.SCHEDULED,
                                                             info.logical_date),
                run_type="scheduled", dag_version_id=dag.current_version_id,
                run_after=info.run_after, logical_date=info.logical_date,
                data_interval_start=info.data_interval.start,
                data_interval_end=info.data_interval.end, triggered_by="scheduler", now=now)
            created.add(run.id)
            last_logical = info.logical_date
        upcoming = timetable.next_run(spec.schedule, start_date=start_date, end_date=end_date,
                                      last_logical_date=last_logical, now=now,
                                      catchup=spec.catchup)
        if upcoming is not None:
            await dags.set_next_dagrun(
                conn, dag_id, logical_date=upcoming.logical_date,
                data_interval_start=upcoming.data_interval.start,
                data_interval_end=upcoming.data_interval.end, run_after=upcoming.run_after)
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

    def timer_due(self, kind: str, key: Any) -> bool:
        """Whether a timer of ``kind`` is set for ``key`` (for tests and diagnostics)."""
        return (kind, key) in self._timers


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
