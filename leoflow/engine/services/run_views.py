"""What a person reads about runs and task instances: the IDE's run list, a run's task
states, one task instance with its tries, XComs and what it waits for.

Each function opens one connection, reads what one page needs in a fixed number of
queries, and returns frozen values. Every read is scoped to a tenant: a DAG of another
tenant reads as one that does not exist (``None`` or empty), as in the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services.waiting_reasons import not_started_reason
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import Store, dags, runs, task_instances
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import (
    DagRow,
    DagRunRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TriggerRow,
)

# When several instances (a mapped task) share one cell, the cell shows the most telling
# state, as Airflow's grid does: a failure first, then what is still moving, then the rest.
STATE_PRIORITY: tuple[str | None, ...] = (
    "failed", "upstream_failed", "up_for_retry", "up_for_reschedule", "running",
    "restarting", "awaiting_input", "deferred", "queued", "scheduled", None, "skipped",
    "success", "removed",
)


@dataclass(frozen=True)
class RunBrief:
    run_id: str
    state: str
    run_type: str
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    version_number: int | None = None
    triggered_by: str | None = None

    @property
    def duration(self) -> float | None:
        if self.start_date is None:
            return None
        end = self.end_date or datetime.now(self.start_date.tzinfo)
        return max(0.0, (end - self.start_date).total_seconds())


@dataclass(frozen=True)
class TaskInstanceDetail:
    run: DagRunRow
    instance: TaskInstanceRow
    tries: tuple[TaskInstanceHistoryRow, ...]
    xcoms: tuple[Any, ...]  # XComEntry values of this instance
    mapped: tuple[TaskInstanceRow, ...]  # every map index when the task is mapped
    task_spec: TaskSpec | None = None
    waiting: str | None = None  # deferred / up_for_reschedule: what for, until when
    # why it is not running now (waiting_reasons.not_started_reason); None: runs or ended
    reason: str | None = None


def summarize_states(states: Iterable[str | None]) -> str | None:
    """The state that represents several task instances (the mapped ones of one task)."""
    seen = set(states)
    for state in STATE_PRIORITY:
        if state in seen:
            return state
    return next(iter(seen), None)


def summarize(tis: Iterable[TaskInstanceRow]) -> dict[str, str | None]:
    """Task id → the state its cell shows (removed map indexes left out)."""
    grouped: dict[str, list[str | None]] = {}
    for ti in tis:
        if ti.map_index == -1 or ti.state != "removed":
            grouped.setdefault(ti.task_id, []).append(ti.state)
    return {task_id: summarize_states(states) for task_id, states in grouped.items()}


def brief(run: DagRunRow, numbers: Mapping[str, int] | None = None) -> RunBrief:
    return RunBrief(run.run_id, run.state, run.run_type, run.run_after, run.start_date,
                    run.end_date, (numbers or {}).get(run.dag_version_id), run.triggered_by)


def waiting_text(ti: TaskInstanceRow, trigger: TriggerRow | None) -> str | None:
    """What a task instance that waits without a process waits for, and until when."""
    from leoflow.engine.triggers import describe

    if ti.state in ("deferred", "up_for_reschedule") and trigger is not None:
        text = describe(trigger.classpath, trigger.kwargs, trigger.due_at)
        if trigger.timeout_at is not None:
            text += f", until {trigger.timeout_at.isoformat(timespec='seconds')}"
        return text
    if ti.state == "up_for_reschedule" and ti.next_retry_at is not None:
        return f"its next poke at {ti.next_retry_at.isoformat(timespec='seconds')}"
    return None


async def waiting_of(conn: AsyncConnection, tis: Iterable[TaskInstanceRow]) -> dict[str, str]:
    """Task instance id → ``waiting_text`` for those that wait without a process (one query
    for all their triggers)."""
    waiting = [t for t in tis if t.state in ("deferred", "up_for_reschedule")]
    if not waiting:
        return {}
    found = await trigger_rows.get_triggers(
        conn, {t.trigger_id for t in waiting if t.trigger_id is not None})
    out = {}
    for ti in waiting:
        text = waiting_text(ti, found.get(ti.trigger_id) if ti.trigger_id else None)
        if text:
            out[ti.id] = text
    return out


async def visible_dag(conn: AsyncConnection, dag_id: str, tenant: str) -> DagRow | None:
    """The DAG if it is ``tenant``'s; None when absent or another tenant's."""
    row = await dags.get_dag(conn, dag_id)
    return row if row is not None and row.tenant == tenant else None


async def latest_states(store: Store, dag_id: str, run_id: str | None = None, *, tenant: str
                        ) -> tuple[str | None, dict[str, str | None]]:
    """(run_id, task id → state) of ``run_id`` or of the DAG's latest run."""
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return None, {}
        if run_id is None:
            page = await runs.list_runs(conn, dag_id=dag_id, limit=1, order="-id")
            run = page.items[0] if page.items else None
        else:
            run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            return None, {}
        tis = await task_instances.list_for_run(conn, run.id)
    return run.run_id, summarize(tis)


async def run_history(store: Store, dag_id: str, limit: int = 100, *,
                      tenant: str) -> list[RunBrief]:
    """The DAG's newest ``limit`` runs, newest first, with their version numbers."""
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return []
        versions = (await dags.list_versions(conn, dag_id, limit=None)).items
        numbers = {v.id: v.version_number for v in versions}
        items = (await runs.list_runs(conn, dag_id=dag_id, limit=limit, order="-id")).items
    return [brief(r, numbers) for r in items]


async def task_instance_detail(store: Store, xcom: Any, dag_id: str, run_id: str,
                               task_id: str, map_index: int = -1, *, tenant: str,
                               spec_of: Any = None) -> TaskInstanceDetail | None:
    """One task instance (``map_index``, or the first of a mapped task when absent) with its
    tries, its XComs (read from the ``xcom`` backend) and its task's spec. ``spec_of``
    parses a version's spec (a cache, ``dag_views.spec_of``)."""
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return None
        run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            return None
        run_tis = await task_instances.list_for_run(conn, run.id)
        all_tis = [t for t in run_tis if t.task_id == task_id]
        if not all_tis:
            return None
        dag_row = await dags.get_dag(conn, dag_id)
        ti = next((t for t in all_tis if t.map_index == map_index), None)
        if ti is None:
            ti = all_tis[0]
        tries = tuple(await task_instances.list_tries(conn, run.id, task_id, ti.map_index))
        version = await dags.get_version(conn, run.dag_version_id)
        waiting = (await waiting_of(conn, [ti])).get(ti.id)
    page = await xcom.list(dag_run_id=run.id, task_id=task_id, limit=200)
    xcoms = tuple(x for x in page.items if ti.map_index < 0 or x.map_index == ti.map_index)
    task_spec, max_runs = None, None
    if version is not None:
        spec = spec_of(version) if spec_of is not None else DagSpec.from_json(version.spec)
        max_runs = spec.max_active_runs
        if task_id in spec.task_ids:
            task_spec = spec.task(task_id)
    mapped = tuple(t for t in all_tis if t.map_index >= 0)
    reason = not_started_reason(
        ti, run, task_spec, summarize(run_tis), waiting=waiting,
        dag_paused=bool(dag_row and dag_row.is_paused), now=datetime.now(UTC),
        max_active_runs=max_runs)
    return TaskInstanceDetail(run, ti, tries, xcoms, mapped, task_spec, waiting, reason)
