"""``POST /api/v2/dags/{dag_id}/dagRuns`` refuses a stale DAG (404) and a DAG with import
errors (400) with the trigger service's words, the ones the IDE's Trigger dialog shows
(``tests/integration/ide/test_stale_trigger.py``)."""

from __future__ import annotations

import pytest

from leoflow.engine.services import DagHasImportErrors, DagStale
from leoflow.engine.services.dag_files import DagFiles
from leoflow.engine.store import import_errors
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODY = {"logical_date": None}


async def test_a_stale_dag_answers_404_with_the_services_words(api: Api) -> None:
    await api.register_spec("deleted_project", paused=False)
    files = DagFiles(api.plane.store, api.plane.operations.scheduler)
    assert await files.mark_stale({"/dags/deleted_project/dag.py"}) == ["deleted_project"]
    response = await api.post("/api/v2/dags/deleted_project/dagRuns", json=BODY)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": DagStale("deleted_project").message}


async def test_a_dag_with_import_errors_answers_400_with_the_services_words(api: Api) -> None:
    await api.register_spec("half_broken", paused=False)
    async with api.plane.store.begin() as conn:
        await import_errors.record_import_error(conn, filename="/dags/half_broken/dag.py",
                                                message="dag.py:1: boom", dag_id="half_broken")
    response = await api.post("/api/v2/dags/half_broken/dagRuns", json=BODY)
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": DagHasImportErrors("half_broken").message}
