"""Airflow UI: a DAG's grid and graph (``/ui/grid/*``, ``/ui/structure/structure_data``).

The structure comes from the compiled spec of the DAG's current version (or the version
asked for); the runs and task instances from the store, tenant-scoped like every route of
the Airflow face: another tenant's DAG answers 404 as an absent one. ``ti_summaries``
streams one JSON line per run, as Airflow's does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.convert import dag_version_response
from leoflow.engine.api.models.ui_graph import graph, grid_nodes, ti_summaries
from leoflow.engine.api.routes.dags import require_dag, spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import dag_listing, run_listing, ui_reads
from leoflow.engine.services.rows import DagRunRow, DagVersionRow
from leoflow.engine.spec.model import DagSpec

router = APIRouter(prefix="/ui", tags=["Airflow UI"])

MAX_RUNS = 1000


async def spec_of(ctx: ApiContext, dag_id: str, version_number: int | None = None
                  ) -> DagSpec | None:
    """The spec of the DAG's version ``version_number`` (current when None)."""
    if version_number is None:
        version = await dag_listing.current_version(ctx.store, dag_id)
    else:
        version = await dag_listing.version_by_number(ctx.store, dag_id, version_number)
        if version is None:
            raise NotFound(f"The Dag with ID: `{dag_id}` has no version {version_number}")
    return spec_cache(ctx).get(version)


def _newest_first(order_by: list[str] | None) -> bool:
    first = next((o for o in order_by or () if o), "-run_after")
    return first.startswith("-")


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.isoformat().replace("+00:00", "Z")
                      if isinstance(v, datetime) else str(v))


@router.get("/grid/structure/{dag_id}")
async def get_grid_structure(
    dag_id: str,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> list[dict[str, Any]]:
    """The grid's rows: the current version's tasks and groups."""
    await require_dag(ctx, dag_id, principal)
    return grid_nodes(await spec_of(ctx, dag_id))


def _grid_run(run: DagRunRow, version: DagVersionRow | None, spec: DagSpec | None
              ) -> dict[str, Any]:
    duration = 0.0
    if run.start_date is not None:
        duration = ((run.end_date or datetime.now(UTC)) - run.start_date).total_seconds()
    return {"dag_id": run.dag_id, "run_id": run.run_id, "queued_at": run.queued_at,
            "start_date": run.start_date, "end_date": run.end_date, "run_after": run.run_after,
            "state": run.state, "run_type": run.run_type,
            "dag_versions": [dag_version_response(version, spec).model_dump(mode="json")]
            if version is not None else [],
            "has_missed_deadline": False, "has_note": bool(run.note), "duration": duration}


@router.get("/grid/runs/{dag_id}")
async def get_grid_runs(
    dag_id: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=0),
    order_by: Annotated[list[str] | None, Query()] = None,
    state: Annotated[list[str] | None, Query()] = None,
    run_type: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> list[dict[str, Any]]:
    """The grid's columns: the DAG's runs, newest first unless ``order_by=run_after``."""
    await require_dag(ctx, dag_id, principal)
    rows = await ui_reads.runs_of_dag(ctx.store, dag_id, limit=min(limit, MAX_RUNS),
                                      offset=offset, newest_first=_newest_first(order_by),
                                      states=state, run_types=run_type)
    versions = await run_listing.run_versions(ctx.store, rows)
    cache = spec_cache(ctx)
    out = []
    for run in rows:
        version = versions.get(run.dag_version_id)
        out.append(_grid_run(run, version, cache.get(version)))
    return json.loads(_json(out))


@router.get("/grid/ti_summaries/{dag_id}", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}}}})
async def get_ti_summaries(
    dag_id: str,
    run_ids: Annotated[list[str] | None, Query()] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> StreamingResponse:
    """One line per run asked for: each task's and group's folded state and times."""
    await require_dag(ctx, dag_id, principal)
    wanted = [r for part in run_ids or () for r in part.split(",") if r][:MAX_RUNS]
    rows = await ui_reads.runs_of_dag(ctx.store, dag_id, limit=MAX_RUNS, run_ids=wanted)
    by_id = {r.run_id: r for r in rows}
    instances = await ui_reads.instances_of_runs(ctx.store, rows)
    versions = await run_listing.run_versions(ctx.store, rows)
    cache = spec_cache(ctx)

    async def lines() -> AsyncIterator[str]:
        for run_id in wanted:
            run = by_id.get(run_id)
            if run is None:
                continue
            version = versions.get(run.dag_version_id)
            summary = ti_summaries(cache.get(version), instances.get(run.id, []),
                                   version.version_number if version else None)
            yield _json({"run_id": run_id, "dag_id": dag_id,
                         "task_instances": summary}) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/structure/structure_data")
async def get_structure_data(
    dag_id: str,
    version_number: int | None = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> dict[str, Any]:
    """The graph: tasks and groups as nodes, dependencies as edges."""
    await require_dag(ctx, dag_id, principal)
    return graph(await spec_of(ctx, dag_id, version_number))
