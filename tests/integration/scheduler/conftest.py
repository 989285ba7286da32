"""A scheduler on a real store (SQLite; PostgreSQL too for `any_harness`), a manual clock
and the scripted test executor. No test sleeps: time moves only through `clock.advance`."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leoflow.engine.clock import ManualClock
from leoflow.engine.scheduler.loop import Scheduler
from leoflow.engine.services import Operations, assets
from leoflow.engine.spec.canonical import with_content_hash
from leoflow.engine.store import Store, audit, runs, tables, task_instances, xcom
from leoflow.engine.store.rows import AuditLogRow, DagRunRow, TaskInstanceRow
from tests.conftest import _asyncpg_url, create_database
from tests.integration.scheduler.scripted_executor import ScriptedExecutor

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def task(task_id: str, *upstream: str, **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "operator": extra.pop("operator", "python"),
            "upstream": list(upstream), "trigger_rule": extra.pop("trigger_rule", "all_success"),
            "inputs": extra.pop("inputs", {"args": [], "kwargs": {}}), **extra}


def spec(dag_id: str, *tasks: dict[str, Any], **settings: Any) -> dict[str, Any]:
    doc = {"schema_version": 1, "dag_id": dag_id, "schedule": {"kind": "none"},
           "tasks": list(tasks), **settings}
    return with_content_hash(doc)


@dataclass
class Harness:
    store: Store
    clock: ManualClock
    executor: ScriptedExecutor
    scheduler: Scheduler
    ops: Operations

    async def register(self, doc: dict[str, Any], *, paused: bool = False) -> None:
        await self.ops.register_dag(doc, paused_on_create=paused)
        await self.settle()

    async def trigger(self, dag_id: str, **kwargs: Any) -> str:
        run = await self.ops.trigger_run(dag_id, **kwargs)
        await self.settle()
        return run.run_id

    async def settle(self) -> None:
        """Wait until the scheduler and the executor's self-ending tries are done."""
        await self.scheduler.idle()
        while self.executor._tasks:
            await self.executor.drain()
            await self.scheduler.idle()

    async def advance(self, seconds: float) -> None:
        """Move the manual clock (due timers fire) and let the scheduler act on it."""
        self.clock.advance(seconds)
        await self.settle()

    async def running(self, task_id: str, map_index: int = -1,
                      run_id: str | None = None) -> None:
        await self.executor.running(task_id, map_index=map_index, run_id=run_id)
        await self.settle()

    async def finish(self, task_id: str, state: str = "success", **kwargs: Any) -> None:
        await self.executor.finish(task_id, state, **kwargs)
        await self.settle()

    async def states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        async with self.store.connect() as conn:
            run = await runs.get_run(conn, dag_id, run_id)
            tis = await task_instances.list_for_run(conn, run.id)
        return {(t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t.state
                for t in tis}

    async def run_state(self, dag_id: str, run_id: str) -> str:
        async with self.store.connect() as conn:
            return (await runs.get_run(conn, dag_id, run_id)).state

    async def ti(self, dag_id: str, run_id: str, task_id: str,
                 map_index: int = -1) -> TaskInstanceRow:
        async with self.store.connect() as conn:
            run = await runs.get_run(conn, dag_id, run_id)
            ti = await task_instances.get_task_instance(conn, run.id, task_id, map_index)
        assert ti is not None, f"{dag_id}/{run_id} has no task instance {task_id}[{map_index}]"
        return ti

    async def run(self, dag_id: str, run_id: str) -> DagRunRow:
        async with self.store.connect() as conn:
            run = await runs.get_run(conn, dag_id, run_id)
        assert run is not None, f"{dag_id} has no run {run_id}"
        return run

    async def runs(self, dag_id: str) -> list[DagRunRow]:
        """The DAG's runs, oldest first."""
        async with self.store.connect() as conn:
            return list((await runs.list_runs(conn, dag_id=dag_id, limit=None,
                                              order="id")).items)

    async def audit(self, dag_id: str | None = None) -> list[AuditLogRow]:
        """Audit rows, oldest first."""
        async with self.store.connect() as conn:
            return list((await audit.list_events(conn, dag_id=dag_id, limit=None,
                                                 order="id")).items)

    async def written(self) -> dict[str, int]:
        """Row counts of everything an operation may write (to prove it wrote nothing)."""
        async with self.store.connect() as conn:
            return {name: (await conn.execute(select(func.count()).select_from(table)))
                    .scalar_one()
                    for name, table in (("runs", tables.dag_run),
                                        ("task_instances", tables.task_instance),
                                        ("audit", tables.audit_log),
                                        ("versions", tables.dag_version))}

    async def put_xcom(self, dag_id: str, run_id: str, task_id: str, value: Any,
                       map_index: int = -1) -> None:
        """Store a task's return value as the agent would before reporting success."""
        run = await self.run(dag_id, run_id)
        async with self.store.begin() as conn:
            await xcom.put_xcom(conn, dag_run_id=run.id, task_id=task_id, value=value,
                                map_index=map_index)


async def make_harness(url: str, clock: ManualClock, executor: ScriptedExecutor,
                       parallelism: int = 32, store: Store | None = None) -> Harness:
    """A started scheduler on ``url`` (or on an open ``store``: a restart)."""
    store = store or await Store.open(url, auto_migrate=True)
    scheduler = Scheduler(store, {"scripted": executor}, assets=assets, clock=clock,
                          parallelism=parallelism)
    await scheduler.start()
    h = Harness(store, clock, executor, scheduler, Operations(store, scheduler, clock=clock))
    await h.settle()
    return h


# -- databases: migrated once per session, copied for each test --------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (migrating costs ~0.1 s a test)."""
    path = tmp_path_factory.mktemp("template") / "leoflow.db"

    async def migrate() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{path.as_posix()}", auto_migrate=True)
        await store.close()  # the last connection out folds the WAL into the file

    asyncio.run(migrate())
    return path


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "leoflow.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target.as_posix()}"


@pytest.fixture(scope="session")
def postgres_template(postgres_server: Any) -> str:
    """A migrated PostgreSQL database to create each test's database from."""
    name = f"template_{uuid.uuid4().hex[:12]}"
    create_database(postgres_server, name)

    async def migrate() -> None:
        store = await Store.open(_asyncpg_url(postgres_server, name), auto_migrate=True)
        await store.close()  # CREATE DATABASE ... TEMPLATE needs it unused

    asyncio.run(migrate())
    return name


@pytest.fixture
def migrated_postgres_url(postgres_server: Any, postgres_template: str) -> str:
    name = f"test_{uuid.uuid4().hex[:16]}"
    create_database(postgres_server, name, template=postgres_template)
    return _asyncpg_url(postgres_server, name)  # not dropped: see tests/conftest.py


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def executor() -> ScriptedExecutor:
    return ScriptedExecutor()


@pytest.fixture
async def harness(migrated_sqlite_url: str, clock: ManualClock,
                  executor: ScriptedExecutor) -> AsyncIterator[Harness]:
    """The harness on SQLite (the fast default)."""
    h = await make_harness(migrated_sqlite_url, clock, executor)
    yield h
    await h.scheduler.stop()
    await h.store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database on each backend: SQLite, then a real PostgreSQL."""
    return request.getfixturevalue(f"migrated_{request.param}_url")


@pytest.fixture
async def any_harness(db_url: str, clock: ManualClock,
                      executor: ScriptedExecutor) -> AsyncIterator[Harness]:
    """The harness on SQLite and on PostgreSQL (for the behaviours that matter most)."""
    h = await make_harness(db_url, clock, executor)
    yield h
    await h.scheduler.stop()
    await h.store.close()
