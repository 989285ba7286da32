"""``ForwardingXCom``: an XCom backend that hands every call to another one.

The composition root wraps the backend to add one behaviour to ``push`` (mirroring
``.expand()`` sources to SQL, naming a full disk, counting bytes for metrics). Each wrapper
subclasses this and overrides what it changes; every other method of ``XComBackend`` is
forwarded here explicitly, so a wrapper is an ``XComBackend`` a type checker can see and
nothing is looked up by name at run time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leoflow.engine.store.rows import Page
from leoflow.engine.xcom.base import RETURN_VALUE, XComBackend, XComEntry, XComPolicy, XComValue


class ForwardingXCom:
    """Every ``XComBackend`` method, forwarded to ``backend``."""

    def __init__(self, backend: XComBackend) -> None:
        self._backend = backend
        self.policy: XComPolicy = backend.policy  # the same object: one size cap, one TTL

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any, conn: Any = None) -> int:
        return await self._backend.push(dag_run_id=dag_run_id, task_id=task_id,
                                        map_index=map_index, key=key, value=value, conn=conn)

    async def get(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                  map_index: int = -1, conn: Any = None) -> XComValue | None:
        return await self._backend.get(dag_run_id, task_id, key, map_index, conn)

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                         conn: Any = None) -> dict[int, Any]:
        return await self._backend.get_mapped(dag_run_id, task_id, key, conn)

    async def delete_task(self, dag_run_id: int, task_id: str, map_index: int | None = None,
                          conn: Any = None, key: str | None = None) -> int:
        return await self._backend.delete_task(dag_run_id, task_id, map_index, conn, key)

    async def sweep(self, now: datetime | None = None) -> int:
        return await self._backend.sweep(now)

    async def close(self) -> None:
        await self._backend.close()

    async def list(self, *, dag_run_id: int | None = None, task_id: str | None = None,
                   key: str | None = None, map_index: int | None = None,
                   limit: int | None = 100, offset: int = 0, conn: Any = None
                   ) -> Page[XComEntry]:
        return await self._backend.list(dag_run_id=dag_run_id, task_id=task_id, key=key,
                                        map_index=map_index, limit=limit, offset=offset,
                                        conn=conn)
