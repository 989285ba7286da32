"""The audit log: who did what, when, to which DAG, run or task (Airflow's event log).

Rows are only ever added. Record an event in the same transaction as the change it
describes, so that the log never claims a change that was rolled back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import as_tuple, fetch_page, inserted_id, order_by
from leoflow.engine.store.rows import AuditLogRow, Page
from leoflow.engine.store.tables import audit_log
from leoflow.engine.store.types import utcnow

AUDIT_ORDER_FIELDS = ("id", "occurred_at", "event", "username", "dag_id")


async def record_event(
    conn: AsyncConnection,
    event: str,
    *,
    username: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    extra: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditLogRow:
    """Append one event (e.g. ``"trigger"``, ``"pause"``); ``username=None`` is the system."""
    values: dict[str, Any] = {
        "occurred_at": occurred_at or utcnow(),
        "username": username,
        "event": event,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "try_number": try_number,
        "extra": extra,
    }
    result = await conn.execute(audit_log.insert().values(**values))
    return AuditLogRow(id=inserted_id(result, "audit_log"), **values)


async def list_events(
    conn: AsyncConnection,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    event: str | list[str] | None = None,
    username: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
    order: str = "-id",
) -> Page[AuditLogRow]:
    """Events matching the filters (newest first by default), one page, with the total."""
    query = select(audit_log)
    if dag_id is not None:
        query = query.where(audit_log.c.dag_id == dag_id)
    if run_id is not None:
        query = query.where(audit_log.c.run_id == run_id)
    if task_id is not None:
        query = query.where(audit_log.c.task_id == task_id)
    events = as_tuple(event)
    if events is not None:
        query = query.where(audit_log.c.event.in_(events))
    if username is not None:
        query = query.where(audit_log.c.username == username)
    if after is not None:
        query = query.where(audit_log.c.occurred_at >= after)
    if before is not None:
        query = query.where(audit_log.c.occurred_at < before)
    clauses = order_by(audit_log, order, AUDIT_ORDER_FIELDS, ("id",))
    return await fetch_page(conn, query, AuditLogRow, order=clauses, limit=limit, offset=offset)
