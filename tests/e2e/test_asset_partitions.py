"""Partitioned assets through the real path (``projects/asset_partitions/dag.py``): a
producer run triggered with a ``partition_key`` (or adding keys at run time) emits keyed
events; the scheduler maps each key with the consumer's mapper and starts the consumer run
keyed by the mapped key, which the consumer's task prints from ``dag_run.partition_key``.
``a & b`` waits per key until both assets have an event for the same mapped key; a segment
rollup waits for every region.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.engine.store import assets as st
from leoflow.engine.store import runs
from leoflow.engine.store.rows import DagRunRow
from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "asset_partitions"
PRODUCERS = ("part_produce_hourly", "part_produce_a", "part_produce_b", "part_produce_regions")
CONSUMERS = ("part_on_hour", "part_on_a_and_b", "part_all_regions")


@pytest.fixture
async def prepared(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def asset_runs(harness: Harness, dag_id: str) -> list[DagRunRow]:
    async with harness.plane.store.connect() as conn:
        page = await runs.list_runs(conn, dag_id=dag_id, run_type="asset_triggered",
                                    limit=None, order="id")
    return list(page.items)


async def produce(harness: Harness, dag_id: str, key: str | None = None,
                  conf: dict | None = None) -> None:
    run = await harness.plane.operations.trigger_run(dag_id, conf=conf or {},
                                                     triggered_by="cli", partition_key=key)
    assert run.partition_key == key
    assert await harness.wait(run, 60) == "success"


async def test_partitioned_producers_start_consumers_keyed_by_the_mapped_key(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        for dag_id in (*PRODUCERS, *CONSUMERS):  # partitioned schedules kept
            await harness.register(prepared, dag_id, one_off=False)

        # StartOfHourMapper: the producer's key 03:15:00 → the consumer's key "…T03"
        await produce(harness, "part_produce_hourly", "2026-06-14T03:15:00")
        (on_hour,) = await asset_runs(harness, "part_on_hour")
        assert on_hour.partition_key == "2026-06-14T03"
        assert await harness.wait(on_hour, 60) == "success"
        result = await harness.result(on_hour)
        assert "consumer partition_key=2026-06-14T03 context=2026-06-14T03" in "\n".join(
            result.lines("on_hour"))
        print(f"\nproducer key 2026-06-14T03:15:00 → consumer run {on_hour.run_id} keyed "
              f"{on_hour.partition_key}")

        # a & b per day (StartOfDayMapper): a for the 14th, b for the 15th: nothing yet
        await produce(harness, "part_produce_a", "2026-06-14T01:00:00")
        await produce(harness, "part_produce_b", "2026-06-15T01:00:00")
        assert await asset_runs(harness, "part_on_a_and_b") == []
        # b for the 14th completes that day only
        await produce(harness, "part_produce_b", "2026-06-14T05:00:00")
        (both,) = await asset_runs(harness, "part_on_a_and_b")
        assert both.partition_key == "2026-06-14"
        assert await harness.wait(both, 60) == "success"
        result = await harness.result(both)
        assert result.xcom["on_both"] == ["2026-06-14T01:00:00", "2026-06-14T05:00:00"]
        assert "consumer partition_key=2026-06-14" in "\n".join(result.lines("on_both"))
        # then a for the 15th completes the 15th with the b that waited
        await produce(harness, "part_produce_a", "2026-06-15T09:00:00")
        runs_now = await asset_runs(harness, "part_on_a_and_b")
        assert [r.partition_key for r in runs_now] == ["2026-06-14", "2026-06-15"]
        assert await harness.wait(runs_now[1], 60) == "success"
        assert (await harness.result(runs_now[1])).xcom["on_both"] == [
            "2026-06-15T01:00:00", "2026-06-15T09:00:00"]

        # keys added at run time: a segment rollup waits for us, eu and apac
        await produce(harness, "part_produce_regions", conf={"regions": ["us", "eu"]})
        assert await asset_runs(harness, "part_all_regions") == []
        await produce(harness, "part_produce_regions", conf={"regions": ["apac"]})
        (regions,) = await asset_runs(harness, "part_all_regions")
        assert regions.partition_key == "all_regions"
        assert await harness.wait(regions, 60) == "success"
        assert (await harness.result(regions)).xcom["on_all_regions"] == "all_regions"
        # every key ran, so nothing waits in the consumers' queues
        async with harness.plane.store.connect() as conn:
            left = await st.queued_events(conn, dag_ids=list(CONSUMERS))
        assert left == []
