"""The IDE's Trigger dialog refuses a DAG whose project was deleted, with the API's words.

A user deleted a project while its DAG page was open and pressed Trigger: the run started
(the refusal lived in the API's route only). The refusal now lives in the trigger service
every face calls; ``tests/integration/api/test_trigger_refusals.py`` checks the API answers
the same message."""

from __future__ import annotations

import shutil

from leoflow.engine.services import DagStale
from leoflow.engine.store import dags, runs
from tests.integration.ide.conftest import Ide, wait_for


async def test_the_trigger_dialog_refuses_a_deleted_project_as_the_api_does(ide: Ide) -> None:
    await ide.register("examples/hello")
    await ide.login()
    await ide.user.open("/dags/hello")
    (await ide.find("dag-trigger")).click()
    await ide.element("trigger-submit")

    # the project leaves the workspace; Lite's reloader marks its DAG stale
    shutil.rmtree(ide.workspace / "examples/hello")

    async def stale() -> bool:
        async with ide.plane.store.connect() as conn:
            row = await dags.get_dag(conn, "hello")
        return row is not None and row.is_stale

    await wait_for(stale, timeout=30, what="the reloader to mark hello stale")
    (await ide.find("trigger-submit")).click()
    expected = DagStale("hello").message
    assert expected == "DAG with dag_id: 'hello' not found"
    error = await wait_for(lambda: [e for e in ide.elements("trigger-error")
                                    if e.text == expected], what="the dialog's refusal")
    assert error
    async with ide.plane.store.connect() as conn:
        assert not (await runs.list_runs(conn, dag_id="hello")).items
