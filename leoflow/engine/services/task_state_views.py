"""Airflow 3.3's task state store through the API (``…/taskInstances/{task_id}/state-store``):
an operator reads, seeds, fixes or clears the values a task instance keeps across its tries.

The store's own rules apply (``store.task_state``: key length, JSON, the 256 KB cap, a null
value refused, expiry); this module adds what the API needs: the timestamps of each entry,
a patch that keeps the entry's expiry, and "the instance must exist in the caller's tenant"
(``instance_scope``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from leoflow.engine.services import task_instance_reads
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.store import Store, task_state
from leoflow.engine.store.tables import task_state as table
from leoflow.engine.store.types import utcnow

Scope = task_state.Scope


class TaskStateNotFound(ServiceError):
    status = 404


class TaskStateRefused(ServiceError):
    status = 422


@dataclass(frozen=True)
class TaskStateEntry:
    key: str
    value: Any
    updated_at: datetime
    expires_at: datetime | None


async def instance_scope(store: Store, dag_id: str, run_id: str, task_id: str,
                         map_index: int, *, tenant: str) -> Scope:
    """The scope of the tenant's task instance; ``TaskStateNotFound`` (Airflow's words)."""
    run, ti = await task_instance_reads.instance(store, dag_id, run_id, task_id, map_index,
                                                 tenant=tenant)
    if run is None or ti is None:
        raise TaskStateNotFound(
            f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: "
            f"`{task_id}` and map_index: `{map_index}` was not found")
    return Scope(run.id, task_id, map_index)


def _where(scope: Scope, *, all_map_indices: bool = False) -> Any:
    clauses = [table.c.dag_run_id == scope.dag_run_id, table.c.task_id == scope.task_id]
    if not all_map_indices:
        clauses.append(table.c.map_index == scope.map_index)
    return and_(*clauses)


def _live() -> Any:
    return (table.c.expires_at.is_(None)) | (table.c.expires_at > utcnow())


async def entries(store: Store, scope: Scope, *, limit: int, offset: int
                  ) -> tuple[list[TaskStateEntry], int]:
    """One page of the instance's live entries by key, and their total."""
    query = select(table.c.key, table.c.value, table.c.updated_at, table.c.expires_at).where(
        _where(scope), _live())
    async with store.connect() as conn:
        total = int((await conn.execute(
            select(func.count()).select_from(query.subquery()))).scalar_one())
        rows = (await conn.execute(query.order_by(table.c.key).limit(limit)
                                   .offset(offset))).all()
    return [TaskStateEntry(r.key, r.value, r.updated_at, r.expires_at) for r in rows], total


async def entry(store: Store, scope: Scope, key: str) -> TaskStateEntry:
    """One live entry; ``TaskStateNotFound`` when absent or expired."""
    found = await _find(store, scope, key)
    if found is None:
        raise TaskStateNotFound(f"Task state store key '{key}' not found")
    return found


async def _find(store: Store, scope: Scope, key: str) -> TaskStateEntry | None:
    query = select(table.c.key, table.c.value, table.c.updated_at, table.c.expires_at).where(
        _where(scope), table.c.key == key, _live())
    async with store.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return TaskStateEntry(row.key, row.value, row.updated_at, row.expires_at)


async def put(store: Store, scope: Scope, key: str, value: Any, *,
              expires_at: datetime | None, never_expire: bool) -> None:
    """Create or replace ``key``; it expires at ``expires_at`` (default: the store's
    retention), never with ``never_expire``."""
    now = utcnow()
    retention = None if expires_at is None else max(0.0, (expires_at - now).total_seconds())
    try:
        async with store.begin() as conn:
            await task_state.set_value(conn, scope, key, _not_null(value),
                                       retention_seconds=retention, never_expire=never_expire,
                                       now=now)
    except task_state.TaskStateError as exc:
        raise TaskStateRefused(str(exc), field="value") from None


async def patch(store: Store, scope: Scope, key: str, value: Any) -> None:
    """A new value for an existing key, its expiry kept; ``TaskStateNotFound`` otherwise."""
    try:
        task_state.encode(scope, key, _not_null(value))
    except task_state.TaskStateError as exc:
        raise TaskStateRefused(str(exc), field="value") from None
    async with store.begin() as conn:
        done = await conn.execute(update(table).where(_where(scope), table.c.key == key,
                                                      _live())
                                  .values(value=value, updated_at=utcnow()))
    if not done.rowcount:
        raise TaskStateNotFound(f"Task state store key '{key}' not found")


async def remove(store: Store, scope: Scope, key: str | None, *,
                 all_map_indices: bool = False) -> int:
    """Forget one key (``None``: every key; with ``all_map_indices`` those of every map
    index of the task); deleting what is absent is no error."""
    query = delete(table).where(_where(scope, all_map_indices=all_map_indices))
    if key is not None:
        query = query.where(table.c.key == key)
    async with store.begin() as conn:
        return (await conn.execute(query)).rowcount


def _not_null(value: Any) -> Any:
    if value is None:
        raise TaskStateRefused("a task state value must not be null: delete the key instead",
                               field="value")
    return value
