"""Which task instances a mark or a clear applies to: Airflow's selection rules for
``PatchTaskInstanceBody`` and ``ClearTaskInstancesBody``, over the run reads of
``services.run_listing`` (reads only).

Relatives are found in the DAG spec the run is pinned to; runs before or after another are
ordered by logical date, which a manual run may not have (then Airflow refuses, and so do
these functions, with 400).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.task_instances import (
    ClearTaskInstancesBody,
    PatchTaskInstanceBody,
)
from leoflow.engine.scheduler.setup_teardown import SetupTeardownGraph
from leoflow.engine.services import run_listing
from leoflow.engine.services.rows import DagRunRow, TaskInstanceRow
from leoflow.engine.spec.model import DagSpec


def relatives(spec: DagSpec, starts: Iterable[str], upstream: bool,
             downstream: bool) -> set[str]:
    """The tasks reached from ``starts`` through upstream and/or downstream edges."""
    found: set[str] = set()
    for walk, enabled in ((lambda t: spec.task(t).upstream, upstream),
                          (spec.downstream, downstream)):
        if not enabled:
            continue
        stack = [t for t in starts if t in spec.task_ids]
        while stack:
            for nxt in walk(stack.pop()):
                if nxt not in found:
                    found.add(nxt)
                    stack.append(nxt)
    return found


async def neighbour_runs(conn: AsyncConnection, tenant: str, run: DagRunRow, *,
                         past: bool, future: bool) -> list[DagRunRow]:
    """Runs of the same DAG before (``past``) and/or after (``future``) ``run`` by logical
    date; Airflow refuses this for a run without one."""
    if not (past or future):
        return []
    if run.logical_date is None:
        raise ApiError(400, "Cannot use include_past or include_future with no "
                            "logical_date(e.g. manually or asset-triggered).")
    candidates = await run_listing.runs_of_dag(conn, tenant, run.dag_id)
    return [r for r in candidates if r.id != run.id and r.logical_date is not None
            and ((past and r.logical_date < run.logical_date)
                 or (future and r.logical_date > run.logical_date))]


async def marking_targets(conn: AsyncConnection, tenant: str, run: DagRunRow,
                          spec: DagSpec | None, own: list[TaskInstanceRow], task_id: str,
                          map_index: int | None, body: PatchTaskInstanceBody
                          ) -> list[TaskInstanceRow]:
    """Every instance a new state would change: ``own`` (the patched task's instances),
    its upstream/downstream relatives in the run, and with past/future the same tasks in
    the runs before/after it. Instances already in the new state are left out."""
    related = relatives(spec, [task_id], body.include_upstream,
                        body.include_downstream) if spec else set()
    targets = list(own)
    for ti in await run_listing.instances_of_run(conn, run):
        if ti.task_id in related and ti.task_id != task_id:
            targets.append(ti)
    for other in await neighbour_runs(conn, tenant, run, past=body.include_past,
                                      future=body.include_future):
        for ti in await run_listing.instances_of_run(conn, other):
            same_task = ti.task_id == task_id
            if (same_task and (map_index is None or ti.map_index == map_index)) \
                    or (not same_task and ti.task_id in related):
                targets.append(ti)
    return [t for t in targets if t.state != body.new_state]


async def runs_to_clear(conn: AsyncConnection, tenant: str, dag_id: str,
                        body: ClearTaskInstancesBody) -> list[DagRunRow]:
    """Airflow's choice of runs: the given run (and, with include_past/future, the runs
    before/after it by logical date), or the runs whose logical date is within
    [start_date, end_date]."""
    start, end = body.start_date, body.end_date
    if body.dag_run_id is not None:
        run = await run_listing.run_of(conn, dag_id, body.dag_run_id)
        if run is None:
            raise NotFound(f"Dag Run id {body.dag_run_id} not found in dag {dag_id}")
        if not (body.include_past or body.include_future):
            return [run]
        if run.logical_date is None:
            raise ApiError(400, "Cannot use include_past or include_future with no "
                                "logical_date(e.g. manually or asset-triggered).")
        start = end = run.logical_date
    if body.include_past:
        start = None
    if body.include_future:
        end = None
    every = await run_listing.runs_of_dag(conn, tenant, dag_id)
    if start is None and end is None:
        return every
    return [run for run in every if run.logical_date is not None
            and (start is None or run.logical_date >= start)
            and (end is None or run.logical_date <= end)]


def task_selection(body: ClearTaskInstancesBody
                   ) -> tuple[set[str] | None, dict[str, set[int]]]:
    """(task ids cleared whole, {task id: map indexes} cleared one by one); ``None``: all."""
    if body.task_ids is None:
        return None, {}
    whole = {t for t in body.task_ids if isinstance(t, str)}
    indexed: dict[str, set[int]] = defaultdict(set)
    for item in body.task_ids:
        if not isinstance(item, str):
            indexed[item[0]].add(item[1])
    return whole, dict(indexed)


async def clear_candidates(conn: AsyncConnection, run: DagRunRow, spec: DagSpec | None,
                           body: ClearTaskInstancesBody) -> list[TaskInstanceRow]:
    """The instances of ``run`` the body selects: its tasks (whole, or some map indexes),
    their relatives, filtered by ``only_failed`` and ``only_running``."""
    if spec is None:
        return []
    whole, indexed = task_selection(body)
    if whole is None:
        chosen: set[str] = set(spec.task_ids)
    else:
        chosen = {t for t in whole | set(indexed) if t in spec.task_ids}
        if not chosen:
            return []
    related = relatives(spec, chosen, body.include_upstream, body.include_downstream)
    # and the setups and teardowns clearing them brings along, as Airflow does
    related |= SetupTeardownGraph.of(spec).clear_selection(
        chosen, upstream=body.include_upstream, downstream=body.include_downstream) - chosen
    whole_tasks = (whole or set()) | related if whole is not None else chosen
    selected = []
    for ti in await run_listing.instances_of_run(conn, run):
        if ti.task_id not in chosen | related:
            continue
        if ti.task_id not in whole_tasks and ti.map_index not in indexed.get(ti.task_id, ()):
            continue
        if body.only_failed and ti.state not in ("failed", "upstream_failed"):
            continue
        if body.only_running and ti.state != "running":
            continue
        selected.append(ti)
    return selected
