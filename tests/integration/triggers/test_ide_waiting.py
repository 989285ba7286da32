"""What the IDE's task panel and grid read for a task that waits without a process."""

from __future__ import annotations

from pathlib import Path

from leoflow.app.controlplane import start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.spec.canonical import with_content_hash
from leoflow.ide import queries
from tests.integration.triggers.conftest import sensor


async def test_panel_and_grid_say_what_a_deferred_task_waits_for(tmp_path: Path):
    plane = await start_control_plane(Settings(
        home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/l.db"))
    try:
        doc = with_content_hash({
            "schema_version": 1, "dag_id": "ide_wait", "schedule": {"kind": "none"},
            "tasks": [sensor("wait", timeout=600.0, trigger={
                "kind": "file", "kwargs": {"filepath": str(tmp_path / "never.csv"),
                                           "poke_interval": 300}})]})
        await plane.operations.register_dag(doc, paused_on_create=False)
        run = await plane.operations.trigger_run("ide_wait")
        await plane.scheduler.idle()
        detail = await queries.task_instance_detail(plane.services, "ide_wait", run.run_id, "wait",
                                                    tenant="default")
        assert detail is not None and detail.instance.state == "deferred"
        assert detail.waiting.startswith(f"a file matching {tmp_path / 'never.csv'}, until ")
        grid = (await queries.dag_detail(plane.services, "ide_wait", tenant="default")).grid
        assert grid.cells[(run.run_id, "wait")] == "deferred"
        assert grid.waiting[(run.run_id, "wait")] == detail.waiting
    finally:
        await plane.stop()
