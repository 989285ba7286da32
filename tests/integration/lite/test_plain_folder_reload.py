"""A plain Airflow DAGs folder as the workspace: every DAG of every file registered, helper
modules imported by tasks at run time, per-file import errors, helper changes making new
versions, deleted files making their DAGs stale (real watcher, compile children, agents)."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.app.controlplane import ControlPlane, start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.reload.reloader import Reloader
from leoflow.engine.store import dags, import_errors, runs
from tests.integration.lite.test_hot_reload import Events

pytestmark = pytest.mark.slow

SALES = """
import pendulum
from airflow.sdk import DAG, task
from helpers.names import greeting

for name in ("sales_daily", "sales_hourly"):
    with DAG(name, schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC")):
        @task
        def hello() -> str:
            return greeting()
        hello()
"""
SOLO = """
from pathlib import Path
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(Path(__file__).stem, schedule=None):
    BashOperator(task_id="echo", bash_command="echo solo")
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Path, ControlPlane, Reloader, Events]]:
    folder = tmp_path / "airflow_dags"
    write(folder / "helpers" / "__init__.py", "")
    write(folder / "helpers" / "names.py", "def greeting():\n    return 'hello'\n")
    write(folder / "sales.py", SALES)
    write(folder / "team" / "solo.py", SOLO)
    settings = Settings.load(env={}, overrides={"home": str(tmp_path / "home")})
    plane = await start_control_plane(settings, code_roots=(folder,))
    reloader = Reloader(folder, plane)
    events = Events()
    reloader.subscribe(events)
    await reloader.start()
    await reloader.settled()
    yield folder, plane, reloader, events
    await reloader.stop()
    await plane.stop()


async def run_to_end(plane: ControlPlane, dag_id: str) -> tuple[str, Any]:
    run = await plane.operations.trigger_run(dag_id, triggered_by="test")
    for _ in range(1200):
        async with plane.store.connect() as conn:
            row = await runs.get_run_by_id(conn, run.id)
        if row.state in ("success", "failed"):
            break
        await asyncio.sleep(0.05)
    return row.state, run


async def test_every_dag_of_the_folder_runs_with_its_helpers(setup: Any) -> None:
    folder, plane, reloader, _events = setup
    status = reloader.status(folder)
    assert status is not None and status.state == "ok"
    assert sorted(status.dag_ids) == ["sales_daily", "sales_hourly", "solo"]
    async with plane.store.connect() as conn:
        solo = await dags.get_dag(conn, "solo")
    assert solo.fileloc == "team/solo.py" and not solo.is_paused
    state, run = await run_to_end(plane, "sales_hourly")
    assert state == "success"
    value = await plane.xcom.get(run.id, "hello", "return_value", -1)
    assert value is not None and value.value == "hello"  # helpers.names, at run time
    assert (await run_to_end(plane, "solo"))[0] == "success"


async def test_helper_change_new_versions_broken_file_and_deleted_file(setup: Any) -> None:
    folder, plane, reloader, events = setup

    async def version(dag_id: str) -> tuple[int, str]:
        async with plane.store.connect() as conn:
            found = await dags.current_version(conn, dag_id)
        return found.version_number, found.id

    before = {d: await version(d) for d in ("sales_daily", "sales_hourly", "solo")}
    since = events.mark()
    (folder / "helpers" / "names.py").write_text("def greeting():\n    return 'hi'\n")
    await events.wait("compiled", since, where=lambda e: e.dag_id == "sales_daily"
                      and e.new_version)
    await reloader.settled()
    after = {d: await version(d) for d in before}
    # new versions of the helper's two DAGs, still number 1: a save replaces a draft no
    # run has pinned (a run keeps its version; the next save then takes number 2)
    for dag_id in ("sales_daily", "sales_hourly"):
        assert after[dag_id][0] == 1 and after[dag_id][1] != before[dag_id][1]
    assert after["solo"] == before["solo"]  # it does not import the helper

    since = events.mark()
    write(folder / "broken.py", "from airflow.sdk import DAG\nwith DAG('b', schedule=None):\n"
                                "    1 / 0\n")
    failed = await events.wait("failed", since)
    assert (failed.file, failed.line) == ("broken.py", 3)
    async with plane.store.connect() as conn:
        errors = (await import_errors.list_import_errors(conn, filename="broken.py")).items
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0].message
    assert (await run_to_end(plane, "solo"))[0] == "success"  # the others keep working

    since = events.mark()
    (folder / "team" / "solo.py").unlink()
    (folder / "broken.py").unlink()
    await asyncio.sleep(0.1)
    await reloader.settled()
    for _ in range(100):
        async with plane.store.connect() as conn:
            solo = await dags.get_dag(conn, "solo")
            errors = (await import_errors.list_import_errors(conn, filename="broken.py")).items
        if solo.is_stale and not errors:
            break
        await asyncio.sleep(0.1)
    assert solo.is_stale and not errors
    assert reloader.status(folder).state == "ok"
