"""The default XCom backend: the ``xcom`` table of the metadata store.

Values live beside the runs they belong to, so a result and the state change of the task
that produced it can share one transaction (pass ``conn``), and deleting a run deletes its
values. Expired rows read as absent at once and are deleted by ``sweep`` (run it from an
``XComSweeper``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store import Store, utcnow
from leoflow.engine.store import xcom as repo
from leoflow.engine.store.rows import Page
from leoflow.engine.xcom.base import RETURN_VALUE, Clock, XComEntry, XComPolicy, XComValue


class SqlXComBackend:
    """XCom in the store's ``xcom`` table (SQLite or PostgreSQL).

    Without ``conn`` each call opens its own transaction (``store.begin()`` for writes,
    ``store.connect()`` for reads); with ``conn`` it works inside the caller's, which commits.
    """

    name = "sql"

    def __init__(self, store: Store, policy: XComPolicy | None = None, *,
                 clock: Clock = utcnow) -> None:
        self.store = store
        self.policy = policy or XComPolicy()
        self._clock = clock

    @asynccontextmanager
    async def _writing(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
        else:
            async with self.store.begin() as own:
                yield own

    @asynccontextmanager
    async def _reading(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
        else:
            async with self.store.connect() as own:
                yield own

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any,
                   conn: AsyncConnection | None = None) -> int:
        text = self.policy.encode(value, task_id=task_id, key=key, map_index=map_index)
        now = self._clock()
        async with self._writing(conn) as c:
            await repo.put_xcom(c, dag_run_id=dag_run_id, task_id=task_id, key=key,
                                map_index=map_index, value=value,
                                expires_at=self.policy.expires_at(now), now=now)
        return len(text.encode("utf-8", "surrogatepass"))

    async def get(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                  map_index: int = -1, conn: AsyncConnection | None = None) -> XComValue | None:
        async with self._reading(conn) as c:
            row = await repo.get_xcom(c, dag_run_id, task_id, key, map_index, now=self._clock())
        if row is None:
            return None
        return XComValue(row.value, created_at=row.created_at, expires_at=row.expires_at)

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                         conn: AsyncConnection | None = None) -> dict[int, Any]:
        async with self._reading(conn) as c:
            return await repo.get_mapped_values(c, dag_run_id, task_id, key, now=self._clock())

    async def delete_task(self, dag_run_id: int, task_id: str, map_index: int | None = None,
                          conn: AsyncConnection | None = None, key: str | None = None) -> int:
        async with self._writing(conn) as c:
            return await repo.delete_for_task(c, dag_run_id, task_id, map_index, key=key)

    async def sweep(self, now: datetime | None = None) -> int:
        async with self.store.begin() as c:
            return await repo.purge_expired(c, now or self._clock())

    async def close(self) -> None:
        """The store belongs to the caller: nothing to release."""

    async def list(self, *, dag_run_id: int | None = None, task_id: str | None = None,
                   key: str | None = None, map_index: int | None = None,
                   limit: int | None = 100, offset: int = 0,
                   conn: AsyncConnection | None = None) -> Page[XComEntry]:
        async with self._reading(conn) as c:
            page = await repo.list_xcom(c, dag_run_id=dag_run_id, task_id=task_id, key=key,
                                        map_index=map_index, limit=limit, offset=offset,
                                        now=self._clock())
        items = tuple(XComEntry(r.dag_run_id, r.task_id, r.map_index, r.key, r.value,
                                r.created_at, r.expires_at) for r in page.items)
        return Page(items=items, total=page.total)
