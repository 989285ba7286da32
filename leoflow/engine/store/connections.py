"""Airflow connections, one namespace per tenant.

``password`` and ``extra`` are stored as given: the auth layer encrypts them (Fernet) before
they get here. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, only, order_by, upsert
from leoflow.engine.store.rows import Page
from leoflow.engine.store.tables import connection
from leoflow.engine.store.types import utcnow
from leoflow.engine.store.variables import like_contains

CONNECTION_ORDER_FIELDS = ("connection_id", "conn_type", "description", "host", "port",
                           "created_at", "updated_at")
CONNECTION_FIELDS = ("conn_type", "description", "host", "login", "schema", "port",
                     "password", "extra")


@dataclass(frozen=True)
class ConnectionRow:
    tenant: str
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema: str | None
    port: int | None
    password: str | None
    extra: str | None
    created_at: datetime
    updated_at: datetime


async def get_connection(conn: AsyncConnection, tenant: str,
                         connection_id: str) -> ConnectionRow | None:
    row = (await conn.execute(select(connection).where(
        connection.c.tenant == tenant, connection.c.connection_id == connection_id))).first()
    return ConnectionRow(**row._mapping) if row else None


async def create_connection(conn: AsyncConnection, tenant: str, connection_id: str, *,
                            now: datetime | None = None, **fields: Any) -> ConnectionRow | None:
    """Insert a connection (``fields`` from ``CONNECTION_FIELDS``; ``conn_type`` required);
    ``None`` when the tenant already has this id (nothing changes)."""
    now = now or utcnow()
    values: dict[str, Any] = dict.fromkeys(CONNECTION_FIELDS)
    values.update(only(fields, CONNECTION_FIELDS, "connection"))
    values.update(tenant=tenant, connection_id=connection_id, created_at=now, updated_at=now)
    stmt = upsert(conn, connection).values(**values).on_conflict_do_nothing(
        index_elements=[connection.c.tenant, connection.c.connection_id])
    if (await conn.execute(stmt)).rowcount == 0:
        return None
    return ConnectionRow(**values)


async def update_connection(conn: AsyncConnection, tenant: str, connection_id: str, *,
                            now: datetime | None = None, **changes: Any
                            ) -> ConnectionRow | None:
    """Change some of ``CONNECTION_FIELDS``; ``None`` if unknown."""
    values = only(changes, CONNECTION_FIELDS, "connection")
    values["updated_at"] = now or utcnow()
    result = await conn.execute(update(connection).where(
        connection.c.tenant == tenant, connection.c.connection_id == connection_id,
    ).values(**values))
    if result.rowcount == 0:
        return None
    return await get_connection(conn, tenant, connection_id)


async def delete_connection(conn: AsyncConnection, tenant: str, connection_id: str) -> bool:
    result = await conn.execute(delete(connection).where(
        connection.c.tenant == tenant, connection.c.connection_id == connection_id))
    return result.rowcount > 0


async def list_connections(conn: AsyncConnection, tenant: str, *,
                           id_pattern: str | None = None, limit: int | None = 100,
                           offset: int = 0, order: str = "connection_id"
                           ) -> Page[ConnectionRow]:
    """One tenant's connections, one page, with the total."""
    query = select(connection).where(connection.c.tenant == tenant)
    if id_pattern:
        query = query.where(connection.c.connection_id.ilike(like_contains(id_pattern)))
    clauses = order_by(connection, order, CONNECTION_ORDER_FIELDS, ("connection_id",))
    return await fetch_page(conn, query, ConnectionRow, order=clauses, limit=limit,
                            offset=offset)


async def all_connections(conn: AsyncConnection, tenant: str) -> list[ConnectionRow]:
    rows = await conn.execute(select(connection).where(connection.c.tenant == tenant)
                              .order_by(connection.c.connection_id))
    return [ConnectionRow(**row._mapping) for row in rows]
