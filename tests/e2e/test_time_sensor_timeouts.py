"""Time sensors' timeouts through the real path (scheduler, trigger runner): a deferrable
TimeSensor waits past its ``timeout`` as Airflow's does; a poking one is skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from leoflow.engine.store import task_instances
from tests.e2e.harness import Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "time_sensor_timeouts"


async def test_a_deferrable_time_sensor_ignores_its_timeout(projects: Projects,
                                                             tmp_path: Path) -> None:
    prepared = await projects.prepare(PROJECT)
    async with open_plane(projects.home, f"sqlite+aiosqlite:///{tmp_path}/db.sqlite") as h:
        await h.register(prepared)
        run = await h.trigger("time_sensor_timeouts")
        await h.wait_event(_poking_ended, timeout=60)
        await asyncio.sleep(2.0)  # twice the timeout: the deferrable one must still wait
        async with h.plane.store.connect() as conn:
            states = {t.task_id: t.state for t in
                      await task_instances.list_for_run(conn, run.id)}
    assert states == {"poking": "skipped", "deferrable": "deferred"}


def _poking_ended(kind: str, data: dict) -> bool:
    return kind == "ti.finished" and data.get("task_id") == "poking"
