"""Airflow ``/api/v2`` operations that do not apply to Leoflow, answered in Airflow's error
shape (``{"detail": ...}``) with a status Airflow itself uses for "not available here" and a
detail that says what to do instead, rather than a bare 404 the UI and scripts do not
expect. Also ``POST /dags/{id}/clearPartitions``, which does apply (re-running a partition
clears its runs' task instances).

Why each does not apply:

* ``parseDagFile``: DAG files are compiled when pushed or saved, never re-parsed by the
  server;
* default connections: Leoflow ships no provider defaults;
* testing connections (``routes/connections``): it would run a hook inside the control
  plane (Airflow's default, ``test_connection = Disabled``, answers 403 the same way);
* deleting one task instance: an instance lives as long as its run (clear it, or delete
  the run);
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError
from leoflow.engine.api.models.common import ApiModel, BodyModel, no_nul
from leoflow.engine.api.routes.dags import require_dag
from leoflow.engine.api.routes.task_instance_paths import TIS
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import EDIT_RUNS, MANAGE_RESOURCES, Principal
from leoflow.engine.services import run_listing

router = APIRouter(prefix="/api/v2", dependencies=[Depends(no_nul)])


def _refuse(detail: str, status: int = 400) -> ApiError:
    return ApiError(status, detail)


@router.put("/parseDagFile/{file_token}", status_code=201, tags=["DAG Parsing"],
            responses={400: {"description": "DAG files are compiled when pushed"}})
async def reparse_dag_file(file_token: str,
                           principal: Principal = Depends(require(EDIT_RUNS))) -> Response:
    raise _refuse("Leoflow compiles a DAG file when it is pushed or saved and never "
                  "re-parses it on the server: run `leoflow push` again (or save the file "
                  "in Lite)")


@router.post("/connections/defaults", status_code=204, tags=["Connection"],
             responses={400: {"description": "no default connections"}})
async def create_default_connections(
        principal: Principal = Depends(require(MANAGE_RESOURCES))) -> Response:
    raise _refuse("Leoflow ships no default connections: create the ones your DAGs use "
                  "with POST /api/v2/connections")


@router.delete("/dags/{dag_id}" + TIS + "/{task_id}", status_code=204,
               tags=["Task Instance"], responses={400: {"description": "not supported"}})
async def delete_task_instance(dag_id: str, dag_run_id: str, task_id: str,
                               ctx: ApiContext = Depends(api_context),
                               principal: Principal = Depends(require(EDIT_RUNS))) -> Response:
    await require_dag(ctx, dag_id, principal)
    raise _refuse("A task instance lives as long as its run in Leoflow: clear it "
                  "(POST /api/v2/dags/{dag_id}/clearTaskInstances) or delete the run")


class ClearPartitionsBody(BodyModel):
    partition_key: str | None = None
    partition_date_start: datetime | None = None
    partition_date_end: datetime | None = None
    run_id: str | None = None
    dry_run: bool = True
    clear_task_instances: bool = False


class ClearPartitionsResponse(ApiModel):
    dag_runs_cleared: int
    task_instances_cleared: int
    dry_run: bool


@router.post("/dags/{dag_id}/clearPartitions", response_model=ClearPartitionsResponse,
             tags=["DagRun"])
async def clear_dag_run_partitions(dag_id: str, body: ClearPartitionsBody,
                                   ctx: ApiContext = Depends(api_context),
                                   principal: Principal = Depends(require(EDIT_RUNS))
                                   ) -> ClearPartitionsResponse:
    """The runs of ``partition_key`` (or ``run_id``) cleared: counts only with ``dry_run``
    (the default); re-running a partition clears its task instances, so a real clear needs
    ``clear_task_instances``. Partition date ranges are not supported."""
    await require_dag(ctx, dag_id, principal)
    if body.partition_date_start or body.partition_date_end:
        raise _refuse("Selecting partitions by date is not supported: name the partition_key")
    if not (body.partition_key or body.run_id):
        raise _refuse("Name the partition_key (or the run_id) to clear")
    if not body.dry_run and not body.clear_task_instances:
        raise _refuse("Leoflow re-runs a partition by clearing its task instances: set "
                      "clear_task_instances to true")
    runs = [r for r in await run_listing.matching_runs(ctx.store, tenant=principal.tenant,
                                                       run_id=body.run_id, dag_id=dag_id)
            if body.partition_key is None or r.partition_key == body.partition_key]
    cleared = 0
    for run in runs:
        done = await ctx.operations.clear_task_instances(
            dag_id, run.run_id, None, only_failed=False, dry_run=body.dry_run,
            user=principal.username)
        cleared += len(done)
    return ClearPartitionsResponse(dag_runs_cleared=len(runs), task_instances_cleared=cleared,
                                   dry_run=body.dry_run)
