"""A stale DAG (its file is gone, or no longer defines it) gets no new scheduled runs."""

from __future__ import annotations

from leoflow.engine.store import dags, runs
from tests.integration.scheduler.conftest import START, spec, task

EVERY_FIVE = {"kind": "cron", "cron": "*/5 * * * *", "expression": "*/5 * * * *",
              "timezone": "UTC", "data_interval": False}


async def count_runs(harness, dag_id: str) -> int:
    async with harness.store.connect() as conn:
        return await runs.count_runs(conn, dag_id)


async def test_stale_dag_is_not_scheduled_until_registered_again(harness):
    doc = spec("ticking", task("a"), schedule=EVERY_FIVE, start_date=START.isoformat())
    await harness.register(doc)
    before = await count_runs(harness, "ticking")
    async with harness.store.begin() as conn:
        await dags.set_stale(conn, "ticking", True)
    harness.scheduler.wake_dag("ticking")
    await harness.settle()
    harness.clock.advance(11 * 60)
    await harness.settle()
    assert await count_runs(harness, "ticking") == before
    await harness.register(doc)  # registering again revives it
    harness.clock.advance(5 * 60)
    await harness.settle()
    assert await count_runs(harness, "ticking") > before
