"""Airflow 3's refusals of a new run live in the trigger service, so every face that
starts runs (API, IDE trigger dialog, ``leoflow run``, asset materialize) refuses the same
DAGs with the same words: a stale DAG (its file is gone or no longer defines it) and a DAG
with import errors. Nothing is written when a trigger is refused."""

from __future__ import annotations

import pytest

from leoflow.engine.services import DagHasImportErrors, DagStale
from leoflow.engine.services.dag_files import DagFiles
from leoflow.engine.store import import_errors
from tests.integration.scheduler.conftest import spec, task


async def test_a_stale_dag_is_refused_until_it_is_registered_again(harness):
    h = harness
    document = spec("gone", task("a"))
    await h.ops.register_dag(document, fileloc="gone/dag.py", paused_on_create=False)
    assert await DagFiles(h.store, h.scheduler).mark_stale({"gone/dag.py"}) == ["gone"]

    with pytest.raises(DagStale) as refused:
        await h.ops.trigger_run("gone", triggered_by="ui", allow_paused=True)
    assert refused.value.message == "DAG with dag_id: 'gone' not found"
    assert refused.value.status == 404
    assert await h.runs("gone") == []

    # Airflow's stale DAGs come back when their file defines them again
    await h.ops.register_dag(document, fileloc="gone/dag.py")
    run = await h.ops.trigger_run("gone", triggered_by="cli")
    assert run.state == "queued"


async def test_a_dag_with_import_errors_is_refused(harness):
    h = harness
    await h.register(spec("broken", task("a")))
    async with h.store.begin() as conn:
        await import_errors.record_import_error(conn, filename="broken/dag.py",
                                                message="dag.py:3: SyntaxError",
                                                dag_id="broken")
    with pytest.raises(DagHasImportErrors) as refused:
        await h.ops.trigger_run("broken", triggered_by="cli")
    assert refused.value.message == ("DAG with dag_id: 'broken' has import errors and cannot "
                                     "be triggered")
    assert refused.value.status == 400
    assert await h.runs("broken") == []
