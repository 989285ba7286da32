"""Pools: named limits on how many task slots may run at once.

``default_pool`` (128 slots) is created by the migrations and cannot be deleted, since
every task without an explicit pool uses it. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, order_by, upsert
from leoflow.engine.store.errors import PoolError
from leoflow.engine.store.rows import Page, PoolRow
from leoflow.engine.store.tables import DEFAULT_POOL, pool, task_instance

# Task instance states that hold their pool slots.
OCCUPYING_STATES = ("queued", "running")
POOL_ORDER_FIELDS = ("name", "slots")


async def get_pool(conn: AsyncConnection, name: str) -> PoolRow | None:
    """A pool by name, or ``None``."""
    row = (await conn.execute(select(pool).where(pool.c.name == name))).first()
    return PoolRow(**row._mapping) if row else None


async def list_pools(
    conn: AsyncConnection, *, limit: int | None = 100, offset: int = 0, order: str = "name"
) -> Page[PoolRow]:
    """Pools by name, one page, with the total."""
    clauses = order_by(pool, order, POOL_ORDER_FIELDS, ("name",))
    return await fetch_page(conn, select(pool), PoolRow, order=clauses, limit=limit, offset=offset)


async def upsert_pool(
    conn: AsyncConnection, name: str, slots: int, description: str | None = None
) -> PoolRow:
    """Create a pool or change its size and description. ``slots`` must be >= 0
    (0 holds every task of the pool back; Airflow's -1 "unlimited" is not supported)."""
    if slots < 0:
        raise PoolError(f"pool {name!r}: slots must be >= 0, got {slots}")
    stmt = upsert(conn, pool).values(name=name, slots=slots, description=description)
    stmt = stmt.on_conflict_do_update(
        index_elements=[pool.c.name],
        set_={"slots": stmt.excluded.slots, "description": stmt.excluded.description},
    )
    await conn.execute(stmt)
    return PoolRow(name=name, slots=slots, description=description)


async def delete_pool(conn: AsyncConnection, name: str) -> bool:
    """Delete a pool; ``False`` if unknown. Refuses ``default_pool`` (``PoolError``)."""
    if name == DEFAULT_POOL:
        raise PoolError(f"{DEFAULT_POOL} cannot be deleted")
    return (await conn.execute(delete(pool).where(pool.c.name == name))).rowcount > 0


async def slot_usage(
    conn: AsyncConnection, states: Collection[str] = OCCUPYING_STATES
) -> dict[str, int]:
    """Slots taken per pool by task instances in ``states`` (pools with none are absent)."""
    query = (
        select(task_instance.c.pool, func.sum(task_instance.c.pool_slots))
        .where(task_instance.c.state.in_(tuple(states)))
        .group_by(task_instance.c.pool)
    )
    return {name: int(used) for name, used in await conn.execute(query)}
