"""Writing XCom entries by hand (Airflow's ``POST``/``PATCH``/``DELETE …/xcomEntries``): an
operator fixes, seeds or removes a value a downstream task will pull.

The rules: the run must be the caller's tenant's, the task one of the run's pinned
version, the entry absent to create (409) and present to update (404). Values go through
the XCom backend's own checks (size cap, JSON), exactly as a task's pushes do.
"""

from __future__ import annotations

from typing import Any

from leoflow.engine.services import run_listing, task_instance_reads
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.store import Store
from leoflow.engine.store.rows import DagRunRow
from leoflow.engine.xcom import XComBackend
from leoflow.engine.xcom.base import XComValue


class XComNotFound(ServiceError):
    status = 404


class XComExists(ServiceError):
    status = 409


async def _run(store: Store, dag_id: str, run_id: str, task_id: str, tenant: str
               ) -> DagRunRow:
    """The tenant's run, when ``task_id`` is a task of the version it is pinned to."""
    run = await run_listing.find_visible_run(store, dag_id, run_id, tenant=tenant)
    if run is None:
        raise XComNotFound(f"Dag Run with ID: `{run_id}` not found")
    version = await task_instance_reads.version_of_run(store, run)
    tasks = {t.get("task_id") for t in (version.spec.get("tasks") or ())} if version else set()
    if task_id not in tasks:
        raise XComNotFound(f"Task with ID: `{task_id}` not found in dag: `{dag_id}`")
    return run


async def create(store: Store, xcom: XComBackend, *, dag_id: str, run_id: str, task_id: str,
                 key: str, map_index: int, value: Any, tenant: str) -> tuple[DagRunRow, XComValue]:
    """Store a new entry; ``XComExists`` when the key is taken at that map index."""
    run = await _run(store, dag_id, run_id, task_id, tenant)
    if await xcom.get(run.id, task_id, key, map_index) is not None:
        raise XComExists(f"The XCom with key: `{key}` with mentioned task instance already "
                         "exists.")
    await xcom.push(dag_run_id=run.id, task_id=task_id, map_index=map_index, key=key,
                    value=value)
    stored = await xcom.get(run.id, task_id, key, map_index)
    if stored is None:  # expired at once (a zero TTL is "keep"; only a clock jump)
        raise XComNotFound(f"XCom entry with key: `{key}` not found")
    return run, stored


async def update(store: Store, xcom: XComBackend, *, dag_id: str, run_id: str, task_id: str,
                 key: str, map_index: int, value: Any, tenant: str) -> tuple[DagRunRow, XComValue]:
    """Replace an existing entry's value; ``XComNotFound`` when there is none."""
    run = await _run(store, dag_id, run_id, task_id, tenant)
    if await xcom.get(run.id, task_id, key, map_index) is None:
        raise XComNotFound(f"The XCom with key: `{key}` with mentioned task instance doesn't "
                           "exist.")
    await xcom.push(dag_run_id=run.id, task_id=task_id, map_index=map_index, key=key,
                    value=value)
    stored = await xcom.get(run.id, task_id, key, map_index)
    if stored is None:
        raise XComNotFound(f"XCom entry with key: `{key}` not found")
    return run, stored


async def delete(store: Store, xcom: XComBackend, *, dag_id: str, run_id: str, task_id: str,
                 key: str, map_index: int, tenant: str) -> None:
    """Remove one entry (one key at one map index); ``XComNotFound`` when there is none."""
    run = await _run(store, dag_id, run_id, task_id, tenant)
    if not await xcom.delete_task(run.id, task_id, map_index, key=key):
        raise XComNotFound(f"The XCom with key: `{key}` with mentioned task instance doesn't "
                           "exist.")
