"""Airflow variables, one namespace per tenant.

Values are stored as given by the caller: the auth layer encrypts them (Fernet) before they
get here and sets ``is_encrypted``. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, only, order_by, upsert
from leoflow.engine.store.rows import Page
from leoflow.engine.store.tables import variable
from leoflow.engine.store.types import utcnow

VARIABLE_ORDER_FIELDS = ("key", "description", "is_encrypted", "created_at", "updated_at")
VARIABLE_UPDATABLE = ("value", "description", "is_encrypted")


@dataclass(frozen=True)
class VariableRow:
    tenant: str
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool
    created_at: datetime
    updated_at: datetime


def like_contains(pattern: str) -> str:
    """Airflow's ``*_pattern`` filters: a case-insensitive "contains", where the caller may
    use SQL ``%`` and ``_`` wildcards."""
    return f"%{pattern}%"


async def get_variable(conn: AsyncConnection, tenant: str, key: str) -> VariableRow | None:
    row = (await conn.execute(select(variable).where(
        variable.c.tenant == tenant, variable.c.key == key))).first()
    return VariableRow(**row._mapping) if row else None


async def create_variable(conn: AsyncConnection, tenant: str, key: str, value: str | None, *,
                          description: str | None = None, is_encrypted: bool = False,
                          now: datetime | None = None) -> VariableRow | None:
    """Insert a variable; ``None`` when the tenant already has this key (nothing changes)."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "tenant": tenant, "key": key, "value": value, "description": description,
        "is_encrypted": is_encrypted, "created_at": now, "updated_at": now}
    stmt = upsert(conn, variable).values(**values).on_conflict_do_nothing(
        index_elements=[variable.c.tenant, variable.c.key])
    if (await conn.execute(stmt)).rowcount == 0:
        return None
    return VariableRow(**values)


async def update_variable(conn: AsyncConnection, tenant: str, key: str, *,
                          now: datetime | None = None, **changes: Any) -> VariableRow | None:
    """Change ``value``, ``description`` or ``is_encrypted``; ``None`` if unknown."""
    values = only(changes, VARIABLE_UPDATABLE, "variable")
    values["updated_at"] = now or utcnow()
    result = await conn.execute(update(variable).where(
        variable.c.tenant == tenant, variable.c.key == key).values(**values))
    if result.rowcount == 0:
        return None
    return await get_variable(conn, tenant, key)


async def delete_variable(conn: AsyncConnection, tenant: str, key: str) -> bool:
    result = await conn.execute(delete(variable).where(
        variable.c.tenant == tenant, variable.c.key == key))
    return result.rowcount > 0


async def list_variables(conn: AsyncConnection, tenant: str, *, key_pattern: str | None = None,
                         limit: int | None = 100, offset: int = 0,
                         order: str = "key") -> Page[VariableRow]:
    """One tenant's variables, one page, with the total."""
    query = select(variable).where(variable.c.tenant == tenant)
    if key_pattern:
        query = query.where(variable.c.key.ilike(like_contains(key_pattern)))
    clauses = order_by(variable, order, VARIABLE_ORDER_FIELDS, ("key",))
    return await fetch_page(conn, query, VariableRow, order=clauses, limit=limit, offset=offset)


async def all_variables(conn: AsyncConnection, tenant: str) -> list[VariableRow]:
    rows = await conn.execute(select(variable).where(variable.c.tenant == tenant)
                              .order_by(variable.c.key))
    return [VariableRow(**row._mapping) for row in rows]
