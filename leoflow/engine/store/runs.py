"""DAG runs: one row per run, pinned to the DAG version it started with.

``(dag_id, run_id)`` is unique, and so is ``(dag_id, logical_date)`` when the logical date
is set (Airflow 3 allows many manual runs without one). A duplicate raises
``DuplicateRunError`` and leaves the caller's transaction usable: the insert runs inside a
SAVEPOINT, so the API can answer 409 and carry on. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import as_tuple, fetch_page, inserted_id, order_by, written
from leoflow.engine.store.dags import keep_version
from leoflow.engine.store.errors import DagNotFoundError, DagRunNotFoundError, DuplicateRunError
from leoflow.engine.store.rows import DagRunRow, Page
from leoflow.engine.store.tables import dag, dag_run
from leoflow.engine.store.types import UTCDateTime, utcnow

RUN_ORDER_FIELDS = (
    "id",
    "run_id",
    "run_after",
    "logical_date",
    "start_date",
    "end_date",
    "queued_at",
    "state",
    "run_type",
)
FINISHED_RUN_STATES = frozenset({"success", "failed"})


async def create_run(
    conn: AsyncConnection,
    *,
    dag_id: str,
    run_id: str,
    run_type: str,
    dag_version_id: str,
    run_after: datetime,
    logical_date: datetime | None = None,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    state: str = "queued",
    conf: dict[str, Any] | None = None,
    triggered_by: str | None = None,
    triggering_user_name: str | None = None,
    note: str | None = None,
    partition_key: str | None = None,
    now: datetime | None = None,
) -> DagRunRow:
    """Insert a run and return it (``queued_at`` set when it starts queued).

    Raises ``DuplicateRunError`` (``field`` = ``"run_id"`` or ``"logical_date"``) or
    ``DagNotFoundError``; the caller's transaction stays usable after either.
    """
    now = now or utcnow()
    values = {
        "dag_id": dag_id,
        "run_id": run_id,
        "run_type": run_type,
        "logical_date": logical_date,
        "run_after": run_after,
        "data_interval_start": data_interval_start,
        "data_interval_end": data_interval_end,
        "state": state,
        "conf": {} if conf is None else conf,
        "dag_version_id": dag_version_id,
        "triggered_by": triggered_by,
        "triggering_user_name": triggering_user_name,
        "note": note,
        "partition_key": partition_key,
        "queued_at": now if state == "queued" else None,
        "start_date": now if state == "running" else None,
    }
    try:
        async with conn.begin_nested():
            result = await conn.execute(dag_run.insert().values(**values))
    except IntegrityError as exc:
        explained = await _explain_conflict(conn, dag_id, run_id, logical_date)
        if explained is None:
            raise  # e.g. an unknown dag_version_id: a bug in the caller, not a user error
        raise explained from exc
    pk = inserted_id(result, "dag_run")
    # a run pins its version: a draft (a save's) becomes a kept version (store.dags)
    await keep_version(conn, dag_version_id)
    return written(await get_run_by_id(conn, pk), f"DAG run {dag_id}/{run_id}")


async def _explain_conflict(
    conn: AsyncConnection, dag_id: str, run_id: str, logical_date: datetime | None
) -> Exception | None:
    # Asking the database which rule was broken works the same on both dialects, unlike
    # parsing their error messages.
    if await get_run(conn, dag_id, run_id) is not None:
        return DuplicateRunError(dag_id, field="run_id", run_id=run_id)
    if logical_date is not None:
        taken = await conn.execute(
            select(dag_run.c.id).where(
                dag_run.c.dag_id == dag_id, dag_run.c.logical_date == logical_date
            )
        )
        if taken.first() is not None:
            return DuplicateRunError(
                dag_id, field="logical_date", run_id=run_id, logical_date=logical_date
            )
    known = await conn.execute(select(dag.c.dag_id).where(dag.c.dag_id == dag_id))
    if known.first() is None:
        return DagNotFoundError(dag_id)
    return None


async def get_run(conn: AsyncConnection, dag_id: str, run_id: str) -> DagRunRow | None:
    """A run by DAG id and run id (the API's address), or ``None``."""
    row = (
        await conn.execute(
            select(dag_run).where(dag_run.c.dag_id == dag_id, dag_run.c.run_id == run_id)
        )
    ).first()
    return DagRunRow(**row._mapping) if row else None


async def previous_success(conn: AsyncConnection, run: DagRunRow) -> DagRunRow | None:
    """The DAG's last successful run before ``run`` (by logical date, else run_after), as
    Airflow's ``get_previous_dagrun(state=success)`` finds it for a task's context."""
    moment = func.coalesce(dag_run.c.logical_date, dag_run.c.run_after)
    row = (await conn.execute(
        select(dag_run).where(dag_run.c.dag_id == run.dag_id, dag_run.c.id != run.id,
                              dag_run.c.state == "success",
                              moment < (run.logical_date or run.run_after))
        .order_by(moment.desc(), dag_run.c.id.desc()).limit(1))).first()
    return DagRunRow(**row._mapping) if row else None


# built once: agent calls read their run by id (no statement built per call)
_BY_ID = select(dag_run).where(dag_run.c.id == bindparam("dag_run_id"))


async def get_run_by_id(conn: AsyncConnection, dag_run_id: int) -> DagRunRow | None:
    """A run by its integer primary key, or ``None``."""
    row = (await conn.execute(_BY_ID, {"dag_run_id": dag_run_id})).first()
    return DagRunRow(**row._mapping) if row else None


async def list_runs(
    conn: AsyncConnection,
    *,
    dag_id: str | None = None,
    state: str | Sequence[str] | None = None,
    run_type: str | Sequence[str] | None = None,
    run_after_gte: datetime | None = None,
    run_after_lte: datetime | None = None,
    logical_date_gte: datetime | None = None,
    logical_date_lte: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
    order: str = "-run_after",
) -> Page[DagRunRow]:
    """Runs matching the filters (``dag_id=None``: every DAG), one page, with the total.

    ``order`` is a column from ``RUN_ORDER_FIELDS``, ``-`` prefixed for descending; ties are
    broken by ``id`` so that pages never overlap.
    """
    query = select(dag_run)
    if dag_id is not None:
        query = query.where(dag_run.c.dag_id == dag_id)
    states = as_tuple(state)
    if states is not None:
        query = query.where(dag_run.c.state.in_(states))
    run_types = as_tuple(run_type)
    if run_types is not None:
        query = query.where(dag_run.c.run_type.in_(run_types))
    if run_after_gte is not None:
        query = query.where(dag_run.c.run_after >= run_after_gte)
    if run_after_lte is not None:
        query = query.where(dag_run.c.run_after <= run_after_lte)
    if logical_date_gte is not None:
        query = query.where(dag_run.c.logical_date >= logical_date_gte)
    if logical_date_lte is not None:
        query = query.where(dag_run.c.logical_date <= logical_date_lte)
    clauses = order_by(dag_run, order, RUN_ORDER_FIELDS, ("id",))
    return await fetch_page(conn, query, DagRunRow, order=clauses, limit=limit, offset=offset)


async def count_runs(
    conn: AsyncConnection, dag_id: str, state: str | Sequence[str] | None = None
) -> int:
    """How many runs a DAG has (in ``state``): for ``max_active_runs``."""
    query = select(func.count()).select_from(dag_run).where(dag_run.c.dag_id == dag_id)
    states = as_tuple(state)
    if states is not None:
        query = query.where(dag_run.c.state.in_(states))
    return int((await conn.execute(query)).scalar_one())


async def _update_run(conn: AsyncConnection, dag_run_id: int, values: dict[str, Any]) -> DagRunRow:
    result = await conn.execute(update(dag_run).where(dag_run.c.id == dag_run_id).values(**values))
    if result.rowcount == 0:
        raise DagRunNotFoundError(None, dag_run_id)
    return written(await get_run_by_id(conn, dag_run_id), f"DAG run id {dag_run_id}")


async def update_run_state(
    conn: AsyncConnection, dag_run_id: int, state: str, *, now: datetime | None = None
) -> DagRunRow:
    """Move a run to ``state`` and keep its timestamps consistent with it.

    ``queued`` (new or cleared run): ``queued_at`` = now, start and end dates cleared.
    ``running``: ``start_date`` = now unless already started, end date cleared.
    ``success``/``failed``: ``end_date`` = now. The transition itself is the scheduler's
    decision; this function does not judge it.
    """
    now = now or utcnow()
    values: dict[str, Any] = {"state": state}
    if state == "queued":
        values.update(queued_at=now, start_date=None, end_date=None)
    elif state == "running":
        started = func.coalesce(dag_run.c.start_date, literal(now, UTCDateTime()))
        values.update(start_date=started, end_date=None)
    elif state in FINISHED_RUN_STATES:
        values.update(end_date=now)
    return await _update_run(conn, dag_run_id, values)


async def set_run_note(conn: AsyncConnection, dag_run_id: int, note: str | None) -> DagRunRow:
    """Set or clear the note a user wrote on a run."""
    return await _update_run(conn, dag_run_id, {"note": note})


async def set_last_scheduling_decision(
    conn: AsyncConnection, dag_run_id: int, when: datetime | None = None
) -> DagRunRow:
    """Record when the scheduler last evaluated the run (shown in the UI, used to spot
    runs nobody looked at)."""
    return await _update_run(conn, dag_run_id, {"last_scheduling_decision": when or utcnow()})


async def delete_run(conn: AsyncConnection, dag_id: str, run_id: str) -> bool:
    """Delete a run with its task instances, tries and XComs; ``False`` if unknown."""
    result = await conn.execute(
        delete(dag_run).where(dag_run.c.dag_id == dag_id, dag_run.c.run_id == run_id)
    )
    return result.rowcount > 0


async def set_run_version(conn: AsyncConnection, dag_run_id: int, dag_version_id: str) -> DagRunRow:
    """Pin a run to another DAG version (a cleared run re-runs with the current one)."""
    return await _update_run(conn, dag_run_id, {"dag_version_id": dag_version_id})


async def delete_runs_for_dag(conn: AsyncConnection, dag_id: str) -> int:
    """Delete every run of a DAG with their task instances, tries and XComs; the count."""
    result = await conn.execute(delete(dag_run).where(dag_run.c.dag_id == dag_id))
    return result.rowcount


# Built once: the scheduler stamps a run on every evaluation.
_STAMP = (
    update(dag_run)
    .where(dag_run.c.id == bindparam("run_"))
    .values(last_scheduling_decision=bindparam("when_", type_=UTCDateTime()))
)
_STAMP_IF = _STAMP.where(
    dag_run.c.last_scheduling_decision == bindparam("previous_", type_=UTCDateTime())
)


async def stamp_scheduling_decision(
    conn: AsyncConnection, dag_run_id: int, when: datetime, *, if_equals: datetime | None = None
) -> bool:
    """Set ``last_scheduling_decision`` to ``when``; with ``if_equals``, only if it still
    holds that value. ``False`` when nothing was updated (the run is gone, or the value
    changed).

    The scheduler uses the column as a token: it keeps an active run in memory and stamps
    it on every evaluation; anyone else who changes the run's task instances clears the
    token first (``mark_changed``), so the scheduler's next stamp fails and it reloads the
    run. On PostgreSQL the update also locks the run's row until the caller commits.
    """
    if if_equals is None:
        result = await conn.execute(_STAMP, {"run_": dag_run_id, "when_": when})
    else:
        result = await conn.execute(
            _STAMP_IF, {"run_": dag_run_id, "when_": when, "previous_": if_equals})
    return result.rowcount > 0


async def mark_changed(conn: AsyncConnection, dag_run_id: int) -> bool:
    """Tell the scheduler that a run's task instances were changed by someone else (a user
    clearing or marking them): clears ``last_scheduling_decision``. Call it in the same
    transaction, before changing the task instances. ``False`` if the run is unknown."""
    result = await conn.execute(
        update(dag_run).where(dag_run.c.id == dag_run_id).values(last_scheduling_decision=None)
    )
    return result.rowcount > 0
