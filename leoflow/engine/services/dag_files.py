"""Which DAGs a workspace file defines: a DAG whose file is gone, or no longer defines it,
goes stale.

Airflow's stale DAGs: kept with their history, not listed as active, not triggerable;
registering them again revives them. The hot reloader calls this service when a file
compiles (its other DAGs go stale), when a project is removed, and at start for files that
left the workspace while Lite was not running. Going stale also takes the DAG out of asset
scheduling (``assets.forget_dag``), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from leoflow.engine.services.assets import forget_dag
from leoflow.engine.services.operations import SchedulerHandle
from leoflow.engine.store import Store, dags


class DagFiles:
    """The DAGs registered from files, by ``fileloc``."""

    def __init__(self, store: Store, scheduler: SchedulerHandle) -> None:
        self.store = store
        self.scheduler = scheduler

    async def current_version_id(self, dag_id: str) -> str | None:
        """The id of the DAG's current version (None: never registered), to tell whether
        a registration made a new one."""
        async with self.store.connect() as conn:
            version = await dags.current_version(conn, dag_id)
        return version.id if version is not None else None

    async def active_filelocs(self) -> set[str]:
        """The ``fileloc`` of every DAG that is not stale."""
        async with self.store.connect() as conn:
            rows = (await dags.list_dags(conn, stale=False, limit=None)).items
        return {r.fileloc for r in rows if r.fileloc}

    async def mark_stale(self, files: set[str], keep: Iterable[str] = ()) -> list[str]:
        """Mark stale the DAGs of ``files`` other than ``keep``; returns their ids."""
        if not files:
            return []
        async with self.store.connect() as conn:
            rows = (await dags.list_dags(conn, stale=False, limit=None)).items
        kept = set(keep)
        gone = [r.dag_id for r in rows if r.fileloc in files and r.dag_id not in kept]
        if not gone:
            return []
        async with self.store.begin() as conn:
            for dag_id in gone:
                await dags.set_stale(conn, dag_id, True)
                await forget_dag(conn, dag_id=dag_id)  # consumes/produces nothing any more
        for dag_id in gone:
            self.scheduler.wake_dag(dag_id)
        return gone
