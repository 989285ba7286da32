"""Assets at run time through the real path: compile, control plane, scheduler, agents
(gRPC) and user processes.

The DAGs are Airflow 3.3 files in ``projects/asset_runtime/dag.py``. What a task records for
its outlets (``outlet_events[...].extra``, ``yield Metadata``, a classic operator's
``post_execute``, an alias's ``add``) is checked on the events the store keeps; what tasks
read (``inlet_events`` in Python and in a ``bash_command`` template,
``triggering_asset_events``, ``asset_state_store`` across runs) on their XComs; and Airflow's
inactive-asset rule on the two tasks of example_inlet_event_extra.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leoflow.engine.services import asset_task_reads as asset_services
from leoflow.engine.store import runs
from tests.e2e.harness import Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "asset_runtime"


@pytest.fixture
async def project(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def _events(harness, ref: dict) -> list[dict]:
    async with harness.plane.store.connect() as conn:
        rows = await asset_services.events_for(conn, tenant="default", ref=ref)
    return [asset_services.event_json(r) for r in rows]


async def test_outlet_extras_alias_adds_and_inlet_events(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        produced = await harness.run(project, dag_id="produce_extras", timeout=90)
        assert produced.state == "success", produced.tasks
        by_context = await _events(harness, {"asset_ref": {"name": "by_context"}})
        by_yield = await _events(harness, {"asset_ref": {"name": "by_yield"}})
        by_classic = await _events(harness, {"asset_ref": {"name": "by_classic"}})
        added = await _events(harness, {"asset_ref": {"uri": "s3://runtime/added.txt"}})
        read = await harness.run(project, dag_id="read_extras", timeout=90)
    # extras set through the context and yielded as Metadata are the stored events' extras
    assert [e["extra"] for e in by_context] == [{"how": "context", "rows": 3}]
    assert [(e["source_dag_id"], e["source_task_id"], e["source_run_id"])
            for e in by_context] == [("produce_extras", "extra_by_context", produced.run_id)]
    assert [e["extra"] for e in by_yield] == [{"how": "yield"}]
    assert produced.xcom["extra_by_yield"] == "returned"  # the generator's return value
    # a classic operator's post_execute(context, result) sees bash's last line
    assert [e["extra"] for e in by_classic] == [{"how": "post_execute", "line": "done"}]
    # an alias's add() emits an event for the added asset, through the alias
    assert [(e["asset"]["uri"], e["extra"], e["source_alias_name"]) for e in added] == [
        ("s3://runtime/added.txt", {"how": "alias"}, "runtime-alias")]
    # inlet_events read those events back, in a Python task and in a bash template
    assert read.state == "success", read.tasks
    assert read.xcom["read_in_python"] == {
        "context": [{"how": "context", "rows": 3}], "yield_last": {"how": "yield"},
        "through_alias": [["s3://runtime/added.txt", {"how": "alias"}]],
        "source": ["produce_extras", "extra_by_context"]}
    assert json.loads(read.xcom["read_in_template"]) == {"how": "context", "rows": 3}


async def test_a_consumer_sees_its_triggering_asset_events(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(project, "consume_by_context", one_off=False)
        await harness.register(project, "produce_extras")
        producer = await harness.trigger("produce_extras")
        _, _, finished = await harness.wait_event(
            lambda kind, d: kind == "run.finished" and d.get("dag_id") == "consume_by_context",
            90)
        async with harness.plane.store.connect() as conn:
            consumer = await runs.get_run(conn, "consume_by_context", finished["run_id"])
        result = await harness.result(consumer)
    assert result.state == "success", result.tasks
    assert result.xcom["triggered_by"] == {
        "extras": [{"how": "context", "rows": 3}],
        "sources": [["produce_extras", "extra_by_context"]],
        "assets": ["by_context"], "run_type": "asset_triggered"}
    assert producer.run_id != consumer.run_id


async def test_the_asset_state_store_keeps_values_across_runs(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        first = await harness.run(project, dag_id="state_across_runs", timeout=90)
        second = await harness.run(project, dag_id="state_across_runs", timeout=90)
    assert first.xcom["count"] == {"runs": 1, "scratch": "gone"}
    assert second.xcom["count"] == {"runs": 2, "scratch": "gone"}


async def test_asset_functions_get_self_context_and_upstream_assets(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        up = await harness.run(project, dag_id="upstream_asset", timeout=90)
        down = await harness.run(project, dag_id="downstream_asset", timeout=90)
    assert up.state == "success", up.tasks
    assert down.state == "success", down.tasks
    assert down.xcom["downstream_asset"] == {
        "self": ["downstream_asset", "s3://runtime/downstream.csv"],
        "upstream": ["upstream_asset", "s3://runtime/upstream.csv"],
        "upstream_extras": [{"rows": 7}], "task": "downstream_asset"}


async def test_an_inlet_whose_uri_belongs_to_a_produced_asset_fails_as_on_airflow(
        project: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    """example_inlet_event_extra.py's two DAGs fail on Airflow 3.3.2: Asset("s3://output/1.txt")
    shares its URI with "test-asset" of example_outlet_event_extra.py, so it is not active
    and Airflow's task runner refuses both tasks before they run, without retrying."""
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(project, "produce_test_asset")
        result = await harness.run(project, dag_id="read_inactive", timeout=90)
    assert result.state == "failed"
    assert result.states() == {"read_asset_event": "failed", "read_from_classic": "failed"}
    for name in ("read_asset_event", "read_from_classic"):
        task = result.tasks[name]
        assert [t[:2] for t in task.tries] == [(1, "failed")]  # retries=2 not used
        assert task.error.startswith(
            "AirflowInactiveAssetInInletOrOutletException: Task has the following inactive "
            "assets in its inlets or outlets: Asset(name='s3://output/1.txt', "
            "uri='s3://output/1.txt')")
