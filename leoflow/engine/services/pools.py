"""Pools: the slots that bound how many task instances of a kind run at once, shared by
every tenant (a property of the control plane, so who may change them is decided by
``leoflow.engine.auth.pools_access`` before these are called).

The rules: ``default_pool`` cannot be deleted and keeps its description; a name is unique;
each change writes in one transaction with its audit row and then tells the scheduler,
which caches pool sizes, to read them again (``scheduler``: the one to tell, None when
this process runs none). Reads return the pools with their slot usage
(running, queued, scheduled, deferred), which the API shows beside each pool.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services.errors import InvalidArgument, ServiceError
from leoflow.engine.store import Store, audit, pools
from leoflow.engine.store.rows import PoolRow
from leoflow.engine.store.tables import DEFAULT_POOL

NAME_LENGTH = 256
USAGE_STATES = ("running", "queued", "scheduled", "deferred")
Usage = dict[str, dict[str, int]]  # state → pool name → slots taken

__all__ = ["DEFAULT_POOL", "NAME_LENGTH", "PoolExists", "PoolNotFound", "PoolPage", "PoolRow",
           "Usage", "create_pool", "delete_pool", "get_pool", "list_pools", "update_pool"]


class PoolNotFound(ServiceError):
    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"The Pool with name: `{name}` was not found")


class PoolExists(ServiceError):
    status = 409

    def __init__(self, name: str) -> None:
        super().__init__(f"Pool with name: `{name}` already exists")


@dataclass(frozen=True)
class PoolPage:
    total: int
    items: list[PoolRow]
    usage: Usage


def _storable(name: str) -> bool:
    """Whether ``name`` can name a pool at all (others are absent without asking the
    database, which may refuse them)."""
    return 0 < len(name) <= NAME_LENGTH and "\x00" not in name


async def _usage(conn: AsyncConnection) -> Usage:
    return {state: await pools.slot_usage(conn, (state,)) for state in USAGE_STATES}


def _pools_changed(scheduler: object | None) -> None:
    # The scheduler caches pool sizes for a second; let it see the change at once.
    refresh = getattr(scheduler, "refresh_pools", None)
    if callable(refresh):
        refresh()


async def list_pools(store: Store, *, order: str, limit: int, offset: int,
                     name_pattern: str | None = None) -> PoolPage:
    """One page of pools; ``name_pattern`` a case-insensitive "contains", as Airflow."""
    async with store.connect() as conn:
        if name_pattern:
            # Few pools exist: filter in memory, then page.
            everything = await pools.list_pools(conn, limit=None, order=order)
            needle = name_pattern.replace("%", "").lower()
            rows = [r for r in everything.items if needle in r.name.lower()]
            total, items = len(rows), rows[offset:offset + limit]
        else:
            result = await pools.list_pools(conn, limit=limit, offset=offset, order=order)
            total, items = result.total, list(result.items)
        return PoolPage(total, items, await _usage(conn))


async def get_pool(store: Store, name: str) -> tuple[PoolRow, Usage]:
    if not _storable(name):
        raise PoolNotFound(name)
    async with store.connect() as conn:
        row = await pools.get_pool(conn, name)
        if row is None:
            raise PoolNotFound(name)
        return row, await _usage(conn)


async def create_pool(store: Store, scheduler: object | None, name: str, slots: int,
                      description: str | None, *, user: str | None
                      ) -> tuple[PoolRow, Usage]:
    async with store.begin() as conn:
        if await pools.get_pool(conn, name) is not None:
            raise PoolExists(name)
        row = await pools.upsert_pool(conn, name, slots, description)
        await audit.record_event(conn, "post_pool", username=user,
                                 extra={"pool": name, "slots": slots})
        usage = await _usage(conn)
    _pools_changed(scheduler)
    return row, usage


async def update_pool(store: Store, scheduler: object | None, name: str, *, slots: int | None,
                      description: str | None, fields: Collection[str],
                      user: str | None) -> tuple[PoolRow, Usage]:
    """Change the pool's ``slots`` and/or ``description`` (those named in ``fields``; a
    ``None`` slots keeps them)."""
    if name == DEFAULT_POOL and "description" in fields:
        raise InvalidArgument("Only slots and included_deferred can be modified on Default "
                              "Pool", field="description")
    if not _storable(name):
        raise PoolNotFound(name)
    async with store.begin() as conn:
        row = await pools.get_pool(conn, name)
        if row is None:
            raise PoolNotFound(name)
        new_slots = slots if "slots" in fields and slots is not None else row.slots
        new_description = description if "description" in fields else row.description
        row = await pools.upsert_pool(conn, name, new_slots, new_description)
        await audit.record_event(conn, "patch_pool", username=user,
                                 extra={"pool": name, "fields": sorted(fields)})
        usage = await _usage(conn)
    _pools_changed(scheduler)
    return row, usage


async def delete_pool(store: Store, scheduler: object | None, name: str, *,
                      user: str | None) -> None:
    if name == DEFAULT_POOL:
        raise InvalidArgument("Default Pool can't be deleted", field="pool_name")
    if not _storable(name):
        raise PoolNotFound(name)
    async with store.begin() as conn:
        if not await pools.delete_pool(conn, name):
            raise PoolNotFound(name)
        await audit.record_event(conn, "delete_pool", username=user, extra={"pool": name})
    _pools_changed(scheduler)
