"""A control-plane restart with 1,000 deferred tasks: every wait resumes, each fires once.

Real parts throughout: the control plane (store on SQLite, scheduler, trigger runner, agent
service), the wall clock. The sensors start from a trigger (a time sensor needs no process),
so no agent runs; what is tested is that waits live in the store, not in the process.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leoflow.app.controlplane import start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.logs import LogKey
from leoflow.engine.spec.canonical import with_content_hash
from leoflow.engine.store import tables
from leoflow.engine.store import triggers as trigger_rows

COUNT = 1000
WAIT = 30.0  # seconds from each deferral: longer than triggering 1,000 runs and a restart


def _document() -> dict:
    return with_content_hash({
        "schema_version": 1, "dag_id": "many_waits", "schedule": {"kind": "none"},
        "max_active_runs": COUNT + 1,
        "tasks": [{"task_id": "wait", "operator": "sensor", "upstream": [],
                   "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}},
                   "sensor": {"mode": "poke", "poke_interval": 60.0, "timeout": 3600.0,
                              "soft_fail": False, "exponential_backoff": False,
                              "max_wait": None,
                              "trigger": {"kind": "time",
                                          "kwargs": {"delta": WAIT, "from": "now"}}}}]})


async def _count(plane, *conditions) -> int:
    async with plane.store.connect() as conn:
        query = select(func.count()).select_from(tables.task_instance).where(*conditions)
        return (await conn.execute(query)).scalar_one()


@pytest.mark.slow
async def test_restart_with_a_thousand_deferred_tasks(tmp_path: Path):
    settings = Settings(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/l.db")
    plane = await start_control_plane(settings)
    try:
        await plane.operations.register_dag(_document(), paused_on_create=False)
        for start in range(0, COUNT, 100):
            await asyncio.gather(*[plane.operations.trigger_run("many_waits", run_id=f"r{i}")
                                   for i in range(start, start + 100)])
        await plane.scheduler.idle(60)
        ti = tables.task_instance
        assert await _count(plane, ti.c.state == "deferred") == COUNT
        assert len(plane.scheduler.triggers) == COUNT
        assert plane.scheduler.triggers.fired == 0, "too slow: the waits began to fire"
    finally:
        await plane.stop()

    plane = await start_control_plane(settings)
    try:
        assert len(plane.scheduler.triggers) == COUNT, "every wait resumed from the store"
        deadline = time.monotonic() + WAIT + 90
        while await _count(plane, ti.c.state == "success") < COUNT:
            assert time.monotonic() < deadline, "not every wait fired in time"
            await asyncio.sleep(0.5)
        await plane.scheduler.idle(30)
        assert plane.scheduler.triggers.fired == COUNT
        assert await _count(plane, ti.c.try_number == 1) == COUNT
        async with plane.store.connect() as conn:
            assert await trigger_rows.count_triggers(conn) == 0
            history = (await conn.execute(
                select(tables.task_instance_history.c.state, func.count())
                .group_by(tables.task_instance_history.c.state))).all()
            run_states = (await conn.execute(
                select(tables.dag_run.c.state, func.count())
                .group_by(tables.dag_run.c.state))).all()
        assert [tuple(r) for r in history] == [("success", COUNT)], "one try each"
        assert [tuple(r) for r in run_states] == [("success", COUNT)]
        await plane.logs.flush()
        for i in range(COUNT):
            records, _ = await plane.logs.read(LogKey("many_waits", f"r{i}", "wait",
                                                      try_number=1))
            fired = [r for r in records if r.event.startswith("trigger: fired")]
            resumed = [r for r in records if "still waiting (control plane restarted)"
                       in r.event]
            assert len(fired) == 1 and len(resumed) == 1, (i, [r.event for r in records])
    finally:
        await plane.stop()
