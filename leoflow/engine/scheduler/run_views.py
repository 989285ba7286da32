"""The loop's in-memory views of active runs, and the one way it writes a task instance.

To decide quickly, the loop keeps each active run in memory (a *view*: the run row, its
spec and its task instances) and writes through it, so a decision costs a few conditional
updates instead of re-reading the run. A view is trusted only while the run's
``last_scheduling_decision`` still holds the token the loop stamped last: whoever else
changes a run's task instances clears it first in the same transaction
(``runs.mark_changed``; the operations service does), and the next stamp then fails and the
view is reloaded. Every write is also conditional on the state the view expects; a write
that finds another state means the view was stale (``StaleView``), and the batch is rolled
back and redone from the database.

Reloading a view is also when the loop learns what someone else did: tries it launched
whose task instance was cleared, marked or deleted are stopped, and triggers whose task
instance left ``deferred`` are deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.batching import StaleView
from leoflow.engine.scheduler.dag_graph import DagGraph
from leoflow.engine.scheduler.decisions import TIKey
from leoflow.engine.scheduler.work_items import Batch
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import dags, runs, task_instances, xcom
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow

SKIPMIXIN_KEY = "skipmixin_key"  # Airflow's XCom key for a branch's / short-circuit's choice
OCCUPYING = ("queued", "running")
ACTIVE_RUN_STATES = ("queued", "running")
FINISHED_RUN_STATES = ("success", "failed")
FINISHED_TI = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# States of a task instance parked on a trigger (``trigger_id`` set): deferred; a person's
# answer (awaiting_input); a reschedule-mode sensor waiting from its start in the control
# plane, shown up_for_reschedule as Airflow shows it between pokes.
WAITING_TI = frozenset({"deferred", "awaiting_input", "up_for_reschedule"})
PARKED = datetime.max.replace(tzinfo=UTC)  # "not before" of a task instance only a trigger moves

# Told, when a run is read again, which of its task instances it holds now (``None``: the
# run is gone), so that tries someone else ended are stopped (``Slots.stop_changed``).
StopChanged = Callable[[Batch, int, list[TaskInstanceRow] | None], None]


@dataclass
class RunView:
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


class RunViews:
    """The views of active runs, the specs they use, and their writes."""

    def __init__(self, stop_changed: StopChanged) -> None:
        self._stop_changed = stop_changed
        self._specs: dict[str, tuple[DagSpec, DagGraph]] = {}
        self.by_run: dict[int, RunView] = {}
        self.ti_runs: dict[str, int] = {}  # task instance id → dag_run id, for cached views
        self._last_token: datetime | None = None

    async def spec(self, conn: AsyncConnection, version_id: str) -> tuple[DagSpec, DagGraph]:
        """A DAG version's spec and graph (read once: versions are immutable)."""
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

    async def view(self, conn: AsyncConnection, batch: Batch,
                   dag_run_id: int) -> RunView | None:
        """The run's view, validated once per batch; ``None`` when the run is gone."""
        view = self.by_run.get(dag_run_id)
        if view is not None and view.checked == batch.number:
            return view
        token = self._token(batch.now)
        if view is not None:
            if await runs.stamp_scheduling_decision(conn, dag_run_id, token,
                                                    if_equals=view.token):
                view.token = token
                view.checked = batch.number
                return view
            self.forget(dag_run_id)
        # Stamping first locks the run's row (PostgreSQL): a user's change to it either
        # committed before (and is read below) or waits for this batch to commit.
        if not await runs.stamp_scheduling_decision(conn, dag_run_id, token):
            self._stop_changed(batch, dag_run_id, None)
            return None
        run = await runs.get_run_by_id(conn, dag_run_id)
        if run is None:
            raise LookupError(f"run {dag_run_id} vanished after its stamp")
        spec, graph = await self.spec(conn, run.dag_version_id)
        tis = await task_instances.list_for_run(conn, dag_run_id)
        self._stop_changed(batch, dag_run_id, tis)
        await self._drop_stale_triggers(conn, batch, dag_run_id, tis)
        view = RunView(run=run, spec=spec, graph=graph, tis={}, token=token,
                       checked=batch.number)
        for ti in tis:
            self.keep(view, ti)
        await self._load_choices(conn, view)
        if run.state in FINISHED_RUN_STATES:
            # Read for a late report or a user's change; not worth keeping.
            for ti_id in view.ids:
                self.ti_runs.pop(ti_id, None)
        else:
            self.by_run[dag_run_id] = view
        return view

    async def ti_view(self, conn: AsyncConnection, batch: Batch, ti_id: str
                      ) -> tuple[RunView, TaskInstanceRow] | None:
        """The view of a task instance's run and the task instance in it."""
        dag_run_id = self.ti_runs.get(ti_id)
        if dag_run_id is None:
            row = await task_instances.get_task_instance_by_id(conn, ti_id)
            if row is None:
                return None
            dag_run_id = row.dag_run_id
        view = await self.view(conn, batch, dag_run_id)
        key = None if view is None else view.ids.get(ti_id)
        if view is None or key is None:
            return None
        return view, view.tis[key]

    async def _drop_stale_triggers(self, conn: AsyncConnection, batch: Batch, dag_run_id: int,
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
                batch.trigger_drops.append(row.id)

    def keep(self, view: RunView, row: TaskInstanceRow) -> None:
        key = (row.task_id, row.map_index)
        view.tis[key] = row
        view.ids[row.id] = key
        self.ti_runs[row.id] = view.run.id

    def forget(self, dag_run_id: int) -> None:
        view = self.by_run.pop(dag_run_id, None)
        if view is not None:
            for ti_id in view.ids:
                self.ti_runs.pop(ti_id, None)

    def forget_all(self) -> None:
        self.by_run.clear()
        self.ti_runs.clear()

    async def _load_choices(self, conn: AsyncConnection, view: RunView) -> None:
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

    async def write(self, conn: AsyncConnection, batch: Batch, view: RunView,
                    ti: TaskInstanceRow, state: str | None, **changes: Any) -> TaskInstanceRow:
        """Move ``ti`` to ``state`` in the database and in the view (the store's
        ``task_instances.stamped`` timestamps), on the condition that the database agrees
        with the view.

        Leaving ``deferred`` deletes the trigger in the same transaction: whatever moved the
        task instance (its event, a timeout, the run's timeout), the trigger is spent."""
        if ti.state in WAITING_TI and state not in WAITING_TI and ti.trigger_id is not None:
            await trigger_rows.delete_trigger(conn, ti.trigger_id)
            batch.trigger_drops.append(ti.trigger_id)
            changes = {"trigger_id": None, "trigger_timeout": None, **changes}
        values = task_instances.stamped(state, batch.now, started=ti.start_date,
                                        changes=changes)
        if not await task_instances.update_if(conn, ti.id, expected_states=(ti.state,),
                                              **values):
            raise StaleView(f"task instance {ti.task_id}[{ti.map_index}] of run "
                            f"{view.run.run_id} is no longer {ti.state}")
        row = replace(ti, **values)
        view.tis[(row.task_id, row.map_index)] = row
        return row
