"""What the pages show, read from the store in one place.

This is the only IDE module that reads the store's repositories; pages get frozen values
from here and write only through ``plane.operations``. (When the engine grows a read-side
service, this module becomes a thin adapter over it.)

Every read is scoped to a tenant, as the API's are: lists hold the tenant's DAGs only, and a
DAG of another tenant reads as one that does not exist (None). Pages pass the tenant of the
principal ``Access`` has just checked (``leoflow.ide.access``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import dags, listings, runs, task_instances
from leoflow.engine.store import triggers as trigger_rows
from leoflow.engine.store.rows import (
    DagRow,
    DagRunRow,
    DagVersionRow,
    ImportErrorRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TriggerRow,
)
from leoflow.engine.workspace_tenants import DEFAULT_TENANT, tenant_of_file
from leoflow.ide.theme import summarize_states

RECENT_RUNS = 10
GRID_RUNS = 25


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
class DagSummary:
    """One line of the DAGs page."""

    dag_id: str
    is_paused: bool
    schedule: str
    description: str | None
    tags: tuple[str, ...]
    next_run: datetime | None
    recent: tuple[RunBrief, ...]  # newest last
    fileloc: str | None
    has_version: bool

    @property
    def last_state(self) -> str | None:
        return self.recent[-1].state if self.recent else None


@dataclass(frozen=True)
class GridData:
    """Airflow's grid: runs (oldest first) x tasks, each cell a summarized state."""

    runs: tuple[RunBrief, ...]
    task_ids: tuple[str, ...]
    cells: Mapping[tuple[str, str], str | None]  # (run_id, task_id) → state
    mapped_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # (run_id, task_id) → what a deferred / up_for_reschedule instance waits for
    waiting: Mapping[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class DagDetail:
    dag: DagRow
    spec: DagSpec | None
    versions: tuple[DagVersionRow, ...]  # oldest first
    grid: GridData


@dataclass(frozen=True)
class TaskInstanceDetail:
    run: DagRunRow
    instance: TaskInstanceRow
    tries: tuple[TaskInstanceHistoryRow, ...]
    xcoms: tuple[Any, ...]  # XComEntry values of this instance
    mapped: tuple[TaskInstanceRow, ...]  # every map index when the task is mapped
    task_spec: Any = None
    waiting: str | None = None  # deferred / up_for_reschedule: what for, until when


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


async def _waiting(conn: Any, tis: list[TaskInstanceRow]) -> dict[str, str]:
    """Task instance id → ``waiting_text`` for those that wait without a process."""
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


def schedule_text(spec: DagSpec | None) -> str:
    if spec is None:
        return "-"
    schedule = spec.schedule
    if schedule.kind == "none":
        return "None"
    if schedule.kind == "once":
        return "@once"
    if schedule.kind == "cron":
        return schedule.expression or schedule.cron or "cron"
    if schedule.kind == "timedelta" and schedule.seconds:
        return schedule.expression or f"every {schedule.seconds:g}s"
    return schedule.kind


def _brief(run: DagRunRow, numbers: Mapping[str, int] | None = None) -> RunBrief:
    return RunBrief(run.run_id, run.state, run.run_type, run.run_after, run.start_date,
                    run.end_date, (numbers or {}).get(run.dag_version_id), run.triggered_by)


async def dag_tenant(plane: Any, dag_id: str) -> str | None:
    """The tenant a DAG belongs to (None: no such DAG)."""
    async with plane.store.connect() as conn:
        row = await dags.get_dag(conn, dag_id)
    return row.tenant if row is not None else None


async def _visible(conn: Any, dag_id: str, tenant: str) -> DagRow | None:
    row = await dags.get_dag(conn, dag_id)
    return row if row is not None and row.tenant == tenant else None


async def dag_summaries(plane: Any, *, tenant: str) -> list[DagSummary]:
    """Every DAG of ``tenant``, with its schedule and its last runs."""
    async with plane.store.connect() as conn:
        rows = (await dags.list_dags(conn, limit=None, tenant=tenant)).items
        out = []
        for row in rows:
            version = await dags.current_version(conn, row.dag_id)
            spec = DagSpec.from_json(version.spec) if version else None
            recent = (await runs.list_runs(conn, dag_id=row.dag_id, limit=RECENT_RUNS,
                                           order="-id")).items
            out.append(DagSummary(
                dag_id=row.dag_id, is_paused=row.is_paused, schedule=schedule_text(spec),
                description=spec.description if spec else None,
                tags=spec.tags if spec else (), next_run=row.next_dagrun_after,
                recent=tuple(_brief(r) for r in reversed(recent)), fileloc=row.fileloc,
                has_version=version is not None))
    return out


async def list_import_errors(plane: Any, *, tenant: str) -> list[ImportErrorRow]:
    """The import errors ``tenant`` may read: those of its DAGs (the API's rule; errors of
    files that never made a DAG go to the default tenant), and only of files in its part of
    the workspace (their messages quote the file)."""
    async with plane.store.connect() as conn:
        found = (await listings.list_import_errors(
            conn, tenant=tenant, include_unowned=tenant == DEFAULT_TENANT, limit=50)).items
    return [e for e in found if _file_tenant(e.filename) == tenant]


def _file_tenant(filename: str) -> str:
    if filename.startswith("/"):
        return DEFAULT_TENANT  # registered from outside the workspace: the machine's owner
    return tenant_of_file(filename)


async def current_spec(plane: Any, dag_id: str, *, tenant: str) -> DagSpec | None:
    async with plane.store.connect() as conn:
        if await _visible(conn, dag_id, tenant) is None:
            return None
        version = await dags.current_version(conn, dag_id)
    return DagSpec.from_json(version.spec) if version else None


async def latest_states(plane: Any, dag_id: str, run_id: str | None = None, *, tenant: str
                        ) -> tuple[str | None, dict[str, str | None]]:
    """(run_id, task id → state) of ``run_id`` or of the DAG's latest run."""
    async with plane.store.connect() as conn:
        if await _visible(conn, dag_id, tenant) is None:
            return None, {}
        if run_id is None:
            page = await runs.list_runs(conn, dag_id=dag_id, limit=1, order="-id")
            run = page.items[0] if page.items else None
        else:
            run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            return None, {}
        tis = await task_instances.list_for_run(conn, run.id)
    return run.run_id, _summarize(tis)


def _summarize(tis: list[TaskInstanceRow]) -> dict[str, str | None]:
    grouped: dict[str, list[str | None]] = {}
    for ti in tis:
        if ti.map_index == -1 or ti.state != "removed":
            grouped.setdefault(ti.task_id, []).append(ti.state)
    return {task_id: summarize_states(states) for task_id, states in grouped.items()}


async def dag_detail(plane: Any, dag_id: str, *, tenant: str,
                     grid_runs: int = GRID_RUNS) -> DagDetail | None:
    async with plane.store.connect() as conn:
        dag = await _visible(conn, dag_id, tenant)
        if dag is None:
            return None
        versions = tuple((await dags.list_versions(conn, dag_id, limit=None)).items)
        numbers = {v.id: v.version_number for v in versions}
        current = next((v for v in versions if v.id == dag.current_version_id), None)
        spec = DagSpec.from_json(current.spec) if current else None
        recent = list(reversed((await runs.list_runs(conn, dag_id=dag_id, limit=grid_runs,
                                                      order="-id")).items))
        cells: dict[tuple[str, str], str | None] = {}
        counts: dict[tuple[str, str], int] = {}
        waits: dict[tuple[str, str], str] = {}
        seen_tasks: list[str] = list(spec.task_ids) if spec else []
        for run in recent:
            tis = await task_instances.list_for_run(conn, run.id)
            for task_id, state in _summarize(tis).items():
                cells[(run.run_id, task_id)] = state
                if task_id not in seen_tasks:
                    seen_tasks.append(task_id)
            for ti in tis:
                if ti.map_index >= 0:
                    key = (run.run_id, ti.task_id)
                    counts[key] = counts.get(key, 0) + 1
            texts = await _waiting(conn, tis)
            for ti in tis:
                if ti.id in texts:
                    waits.setdefault((run.run_id, ti.task_id), texts[ti.id])
    grid = GridData(tuple(_brief(r, numbers) for r in recent), tuple(seen_tasks), cells,
                    counts, waits)
    return DagDetail(dag, spec, versions, grid)


async def run_history(plane: Any, dag_id: str, limit: int = 100, *,
                      tenant: str) -> list[RunBrief]:
    async with plane.store.connect() as conn:
        if await _visible(conn, dag_id, tenant) is None:
            return []
        versions = (await dags.list_versions(conn, dag_id, limit=None)).items
        numbers = {v.id: v.version_number for v in versions}
        items = (await runs.list_runs(conn, dag_id=dag_id, limit=limit, order="-id")).items
    return [_brief(r, numbers) for r in items]


async def version_source(plane: Any, dag_id: str, version_number: int, *,
                         tenant: str) -> str | None:
    async with plane.store.connect() as conn:
        if await _visible(conn, dag_id, tenant) is None:
            return None
        version = await dags.get_version_by_number(conn, dag_id, version_number)
    if version is None:
        return None
    return version.source_code or ""


async def task_instance_detail(plane: Any, dag_id: str, run_id: str, task_id: str,
                               map_index: int = -1, *, tenant: str
                               ) -> TaskInstanceDetail | None:
    async with plane.store.connect() as conn:
        if await _visible(conn, dag_id, tenant) is None:
            return None
        run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            return None
        all_tis = await task_instances.list_for_run(conn, run.id, task_id=task_id)
        if not all_tis:
            return None
        ti = next((t for t in all_tis if t.map_index == map_index), None)
        if ti is None:
            ti = all_tis[0]
        tries = tuple(await task_instances.list_tries(conn, run.id, task_id, ti.map_index))
        version = await dags.get_version(conn, run.dag_version_id)
        waiting = (await _waiting(conn, [ti])).get(ti.id)
    page = await plane.xcom.list(dag_run_id=run.id, task_id=task_id, limit=200)
    xcoms = tuple(x for x in page.items if ti.map_index < 0 or x.map_index == ti.map_index)
    task_spec = None
    if version is not None:
        spec = DagSpec.from_json(version.spec)
        if task_id in spec.task_ids:
            task_spec = spec.task(task_id)
    mapped = tuple(t for t in all_tis if t.map_index >= 0)
    return TaskInstanceDetail(run, ti, tries, xcoms, mapped, task_spec, waiting)


async def dag_exists(plane: Any, dag_id: str, *, tenant: str) -> bool:
    async with plane.store.connect() as conn:
        return await _visible(conn, dag_id, tenant) is not None
