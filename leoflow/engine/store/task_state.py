"""The task state store in SQL: JSON values a task instance keeps across its tries.

Airflow 3.3's ``task_state_store``. A value is addressed by (run, task, map index, key), the
scope of one task instance: retries of that instance share it, other instances (another map
index, another run, another DAG and so another tenant) never see it. Only the task's own agent
reaches it, through ``AgentService.TaskState``, which takes the scope from the try's token,
never from the request.

Values are capped like XCom (256 KB of compact JSON) and expire: ``retention_seconds`` from
the write, else ``DEFAULT_RETENTION_SECONDS`` (Airflow's ``default_retention_days`` = 30);
``never_expire`` keeps a value until its run is deleted. Expired values read as absent and
``purge_expired`` deletes them. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import upsert
from leoflow.engine.store.tables import task_state
from leoflow.engine.store.types import utcnow
from leoflow.errors import LeoflowError

MAX_VALUE_BYTES = 256 * 1024  # as XCom's cap
MAX_KEY_CHARS = 512
DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600.0


class TaskStateError(LeoflowError):
    """A value or key the task state store refuses; nothing was stored."""


class TaskStateTooLarge(TaskStateError):
    """A value above the cap."""


@dataclass(frozen=True)
class Scope:
    """One task instance: every key of the store lives in exactly one scope."""

    dag_run_id: int
    task_id: str
    map_index: int = -1


def encode(scope: Scope, key: str, value: Any, *, max_bytes: int = MAX_VALUE_BYTES) -> int:
    """Check ``key`` and ``value`` against the rules; returns the value's size in bytes."""
    if not key or len(key) > MAX_KEY_CHARS:
        raise TaskStateError(f"task {scope.task_id!r}: a task state key must have 1 to "
                             f"{MAX_KEY_CHARS} characters, got {len(key)}")
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TaskStateError(f"task {scope.task_id!r}: task state {key!r} cannot be stored "
                             f"as JSON: {exc}") from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise TaskStateTooLarge(
            f"task {scope.task_id!r}: task state {key!r} is {size} bytes as JSON, above the "
            f"{max_bytes // 1024} KB limit; nothing was stored. Keep a handle (a job id, a "
            "path) rather than the data itself")
    return size


def expiry(now: datetime, *, retention_seconds: float | None,
           never_expire: bool = False) -> datetime | None:
    """When a value written ``now`` expires (``None``: never)."""
    if never_expire:
        return None
    seconds = DEFAULT_RETENTION_SECONDS if retention_seconds is None else retention_seconds
    if seconds < 0 or math.isnan(seconds):
        raise TaskStateError(f"a task state retention must be 0 or more seconds, got {seconds}")
    return now + timedelta(seconds=min(seconds, 100 * 365 * 24 * 3600.0))


def _where(scope: Scope) -> ColumnElement[bool]:
    return and_(task_state.c.dag_run_id == scope.dag_run_id,
                task_state.c.task_id == scope.task_id,
                task_state.c.map_index == scope.map_index)


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(task_state.c.expires_at.is_(None), task_state.c.expires_at > now)


async def set_value(conn: AsyncConnection, scope: Scope, key: str, value: Any, *,
                    retention_seconds: float | None = None, never_expire: bool = False,
                    now: datetime | None = None, max_bytes: int = MAX_VALUE_BYTES) -> int:
    """Store (or replace) ``value`` under ``key``; returns its size in bytes."""
    now = now or utcnow()
    size = encode(scope, key, value, max_bytes=max_bytes)
    stmt = upsert(conn, task_state).values(
        dag_run_id=scope.dag_run_id, task_id=scope.task_id, map_index=scope.map_index,
        key=key, value=value, updated_at=now,
        expires_at=expiry(now, retention_seconds=retention_seconds, never_expire=never_expire))
    stmt = stmt.on_conflict_do_update(
        index_elements=[task_state.c.dag_run_id, task_state.c.task_id,
                        task_state.c.map_index, task_state.c.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at,
              "expires_at": stmt.excluded.expires_at})
    await conn.execute(stmt)
    return size


async def get_value(conn: AsyncConnection, scope: Scope, key: str, *,
                    now: datetime | None = None) -> tuple[bool, Any]:
    """``(True, value)`` for a live value (``null`` included), ``(False, None)`` otherwise."""
    query = select(task_state.c.value).where(_where(scope), task_state.c.key == key,
                                             _live(now or utcnow()))
    row = (await conn.execute(query)).first()
    return (True, row.value) if row is not None else (False, None)


async def list_values(conn: AsyncConnection, scope: Scope, *,
                      now: datetime | None = None) -> dict[str, Any]:
    """Every live key of one task instance with its value."""
    query = select(task_state.c.key, task_state.c.value).where(
        _where(scope), _live(now or utcnow())).order_by(task_state.c.key)
    return {row.key: row.value for row in await conn.execute(query)}


async def delete_value(conn: AsyncConnection, scope: Scope, key: str) -> int:
    """Forget one key; returns 1 when it existed, else 0 (never an error)."""
    stmt = delete(task_state).where(_where(scope), task_state.c.key == key)
    return (await conn.execute(stmt)).rowcount


async def clear(conn: AsyncConnection, scope: Scope) -> int:
    """Forget every key of one task instance; returns how many."""
    return (await conn.execute(delete(task_state).where(_where(scope)))).rowcount


async def purge_expired(conn: AsyncConnection, now: datetime | None = None) -> int:
    """Delete every expired value (values without an expiry stay); returns how many."""
    stmt = delete(task_state).where(task_state.c.expires_at <= (now or utcnow()))
    return (await conn.execute(stmt)).rowcount
