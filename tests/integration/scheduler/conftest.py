"""A scheduler on a real SQLite store, a manual clock and the scripted test executor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from leoflow.engine.scheduler.clock import ManualClock
from leoflow.engine.scheduler.loop import Scheduler
from leoflow.engine.services import Operations
from leoflow.engine.spec.canonical import with_content_hash
from leoflow.engine.store import Store, runs, task_instances
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
        await self.scheduler.idle()

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

    async def ti(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
        async with self.store.connect() as conn:
            run = await runs.get_run(conn, dag_id, run_id)
            return await task_instances.get_task_instance(conn, run.id, task_id, map_index)


async def make_harness(url: str, clock: ManualClock, executor: ScriptedExecutor,
                       parallelism: int = 32) -> Harness:
    store = await Store.open(url, auto_migrate=True)
    scheduler = Scheduler(store, {"scripted": executor}, clock=clock, parallelism=parallelism)
    await scheduler.start()
    return Harness(store, clock, executor, scheduler, Operations(store, scheduler, clock=clock))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def executor() -> ScriptedExecutor:
    return ScriptedExecutor()


@pytest.fixture
async def harness(sqlite_url: str, clock: ManualClock,
                  executor: ScriptedExecutor) -> AsyncIterator[Harness]:
    h = await make_harness(sqlite_url, clock, executor)
    yield h
    await h.scheduler.stop()
    await h.store.close()
