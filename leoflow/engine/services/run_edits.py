"""Changes a person makes to runs and task instances beside marking and clearing: queue a
run again as it is, and write notes. Each writes in one transaction with its audit row,
then wakes the scheduler when there is something for it to do (the API's PATCH routes and
any other face call these; routes open no transaction of their own)."""

from __future__ import annotations

from collections.abc import Iterable

from leoflow.engine.services.operations import Operations
from leoflow.engine.store import audit, runs, task_instances
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow


async def requeue_run(ops: Operations, run: DagRunRow, *, user: str | None) -> None:
    """Airflow's ``set_dag_run_state_to_queued``: the run is queued again as it is (its task
    instances keep their states); the scheduler then takes it up."""
    async with ops.store.begin() as conn:
        await runs.mark_changed(conn, run.id)
        await runs.update_run_state(conn, run.id, "queued")
        await audit.record_event(conn, "mark_run_queued", username=user, dag_id=run.dag_id,
                                 run_id=run.run_id)
    ops.scheduler.wake_run(run.id)


async def set_run_note(ops: Operations, run: DagRunRow, note: str | None, *,
                       user: str | None) -> None:
    async with ops.store.begin() as conn:
        await runs.set_run_note(conn, run.id, note)
        await audit.record_event(conn, "set_run_note", username=user, dag_id=run.dag_id,
                                 run_id=run.run_id)


async def set_task_notes(ops: Operations, tis: Iterable[TaskInstanceRow], note: str | None,
                         *, user: str | None, audited: bool = True) -> None:
    """Set the note of task instances; ``audited``: with a ``set_task_note`` row each (a
    clear's note is part of the clear's own audit row)."""
    async with ops.store.begin() as conn:
        for ti in tis:
            await task_instances.update_task_instance(conn, ti.id, note=note)
            if audited:
                await audit.record_event(conn, "set_task_note", username=user,
                                         dag_id=ti.dag_id, run_id=ti.run_id,
                                         task_id=ti.task_id, map_index=ti.map_index)
