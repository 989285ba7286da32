"""The event log (audit table) as one tenant may see it.

An event belongs to a tenant through its DAG (``dag.tenant``) or, for events without a DAG
(a variable changed, a user created), through the user who caused it. Events of neither kind
(the system acting on no DAG) carry nothing tenant-specific and are visible to all. Events of
a DAG that has since been deleted are no longer attributable and are hidden.

The audit table itself is written by ``leoflow.engine.store.audit``; this module only reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import as_tuple, fetch_page, order_by
from leoflow.engine.store.audit import AUDIT_ORDER_FIELDS
from leoflow.engine.store.rows import AuditLogRow, Page
from leoflow.engine.store.tables import audit_log, dag, user_account


def _visible_to(tenant: str) -> ColumnElement[bool]:
    dag_tenant = select(dag.c.tenant).where(dag.c.dag_id == audit_log.c.dag_id)
    user_tenant = select(user_account.c.tenant).where(
        user_account.c.username == audit_log.c.username)
    return or_(
        and_(audit_log.c.dag_id.is_not(None), dag_tenant.scalar_subquery() == tenant),
        and_(audit_log.c.dag_id.is_(None), audit_log.c.username.is_not(None),
             user_tenant.scalar_subquery() == tenant),
        and_(audit_log.c.dag_id.is_(None), audit_log.c.username.is_(None)),
    )


async def list_visible_events(
    conn: AsyncConnection, tenant: str, *, dag_id: str | None = None,
    run_id: str | None = None, task_id: str | None = None, map_index: int | None = None,
    try_number: int | None = None, owner: str | None = None,
    event: str | list[str] | None = None, excluded_events: list[str] | None = None,
    after: datetime | None = None, before: datetime | None = None,
    limit: int | None = 50, offset: int = 0, order: str = "id",
) -> Page[AuditLogRow]:
    """Events ``tenant`` may see, filtered, one page, with the total (oldest first by
    default, as Airflow lists them)."""
    query = select(audit_log).where(_visible_to(tenant))
    for column, value in ((audit_log.c.dag_id, dag_id), (audit_log.c.run_id, run_id),
                          (audit_log.c.task_id, task_id), (audit_log.c.map_index, map_index),
                          (audit_log.c.try_number, try_number),
                          (audit_log.c.username, owner)):
        if value is not None:
            query = query.where(column == value)
    events = as_tuple(event)
    if events:
        query = query.where(audit_log.c.event.in_(events))
    if excluded_events:
        query = query.where(audit_log.c.event.not_in(tuple(excluded_events)))
    if after is not None:
        query = query.where(audit_log.c.occurred_at >= after)
    if before is not None:
        query = query.where(audit_log.c.occurred_at < before)
    clauses = order_by(audit_log, order, AUDIT_ORDER_FIELDS, ("id",))
    return await fetch_page(conn, query, AuditLogRow, order=clauses, limit=limit,
                            offset=offset)


async def get_visible_event(conn: AsyncConnection, tenant: str,
                            event_id: int) -> AuditLogRow | None:
    row = (await conn.execute(select(audit_log).where(
        audit_log.c.id == event_id, _visible_to(tenant)))).first()
    return AuditLogRow(**row._mapping) if row else None
