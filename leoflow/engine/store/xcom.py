"""XCom values in SQL: the default XCom backend's storage (Redis is the other one).

A value is JSON, addressed by (run, task, map index, key); writing the same address again
replaces it. Values may carry an expiry: expired values read as absent and
``purge_expired`` deletes them. The size cap and the TTL policy belong to the XCom service
(``leoflow.engine.xcom``), not to this table. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, order_by, upsert
from leoflow.engine.store.rows import Page, XComRow
from leoflow.engine.store.tables import dag_run, xcom
from leoflow.engine.store.types import utcnow

RETURN_VALUE = "return_value"  # Airflow's XCOM_RETURN_KEY
XCOM_ORDER_FIELDS = ("dag_run_id", "task_id", "map_index", "key", "created_at")

_with_run = select(xcom, dag_run.c.dag_id, dag_run.c.run_id).join(
    dag_run, dag_run.c.id == xcom.c.dag_run_id
)


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(xcom.c.expires_at.is_(None), xcom.c.expires_at > now)


async def put_xcom(
    conn: AsyncConnection,
    *,
    dag_run_id: int,
    task_id: str,
    value: Any,
    key: str = RETURN_VALUE,
    map_index: int = -1,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Store (or replace) one JSON value. ``None`` is stored as JSON ``null``."""
    now = now or utcnow()
    stmt = upsert(conn, xcom).values(
        dag_run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        key=key,
        value=value,
        created_at=now,
        expires_at=expires_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[xcom.c.dag_run_id, xcom.c.task_id, xcom.c.map_index, xcom.c.key],
        set_={
            "value": stmt.excluded.value,
            "created_at": stmt.excluded.created_at,
            "expires_at": stmt.excluded.expires_at,
        },
    )
    await conn.execute(stmt)


async def get_xcom(
    conn: AsyncConnection,
    dag_run_id: int,
    task_id: str,
    key: str = RETURN_VALUE,
    map_index: int = -1,
    *,
    now: datetime | None = None,
) -> XComRow | None:
    """One value, or ``None`` when absent or expired (a stored ``null`` is a row)."""
    query = _with_run.where(
        xcom.c.dag_run_id == dag_run_id,
        xcom.c.task_id == task_id,
        xcom.c.map_index == map_index,
        xcom.c.key == key,
        _live(now or utcnow()),
    )
    row = (await conn.execute(query)).first()
    return XComRow(**row._mapping) if row else None


async def get_mapped_values(
    conn: AsyncConnection,
    dag_run_id: int,
    task_id: str,
    key: str = RETURN_VALUE,
    *,
    now: datetime | None = None,
) -> dict[int, Any]:
    """Every live value of a task by map index (a mapped task's results, for fan-in)."""
    query = (
        select(xcom.c.map_index, xcom.c.value)
        .where(
            xcom.c.dag_run_id == dag_run_id,
            xcom.c.task_id == task_id,
            xcom.c.key == key,
            _live(now or utcnow()),
        )
        .order_by(xcom.c.map_index)
    )
    return {row.map_index: row.value for row in await conn.execute(query)}


async def list_xcom(
    conn: AsyncConnection,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    dag_run_id: int | None = None,
    task_id: str | None = None,
    key: str | None = None,
    map_index: int | None = None,
    limit: int | None = 100,
    offset: int = 0,
    order: str = "dag_run_id",
    now: datetime | None = None,
) -> Page[XComRow]:
    """Live values matching the filters, one page, with the total (``None`` = any)."""
    query = _with_run.where(_live(now or utcnow()))
    if dag_id is not None:
        query = query.where(dag_run.c.dag_id == dag_id)
    if run_id is not None:
        query = query.where(dag_run.c.run_id == run_id)
    if dag_run_id is not None:
        query = query.where(xcom.c.dag_run_id == dag_run_id)
    if task_id is not None:
        query = query.where(xcom.c.task_id == task_id)
    if key is not None:
        query = query.where(xcom.c.key == key)
    if map_index is not None:
        query = query.where(xcom.c.map_index == map_index)
    clauses = order_by(
        xcom, order, XCOM_ORDER_FIELDS, ("dag_run_id", "task_id", "map_index", "key")
    )
    return await fetch_page(conn, query, XComRow, order=clauses, limit=limit, offset=offset)


async def delete_for_task(
    conn: AsyncConnection, dag_run_id: int, task_id: str, map_index: int | None = None,
    *, key: str | None = None,
) -> int:
    """Delete a task's values (all map indexes unless one is given, all keys unless one
    is), e.g. when it is cleared to run again; returns how many were deleted."""
    stmt = delete(xcom).where(xcom.c.dag_run_id == dag_run_id, xcom.c.task_id == task_id)
    if map_index is not None:
        stmt = stmt.where(xcom.c.map_index == map_index)
    if key is not None:
        stmt = stmt.where(xcom.c.key == key)
    return (await conn.execute(stmt)).rowcount


async def purge_expired(conn: AsyncConnection, now: datetime | None = None) -> int:
    """Delete every expired value (the TTL sweep); returns how many."""
    stmt = delete(xcom).where(xcom.c.expires_at <= (now or utcnow()))
    return (await conn.execute(stmt)).rowcount
