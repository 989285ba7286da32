"""BashOperator's extras, the templating surface, Params and ObjectStoragePath through the
real path: compile, control plane, scheduler, agents and user processes.

The DAGs are in ``projects/bash_templates/dag.py`` (with a ``sql/`` folder next to it and a
``more_templates/`` folder named by ``template_searchpath``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.engine.services.errors import InvalidParams
from tests.e2e.harness import Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "bash_templates"


@pytest.fixture
async def prepared(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


async def test_output_processor_and_multiple_outputs(prepared: Prepared, sqlite_url: str,
                                                     e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="bash_extras")
    assert result.state == "success", result.tasks
    assert set(result.states().values()) == {"success"}
    # json.loads of the last stdout line; each key pushed too, then return_value
    assert result.keys[("describe", "return_value")] == {"folder": "/data", "count": 3}
    assert result.keys[("describe", "folder")] == "/data"
    # @task.bash with upstream results in its env: resolved, not passed to the function
    assert result.xcom["env_from_results"] == "plain:bash_extras:2"
    assert result.keys[("describe", "count")] == 3
    assert "found 3 in /data" in result.lines("show")
    assert result.xcom["upper"] == "SHOUT!"
    assert ("upper", "SHOUT!") not in result.keys  # no multiple_outputs: one XCom
    # @task.bash: the rendered command's output, processed, keys pushed
    assert result.keys[("decorated_stats", "files")] == 2
    assert result.xcom["check"] == "bash_extras:2"


async def test_a_failing_output_processor_or_a_non_dict_fails_the_task(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="bash_extras_failures")
    assert result.state == "failed"
    assert result.states() == {"not_a_dict": "failed", "bad_processor": "failed",
                               "after": "upstream_failed"}
    assert "Returned output was type str, expected a dict" in (
        result.tasks["not_a_dict"].error or "")
    assert "cannot parse 'x'" in (result.tasks["bad_processor"].error or "")
    assert ("bad_processor", "return_value") not in result.keys


async def test_render_template_template_files_and_templates_dict(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="templates_surface")
    assert result.state == "success", result.tasks
    run_id = result.run_id
    sql = f"select * from runs where run_id = '{run_id}' and owner = 'ada'"
    assert result.xcom["query"] == {
        "sql": sql,  # sql/report.sql next to the DAG file, read and rendered
        "label": "ada.sql is not a file here",
        "again": f"run {run_id} by ada (7)",  # render_template, with the caller's extra key
        "listed": ["ada", 3],
    }
    assert result.xcom["greet"] == {"greeting": "hello ada from the search path\n",
                                    "inline": "ada!"}
    assert result.xcom["report"] == {"sql": sql, "note": "hello ada from the search path"}
    assert f"SQL: {sql}" in result.lines("report")


async def test_int_keyed_values_display_and_a_required_param(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    document = prepared.document("params_labels")
    assert document["params"]["pick"]["schema"]["values_display"] == {
        "1": "One", "2": "Two", "3": "Three"}
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(prepared, "params_labels")
        with pytest.raises(InvalidParams) as refused:
            await harness.trigger("params_labels", conf={})
        assert refused.value.message == "Invalid input for param name: No value passed"
        assert refused.value.field == "conf.name"
        run = await harness.trigger("params_labels", conf={"name": "grace"})
        assert await harness.wait(run) == "success"
        result = await harness.result(run)
    assert result.xcom["use"] == [3, "grace"]


async def test_object_storage_path_local_io_and_a_remote_scheme(
        prepared: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(prepared, dag_id="object_storage")
    assert result.states() == {"local_roundtrip": "success", "remote_write": "failed",
                               "analyze": "upstream_failed"}
    assert result.xcom["local_roundtrip"] == "stored"
    error = result.tasks["remote_write"].error or ""
    assert "ObjectStorageNotSupported" in error and "not 's3' storage" in error
