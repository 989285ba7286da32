"""Airflow UI: a run's gantt and statistics, a DAG's calendar, its deadlines
(``/ui/gantt``, ``/ui/calendar``, ``/ui/dags/{dag_id}/dagRuns/{run_id}/stats``,
``/ui/dags/.../deadlines``, ``/ui/dags/{dag_id}/deadlineAlerts``).

Leoflow has no deadline alerts: those lists are empty, with Airflow's shape. Tenant-scoped
like the rest of the Airflow face.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import QueryDateTime
from leoflow.engine.api.models.convert import api_ti_state, task_display_name, task_of
from leoflow.engine.api.routes.dags import require_dag, spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import run_listing, ui_reads

router = APIRouter(prefix="/ui", tags=["Airflow UI"])

CALENDAR_STATES = {"queued", "running", "success", "failed"}


async def _run(ctx: ApiContext, dag_id: str, run_id: str, principal: Principal) -> Any:
    run = await run_listing.find_visible_run(ctx.store, dag_id, run_id,
                                             tenant=principal.tenant)
    if run is None:
        raise NotFound(f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was "
                       "not found")
    return run


@router.get("/gantt/{dag_id}/{run_id}")
async def get_gantt(dag_id: str, run_id: str, ctx: ApiContext = Depends(api_context),
                    principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """Each task instance's scheduled, queued, start and end times (its current try)."""
    run = await _run(ctx, dag_id, run_id, principal)
    instances = (await ui_reads.instances_of_runs(ctx.store, [run])).get(run.id, [])
    version = (await run_listing.run_versions(ctx.store, [run])).get(run.dag_version_id)
    spec = spec_cache(ctx).get(version)
    rows = []
    for ti in instances:
        task = task_of(spec, ti.task_id)
        rows.append({"task_id": ti.task_id,
                     "task_display_name": task_display_name(ti.task_id, task, spec),
                     "try_number": ti.try_number, "state": api_ti_state(ti.state),
                     "scheduled_dttm": ti.scheduled_at, "queued_dttm": ti.queued_at,
                     "start_date": ti.start_date, "end_date": ti.end_date,
                     "is_group": False, "is_mapped": ti.map_index >= 0})
    return {"dag_id": dag_id, "run_id": run_id, "task_instances": rows}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}/stats")
async def get_run_stats(dag_id: str, dag_run_id: str, ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """Duration statistics of the DAG's last 100 finished runs."""
    await _run(ctx, dag_id, dag_run_id, principal)
    runs = await ui_reads.runs_of_dag(ctx.store, dag_id, limit=100,
                                      states=("success", "failed"))
    durations = [(r.end_date - r.start_date).total_seconds() for r in runs
                 if r.start_date is not None and r.end_date is not None]
    if not durations:
        return {"duration": None}
    mode = Counter(round(d) for d in durations).most_common(1)[0][0]
    return {"duration": {"mean": statistics.fmean(durations), "mode": float(mode),
                         **{f"p{p}": _percentile(durations, p / 100)
                            for p in (50, 90, 95, 99)}}}


@router.get("/calendar/{dag_id}")
async def get_calendar(
    dag_id: str,
    granularity: Literal["hourly", "daily"] = "daily",
    logical_date_gte: QueryDateTime | None = None,
    logical_date_gt: QueryDateTime | None = None,
    logical_date_lte: QueryDateTime | None = None,
    logical_date_lt: QueryDateTime | None = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> dict[str, Any]:
    """Runs counted by day (or hour) and state, by their ``run_after``."""
    await require_dag(ctx, dag_id, principal)
    start = logical_date_gte or logical_date_gt
    end = logical_date_lt or logical_date_lte
    runs = await ui_reads.runs_between(ctx.store, dag_id, start, end)
    counts: Counter[tuple[datetime, str]] = Counter()
    for run in runs:
        when = run.logical_date or run.run_after
        if logical_date_lte is not None and when > logical_date_lte:
            continue
        bucket = when.replace(minute=0, second=0, microsecond=0)
        if granularity == "daily":
            bucket = bucket.replace(hour=0)
        state = run.state if run.state in CALENDAR_STATES else "queued"
        counts[(bucket, state)] += 1
    rows = [{"date": d, "state": s, "count": n} for (d, s), n in sorted(counts.items())]
    return {"total_entries": len(rows), "dag_runs": rows}


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}/deadlines")
async def get_run_deadlines(dag_id: str, dag_run_id: str,
                            limit: int = Query(50, ge=0), offset: int = Query(0, ge=0),
                            ctx: ApiContext = Depends(api_context),
                            principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """Leoflow sets no deadlines: an empty list for a run that exists (``~`` for the DAG
    or the run: every one, as the dashboard asks)."""
    if dag_id != "~":
        await require_dag(ctx, dag_id, principal)
    if dag_id != "~" and dag_run_id != "~":
        await _run(ctx, dag_id, dag_run_id, principal)
    return {"deadlines": [], "total_entries": 0}


@router.get("/dags/{dag_id}/deadlineAlerts")
async def get_deadline_alerts(dag_id: str, limit: int = Query(50, ge=0),
                              offset: int = Query(0, ge=0),
                              ctx: ApiContext = Depends(api_context),
                              principal: Principal = Depends(require(READ))
                              ) -> dict[str, Any]:
    await require_dag(ctx, dag_id, principal)
    return {"deadline_alerts": [], "total_entries": 0}
