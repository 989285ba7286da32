"""Task instances (one row per task and map index in a run) and their finished tries.

The live row holds the current try; ``record_try`` copies it into
``task_instance_history`` when a try ends, so that ``/tries`` and the per-try logs can list
every attempt. Updates can be made conditional on the current state
(``expected_states``): the scheduler and an agent racing on the same row cannot both win.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import as_tuple, fetch_page, only, order_by, to_rows, upsert
from leoflow.engine.store.errors import (
    DuplicateTaskInstanceError,
    TaskInstanceNotFoundError,
)
from leoflow.engine.store.rows import (
    DagRunRow,
    Page,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
)
from leoflow.engine.store.tables import DEFAULT_POOL, task_instance, task_instance_history
from leoflow.engine.store.types import utcnow

# States after which a try is over (its end_date and duration are set).
TRY_ENDED_STATES = frozenset(
    {"success", "failed", "skipped", "upstream_failed", "removed", "up_for_retry"}
)
TI_ORDER_FIELDS = (
    "dag_run_id",
    "task_id",
    "map_index",
    "state",
    "start_date",
    "end_date",
    "queued_at",
    "try_number",
    "priority_weight",
)
# Fields a caller may change with update_task_instance / set_task_state.
UPDATABLE_FIELDS = (
    "state",
    "try_number",
    "max_tries",
    "scheduled_at",
    "queued_at",
    "start_date",
    "end_date",
    "duration",
    "next_retry_at",
    "last_heartbeat_at",
    "executor",
    "external_executor_id",
    "hostname",
    "pid",
    "waiting_reason",
    "note",
    "rendered_map_index",
    "pool",
    "pool_slots",
    "priority_weight",
    "operator",
    "trigger_id",
    "next_method",
    "next_kwargs",
    "trigger_timeout",
    "first_poke_at",
)


@dataclass(frozen=True)
class NewTaskInstance:
    """What the scheduler knows about a task instance when it creates it."""

    task_id: str
    map_index: int = -1
    state: str | None = None
    max_tries: int = 0
    operator: str | None = None
    pool: str = DEFAULT_POOL
    pool_slots: int = 1
    priority_weight: int = 1
    rendered_map_index: str | None = None


async def create_task_instances(
    conn: AsyncConnection, run: DagRunRow, new: Iterable[NewTaskInstance]
) -> list[TaskInstanceRow]:
    """Create the task instances of a run in one statement; returns them in input order.

    ``try_number`` starts at 0 (never queued yet). Raises ``DuplicateTaskInstanceError``
    when a ``(task_id, map_index)`` is repeated or already exists in the run; the caller's
    transaction stays usable.
    """
    rows: list[TaskInstanceRow] = []
    seen: set[tuple[str, int]] = set()
    for item in new:
        key = (item.task_id, item.map_index)
        if key in seen:
            raise DuplicateTaskInstanceError(run.id, item.task_id, item.map_index)
        seen.add(key)
        rows.append(
            TaskInstanceRow(
                id=str(uuid.uuid4()),
                dag_run_id=run.id,
                dag_id=run.dag_id,
                run_id=run.run_id,
                task_id=item.task_id,
                map_index=item.map_index,
                rendered_map_index=item.rendered_map_index,
                state=item.state,
                try_number=0,
                max_tries=item.max_tries,
                operator=item.operator,
                pool=item.pool,
                pool_slots=item.pool_slots,
                priority_weight=item.priority_weight,
                scheduled_at=None,
                queued_at=None,
                start_date=None,
                end_date=None,
                duration=None,
                next_retry_at=None,
                last_heartbeat_at=None,
                executor=None,
                external_executor_id=None,
                hostname=None,
                pid=None,
                waiting_reason=None,
                note=None,
            )
        )
    if not rows:
        return []
    try:
        async with conn.begin_nested():
            await conn.execute(task_instance.insert(), [r.__dict__ for r in rows])
    except IntegrityError as exc:
        existing = await conn.execute(
            select(task_instance.c.task_id, task_instance.c.map_index).where(
                task_instance.c.dag_run_id == run.id
            )
        )
        taken = {(r.task_id, r.map_index) for r in existing}
        for key in seen:
            if key in taken:
                raise DuplicateTaskInstanceError(run.id, key[0], key[1]) from exc
        raise
    return rows


async def get_task_instance(
    conn: AsyncConnection, dag_run_id: int, task_id: str, map_index: int = -1
) -> TaskInstanceRow | None:
    """A task instance by its natural key, or ``None``."""
    row = (
        await conn.execute(
            select(task_instance).where(
                task_instance.c.dag_run_id == dag_run_id,
                task_instance.c.task_id == task_id,
                task_instance.c.map_index == map_index,
            )
        )
    ).first()
    return TaskInstanceRow(**row._mapping) if row else None


# built once: agent calls read their task instance by id (no statement built per call)
_BY_ID = select(task_instance).where(task_instance.c.id == bindparam("ti_id"))


async def get_task_instance_by_id(conn: AsyncConnection, ti_id: str) -> TaskInstanceRow | None:
    """A task instance by its UUID (what agents and tokens carry), or ``None``."""
    row = (await conn.execute(_BY_ID, {"ti_id": ti_id})).first()
    return TaskInstanceRow(**row._mapping) if row else None


def _state_in(states: Collection[str | None]) -> ColumnElement[bool]:
    named = [s for s in states if s is not None]
    condition: ColumnElement[bool] = task_instance.c.state.in_(named)
    if None in states:
        condition = or_(condition, task_instance.c.state.is_(None))
    return condition


async def list_for_run(
    conn: AsyncConnection,
    dag_run_id: int,
    *,
    task_id: str | None = None,
    state: Collection[str | None] | None = None,
) -> list[TaskInstanceRow]:
    """Every task instance of a run (by task id, then map index): the scheduler's view.

    ``state`` filters on a collection of states, ``None`` inside it meaning "no state".
    """
    query = select(task_instance).where(task_instance.c.dag_run_id == dag_run_id)
    if task_id is not None:
        query = query.where(task_instance.c.task_id == task_id)
    if state is not None:
        query = query.where(_state_in(state))
    query = query.order_by(task_instance.c.task_id, task_instance.c.map_index)
    return to_rows(TaskInstanceRow, (await conn.execute(query)).all())


async def list_task_instances(
    conn: AsyncConnection,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    state: Collection[str | None] | None = None,
    pool: str | Sequence[str] | None = None,
    limit: int | None = 100,
    offset: int = 0,
    order: str = "dag_run_id",
) -> Page[TaskInstanceRow]:
    """Task instances matching the filters, one page, with the total (the API's listing).

    ``None`` filters mean "any" (Airflow's ``~``).
    """
    query = select(task_instance)
    if dag_id is not None:
        query = query.where(task_instance.c.dag_id == dag_id)
    if run_id is not None:
        query = query.where(task_instance.c.run_id == run_id)
    if task_id is not None:
        query = query.where(task_instance.c.task_id == task_id)
    if map_index is not None:
        query = query.where(task_instance.c.map_index == map_index)
    if state is not None:
        query = query.where(_state_in(state))
    pools = as_tuple(pool)
    if pools is not None:
        query = query.where(task_instance.c.pool.in_(pools))
    clauses = order_by(
        task_instance, order, TI_ORDER_FIELDS, ("dag_run_id", "task_id", "map_index")
    )
    return await fetch_page(conn, query, TaskInstanceRow, order=clauses, limit=limit, offset=offset)


async def update_task_instance(
    conn: AsyncConnection,
    ti_id: str,
    *,
    expected_states: Collection[str | None] | None = None,
    **changes: Any,
) -> TaskInstanceRow | None:
    """Change fields of a task instance (names from ``UPDATABLE_FIELDS``).

    With ``expected_states`` the update happens only if the current state is one of them
    (``None`` inside means "no state"); the result is ``None`` when it did not happen
    (another writer moved the row first). ``TaskInstanceNotFoundError`` if the id is unknown.
    """
    values = only(changes, UPDATABLE_FIELDS, "task instance")
    changed = True
    if values:
        stmt = update(task_instance).where(task_instance.c.id == ti_id).values(**values)
        if expected_states is not None:
            stmt = stmt.where(_state_in(expected_states))
        changed = (await conn.execute(stmt)).rowcount > 0
    row = await get_task_instance_by_id(conn, ti_id)
    if row is None:
        raise TaskInstanceNotFoundError(ti_id)
    if values and not changed:
        return None
    if not values and expected_states is not None and row.state not in expected_states:
        return None
    return row


async def set_task_state(
    conn: AsyncConnection,
    ti_id: str,
    state: str | None,
    *,
    now: datetime | None = None,
    expected_states: Collection[str | None] | None = None,
    **changes: Any,
) -> TaskInstanceRow | None:
    """Move a task instance to ``state`` and stamp the matching timestamp.

    ``scheduled`` → ``scheduled_at``; ``queued`` → ``queued_at``; ``running`` →
    ``start_date`` and ``last_heartbeat_at`` (end and duration cleared); a state that ends a
    try (``TRY_ENDED_STATES``) → ``end_date`` and ``duration`` from the start. Other fields
    (``try_number``, ``hostname``, ``next_retry_at``...) ride along in ``changes``.
    Conditional like ``update_task_instance``.
    """
    now = now or utcnow()
    started = None
    if state in TRY_ENDED_STATES:  # the duration runs from the try's start
        current = await get_task_instance_by_id(conn, ti_id)
        if current is None:
            raise TaskInstanceNotFoundError(ti_id)
        started = current.start_date
    values = stamped(state, now, started=started, changes=changes)
    return await update_task_instance(conn, ti_id, expected_states=expected_states, **values)


def stamped(state: str | None, now: datetime, *, started: datetime | None,
            changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The columns a move to ``state`` writes: the one rule of ``set_task_state``'s
    timestamps, shared with the scheduler, which writes through its in-memory view and so
    knows the try's ``started`` (its ``start_date``) without reading the row. ``changes``
    win over the stamps."""
    values: dict[str, Any] = {"state": state}
    if state == "scheduled":
        values["scheduled_at"] = now
    elif state == "queued":
        values["queued_at"] = now
    elif state == "running":
        values.update(start_date=now, end_date=None, duration=None, last_heartbeat_at=now)
    elif state in TRY_ENDED_STATES:
        values["end_date"] = now
        if started is not None:
            values["duration"] = (now - started).total_seconds()
    values.update(changes or {})
    return values


# Fields a history row copies from the task instance as they are at the end of the try.
_HISTORY_COPIED = (
    "dag_run_id", "dag_id", "run_id", "task_id", "map_index", "try_number", "max_tries",
    "state", "operator", "pool", "executor", "external_executor_id", "hostname", "pid",
    "queued_at", "start_date", "end_date", "duration",
)


async def record_try(
    conn: AsyncConnection, ti_id: str, *, error: str | None = None
) -> TaskInstanceHistoryRow:
    """Copy the task instance's current try into the history (one row per try).

    Call it when a try ends, after ``set_task_state``. Recording the same try again
    overwrites its row, so a repeated report is harmless.
    """
    ti = await get_task_instance_by_id(conn, ti_id)
    if ti is None:
        raise TaskInstanceNotFoundError(ti_id)
    await record_try_of(conn, ti, error=error)
    tries = await list_tries(conn, ti.dag_run_id, ti.task_id, ti.map_index)
    return next(t for t in tries if t.try_number == ti.try_number)


async def list_tries(
    conn: AsyncConnection, dag_run_id: int, task_id: str, map_index: int = -1
) -> list[TaskInstanceHistoryRow]:
    """The recorded tries of one task instance, oldest first."""
    query = (
        select(task_instance_history)
        .where(
            task_instance_history.c.dag_run_id == dag_run_id,
            task_instance_history.c.task_id == task_id,
            task_instance_history.c.map_index == map_index,
        )
        .order_by(task_instance_history.c.try_number)
    )
    return to_rows(TaskInstanceHistoryRow, (await conn.execute(query)).all())


async def expand_placeholder(
    conn: AsyncConnection, run: DagRunRow, task_id: str, length: int,
    template: NewTaskInstance,
) -> list[TaskInstanceRow]:
    """Turn a mapped task's placeholder (``map_index`` -1) into instances ``0 … length-1``.

    The placeholder row becomes index 0, as Airflow does, so its id (and anything keyed on
    it) survives; indexes 1 … length-1 are created from ``template``. ``length`` >= 1.
    """
    await conn.execute(
        update(task_instance)
        .where(task_instance.c.dag_run_id == run.id, task_instance.c.task_id == task_id,
               task_instance.c.map_index == -1)
        .values(map_index=0)
    )
    extra = [
        NewTaskInstance(task_id=task_id, map_index=i, state=None,
                        max_tries=template.max_tries, operator=template.operator,
                        pool=template.pool, pool_slots=template.pool_slots,
                        priority_weight=template.priority_weight)
        for i in range(1, length)
    ]
    await create_task_instances(conn, run, extra)
    return await list_for_run(conn, run.id, task_id=task_id)



# Statements of the two functions below, built once per shape: building and hashing an
# UPDATE or an upsert costs about as much as running it on SQLite.
_UPDATE_IF: dict[tuple[tuple[str, ...], tuple[str | None, ...] | None], Any] = {}
_RECORD_TRY: dict[str, Any] = {}
_HISTORY_KEY = ("dag_run_id", "task_id", "map_index", "try_number")


def _update_if_statement(columns: tuple[str, ...],
                         expected: tuple[str | None, ...] | None) -> Any:
    stmt = _UPDATE_IF.get((columns, expected))
    if stmt is None:
        stmt = update(task_instance).where(task_instance.c.id == bindparam("ti_id_"))
        if expected is not None:
            stmt = stmt.where(_state_in(expected))
        stmt = stmt.values({c: bindparam(f"{c}_", type_=task_instance.c[c].type)
                            for c in columns})
        _UPDATE_IF[(columns, expected)] = stmt
    return stmt


async def update_if(
    conn: AsyncConnection,
    ti_id: str,
    *,
    expected_states: Collection[str | None] | None = None,
    **changes: Any,
) -> bool:
    """One conditional ``UPDATE`` that does not read the row back: ``True`` when it applied.

    For a caller that already holds the row and computes its new values itself (the
    scheduler keeps its active runs in memory): one round trip instead of two.
    """
    values = only(changes, UPDATABLE_FIELDS, "task instance")
    expected = None if expected_states is None else tuple(expected_states)
    stmt = _update_if_statement(tuple(sorted(values)), expected)
    params = {f"{k}_": v for k, v in values.items()}
    params["ti_id_"] = ti_id
    return (await conn.execute(stmt, params)).rowcount > 0


def _record_try_statement(conn: AsyncConnection) -> Any:
    stmt = _RECORD_TRY.get(conn.dialect.name)
    if stmt is None:
        columns = [c.name for c in task_instance_history.c if c.name != "id"]
        stmt = upsert(conn, task_instance_history).values(
            {c: bindparam(f"{c}_", type_=task_instance_history.c[c].type) for c in columns})
        stmt = stmt.on_conflict_do_update(
            index_elements=[task_instance_history.c[k] for k in _HISTORY_KEY],
            set_={c: stmt.excluded[c] for c in columns if c not in _HISTORY_KEY},
        )
        _RECORD_TRY[conn.dialect.name] = stmt
    return stmt


async def record_try_of(
    conn: AsyncConnection, ti: TaskInstanceRow, *, error: str | None = None
) -> None:
    """``record_try`` for a caller that holds the task instance as it now is in the
    database: writes the history row without reading anything."""
    values = {
        **{name: getattr(ti, name) for name in _HISTORY_COPIED},
        "task_instance_id": ti.id,
        "error": error,
    }
    await conn.execute(_record_try_statement(conn), {f"{k}_": v for k, v in values.items()})
