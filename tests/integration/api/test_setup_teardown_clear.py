"""``POST /api/v2/dags/{dag_id}/clearTaskInstances`` on a DAG with setup and teardown
tasks: clearing a work task clears (and its dry run lists) its setup and teardown too, as
Airflow does; a task outside their scope is left alone."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.api.client_models import parse
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAG_FILE = '''
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(dag_id="scoped", schedule=None):
    create = BashOperator(task_id="create", bash_command="echo create").as_setup()
    work = BashOperator(task_id="work", bash_command="echo work")
    delete = BashOperator(task_id="delete", bash_command="echo delete").as_teardown(
        setups=create)
    create >> work >> delete
    BashOperator(task_id="unrelated", bash_command="echo unrelated")
'''


async def test_clearing_work_clears_its_setup_and_teardown(
        api: Api, tmp_path_factory: pytest.TempPathFactory) -> None:
    project = tmp_path_factory.mktemp("scoped")
    (project / "dag.py").write_text(textwrap.dedent(DAG_FILE), "utf-8")
    (project / "leoflow.yaml").write_text("dag_id: scoped\ndependencies: []\n", "utf-8")
    await api.register_project(Path(project))
    started = await api.post("/api/v2/dags/scoped/dagRuns", json={"logical_date": None})
    assert started.status_code == 200, started.text
    run_id = started.json()["dag_run_id"]
    assert (await api.wait_run("scoped", run_id))["state"] == "success"

    url = "/api/v2/dags/scoped/clearTaskInstances"
    body = {"dry_run": True, "only_failed": False, "dag_run_id": run_id,
            "task_ids": ["work"]}
    dry = parse("TaskInstanceCollectionResponse", (await api.post(url, json=body)).json())
    assert sorted(t.task_id for t in dry.task_instances) == ["create", "delete", "work"]

    cleared = await api.post(url, json={**body, "dry_run": False}, token="user-token")
    assert cleared.status_code == 200, cleared.text
    assert sorted(t["task_id"] for t in cleared.json()["task_instances"]) == [
        "create", "delete", "work"]
    assert (await api.wait_run("scoped", run_id))["state"] == "success"
    base = f"/api/v2/dags/scoped/dagRuns/{quote(run_id, safe='')}/taskInstances"
    tries = {t: (await api.get(f"{base}/{t}")).json()["try_number"]
             for t in ("create", "work", "delete", "unrelated")}
    assert tries == {"create": 2, "work": 2, "delete": 2, "unrelated": 1}
