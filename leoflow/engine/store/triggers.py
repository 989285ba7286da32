"""Trigger rows: what deferred task instances wait for (see leoflow/engine/triggers).

A row lives from the moment a try defers until the transaction that applies its event (or
gives up on it) deletes it; ``delete_trigger`` reports whether it deleted anything, which is
how the scheduler applies each trigger's event at most once. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import inserted_id, to_rows
from leoflow.engine.store.rows import TriggerRow
from leoflow.engine.store.tables import task_instance, trigger


async def create_trigger(conn: AsyncConnection, *, classpath: str, kwargs: Mapping[str, Any],
                         task_instance_id: str, try_number: int, now: datetime,
                         due_at: datetime | None = None, timeout_at: datetime | None = None,
                         timeout_kind: str | None = None,
                         triggerer_id: str | None = None) -> TriggerRow:
    """Insert a trigger for one try of a task instance; returns it with its new id."""
    values: dict[str, Any] = {"classpath": classpath, "kwargs": dict(kwargs), "created_date": now,
              "triggerer_id": triggerer_id, "task_instance_id": task_instance_id,
              "try_number": try_number, "due_at": due_at, "timeout_at": timeout_at,
              "timeout_kind": timeout_kind}
    result = await conn.execute(trigger.insert().values(**values))
    return TriggerRow(id=inserted_id(result, "trigger"), **values)


async def get_trigger(conn: AsyncConnection, trigger_id: int) -> TriggerRow | None:
    row = (await conn.execute(select(trigger).where(trigger.c.id == trigger_id))).first()
    return TriggerRow(**row._mapping) if row else None


async def set_trigger_kwargs(conn: AsyncConnection, trigger_id: int,
                             kwargs: Mapping[str, Any]) -> bool:
    """Replace a waiting trigger's arguments (a ``dag_run`` trigger records there the run it
    created, in the transaction that creates it); False when the row is gone."""
    result = await conn.execute(update(trigger).where(trigger.c.id == trigger_id)
                                .values(kwargs=dict(kwargs)))
    return bool(result.rowcount)


async def get_triggers(conn: AsyncConnection, trigger_ids: Collection[int]
                       ) -> dict[int, TriggerRow]:
    """Triggers by id (for listings that show what each task instance waits for)."""
    if not trigger_ids:
        return {}
    rows = await conn.execute(select(trigger).where(trigger.c.id.in_(list(trigger_ids))))
    return {r.id: TriggerRow(**r._mapping) for r in rows}


async def list_triggers(conn: AsyncConnection) -> list[TriggerRow]:
    """Every waiting trigger, oldest first (the runner loads them when it starts)."""
    return to_rows(TriggerRow, (await conn.execute(select(trigger).order_by(trigger.c.id))).all())


async def triggers_of_run(conn: AsyncConnection, dag_run_id: int) -> list[TriggerRow]:
    """The triggers of a run's task instances."""
    query = (select(trigger).join(task_instance, task_instance.c.id == trigger.c.task_instance_id)
             .where(task_instance.c.dag_run_id == dag_run_id).order_by(trigger.c.id))
    return to_rows(TriggerRow, (await conn.execute(query)).all())


async def delete_trigger(conn: AsyncConnection, trigger_id: int) -> bool:
    """Delete a trigger; ``False`` when it was already gone (its event was applied)."""
    return (await conn.execute(delete(trigger).where(trigger.c.id == trigger_id))).rowcount > 0


async def claim_triggers(conn: AsyncConnection, triggerer_id: str) -> int:
    """Make ``triggerer_id`` the owner of every trigger (the new leader took over)."""
    result = await conn.execute(update(trigger).values(triggerer_id=triggerer_id))
    return result.rowcount


async def count_triggers(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(trigger))).scalar_one()


async def waiting_with_keys(conn: AsyncConnection
                            ) -> list[tuple[TriggerRow, str, str, str, int, int]]:
    """Every trigger with its task instance's ``dag_id, run_id, task_id, map_index,
    dag_run_id`` (what the runner needs to name the try's log and find its run)."""
    query = (select(trigger, task_instance.c.dag_id, task_instance.c.run_id,
                    task_instance.c.task_id, task_instance.c.map_index,
                    task_instance.c.dag_run_id)
             .join(task_instance, task_instance.c.id == trigger.c.task_instance_id)
             .order_by(trigger.c.id))
    out = []
    for r in await conn.execute(query):
        m = r._mapping
        row = TriggerRow(**{c.name: m[trigger.c[c.name]] for c in trigger.c})
        out.append((row, m[task_instance.c.dag_id], m[task_instance.c.run_id],
                    m[task_instance.c.task_id], m[task_instance.c.map_index],
                    m[task_instance.c.dag_run_id]))
    return out


async def external_states(conn: AsyncConnection, dag_id: str, logical_date: datetime | None,
                          task_ids: Collection[str] | None, task_group_id: str | None = None
                          ) -> tuple[str | None, dict[str, list[str | None]]]:
    """For an external-task trigger: the state of ``dag_id``'s run at ``logical_date``
    (``None`` when there is no such run) and the states of ``task_ids``' instances in it,
    or of every task of the task group ``task_group_id`` (ids ``group.task``)."""
    from leoflow.engine.store.tables import dag_run

    run = (await conn.execute(select(dag_run.c.id, dag_run.c.state).where(
        dag_run.c.dag_id == dag_id, dag_run.c.logical_date == logical_date))).first()
    if run is None:
        return None, {}
    states: dict[str, list[str | None]] = {}
    if task_ids:
        rows = await conn.execute(select(task_instance.c.task_id, task_instance.c.state).where(
            task_instance.c.dag_run_id == run.id, task_instance.c.task_id.in_(list(task_ids))))
        for task_id, state in rows:
            states.setdefault(task_id, []).append(state)
    elif task_group_id:
        rows = await conn.execute(select(task_instance.c.task_id, task_instance.c.state).where(
            task_instance.c.dag_run_id == run.id,
            task_instance.c.task_id.startswith(task_group_id + ".", autoescape=True)))
        for task_id, state in rows:
            states.setdefault(task_id, []).append(state)
    return run.state, states
