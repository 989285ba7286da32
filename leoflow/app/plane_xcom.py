"""The control plane's XCom and log backends, and what wraps XCom pushes.

SQL XCom and in-process live logs (Lite), or Redis for both (Pro). The backend the agents
push through is wrapped, one behaviour per wrapper: with Redis the values a mapped task
expands over are mirrored to SQL (``MapSourceMirror``), a full disk is named
(``xcom_failures.DiskFullXCom``), and each push's size is counted for the metrics
(``CountingXCom``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from leoflow.app.settings import Settings
from leoflow.app.xcom_failures import DiskFullXCom
from leoflow.engine.logs import LogStore, RedisLogBus
from leoflow.engine.spec.model import DagSpec, iter_xcom_refs
from leoflow.engine.store import Store, dags, runs
from leoflow.engine.xcom import RETURN_VALUE, RedisXComBackend, SqlXComBackend, XComBackend
from leoflow.engine.xcom.forwarding import ForwardingXCom

log = logging.getLogger("leoflow.controlplane")


@dataclass
class DataStores:
    """XCom and logs, with the Redis clients to close at the end (none in Lite)."""

    xcom: SqlXComBackend | RedisXComBackend
    logs: LogStore
    closers: list[Callable[[], Any]] = field(default_factory=list)


def open_datastores(settings: Settings, store: Store, home: Path) -> DataStores:
    """XCom and logs: SQL XCom and in-process live logs, or Redis for both (Pro)."""
    if not settings.redis_url:
        return DataStores(SqlXComBackend(store), LogStore(home / "logs"))
    xcom = RedisXComBackend(settings.redis_url)
    bus = RedisLogBus(settings.redis_url)
    log.info("XCom and live logs in Redis")
    return DataStores(xcom, LogStore(home / "logs", bus=bus), [xcom.close, bus.close])


def pushed_xcom(xcom: SqlXComBackend | RedisXComBackend, store: Store
                ) -> XComBackend:
    """What values are stored through (swept too): Redis mirrored for ``.expand()``, a full
    disk under the SQLite store named."""
    stored: XComBackend = MapSourceMirror(xcom, store) \
        if isinstance(xcom, RedisXComBackend) else xcom
    return DiskFullXCom(stored, store.engine.url.database
                        if store.engine.url.get_backend_name() == "sqlite" else None)


class MapSourceMirror(ForwardingXCom):
    """Redis XCom, with the values a mapped task expands over also written to SQL.

    The scheduler counts a ``.expand()``'s instances from the upstream value it reads in the
    SQL ``xcom`` table (it decides inside its transaction). With XCom in Redis those values
    are written there too, with the same TTL (and swept by ``sweep``); every other value,
    and every read, stays in Redis. Remove this once the scheduler reads through the XCom
    backend.
    """

    def __init__(self, backend: RedisXComBackend, store: Store) -> None:
        super().__init__(backend)
        self._store = store
        self._sql = SqlXComBackend(store, backend.policy)
        self._sources: dict[str, frozenset[tuple[str, str]]] = {}  # version → (task, key)
        self._versions: dict[int, str] = {}  # dag run → version (recent runs)

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any, conn: Any = None) -> int:
        size = await super().push(dag_run_id=dag_run_id, task_id=task_id,
                                  map_index=map_index, key=key, value=value, conn=conn)
        if (task_id, key) in await self._map_sources(dag_run_id):
            await self._sql.push(dag_run_id=dag_run_id, task_id=task_id, map_index=map_index,
                                 key=key, value=value, conn=conn)
        return size

    async def _map_sources(self, dag_run_id: int) -> frozenset[tuple[str, str]]:
        version_id = self._versions.get(dag_run_id)
        if version_id is None or version_id not in self._sources:
            async with self._store.connect() as conn:
                run = await runs.get_run_by_id(conn, dag_run_id)
                if run is None:
                    return frozenset()
                version_id = run.dag_version_id
                if version_id not in self._sources:
                    version = await dags.get_version(conn, version_id)
                    if version is None:
                        return frozenset()
                    spec = DagSpec.from_json(version.spec)
                    self._sources[version_id] = frozenset(
                        (ref.task_id, ref.key) for task in spec.tasks if task.expand
                        for value in task.expand.values.values()
                        for ref in iter_xcom_refs(value))
            if len(self._versions) > 10_000:
                self._versions.clear()
            self._versions[dag_run_id] = version_id
        return self._sources[version_id]

    async def sweep(self, now: datetime | None = None) -> int:
        return await self._sql.sweep(now) + await super().sweep(now)


class CountingXCom(ForwardingXCom):
    """The XCom backend, telling ``on_push`` the size of each value pushed (metrics)."""

    def __init__(self, backend: XComBackend, on_push: Callable[[int], None]) -> None:
        super().__init__(backend)
        self._on_push = on_push

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any, conn: Any = None) -> int:
        size = await super().push(dag_run_id=dag_run_id, task_id=task_id,
                                  map_index=map_index, key=key, value=value, conn=conn)
        try:
            self._on_push(size)
        except Exception:
            log.exception("the XCom push callback failed")
        return size
