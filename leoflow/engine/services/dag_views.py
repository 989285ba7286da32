"""What a person reads about DAGs: the DAG list, one DAG with its versions and grid, its
current spec, the source of a version, the import errors of a tenant's files.

These are the IDE's reads (the API has its own listings in its routes' services): each
function opens one connection and reads a page in a fixed number of queries, whatever the
number of DAGs or runs on it, and parses each version's spec once (``spec_of``: versions
are immutable). Every read is scoped to a tenant: a DAG of another tenant reads as one
that does not exist (``None``, empty), as in the API.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from leoflow.engine.services.run_views import (
    RunBrief,
    brief,
    summarize,
    visible_dag,
    waiting_of,
)
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, dags, listings, overviews, runs
from leoflow.engine.store.rows import DagRow, DagVersionRow, ImportErrorRow
from leoflow.engine.workspace_tenants import DEFAULT_TENANT, tenant_of_file

RECENT_RUNS = 10
GRID_RUNS = 25
SPEC_CACHE_SIZE = 256


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
    is_stale: bool = False  # its file is gone or no longer defines it: not triggerable

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


_specs: OrderedDict[str, DagSpec] = OrderedDict()


def spec_of(version: DagVersionRow) -> DagSpec:
    """The parsed spec of a version, parsed once (a version never changes)."""
    spec = _specs.get(version.id)
    if spec is None:
        spec = _specs[version.id] = DagSpec.from_json(version.spec)
        if len(_specs) > SPEC_CACHE_SIZE:
            _specs.popitem(last=False)
    else:
        _specs.move_to_end(version.id)
    return spec


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


async def dag_summaries(store: Store, *, tenant: str) -> list[DagSummary]:
    """Every DAG of ``tenant`` with its schedule and its last runs: one query for the DAGs
    and their runs, and one for the specs of versions not parsed yet (none on a refresh)."""
    async with store.connect() as conn:
        found = await overviews.dags_with_recent_runs(conn, tenant, RECENT_RUNS)
        unparsed = [row.current_version_id for row, _ in found
                    if row.current_version_id and row.current_version_id not in _specs]
        for version in (await listings.versions_by_id(conn, unparsed)).values():
            spec_of(version)
    out = []
    for row, recent in found:
        spec = _specs.get(row.current_version_id) if row.current_version_id else None
        out.append(DagSummary(
            dag_id=row.dag_id, is_paused=row.is_paused, schedule=schedule_text(spec),
            description=spec.description if spec else None,
            tags=spec.tags if spec else (), next_run=row.next_dagrun_after,
            recent=tuple(brief(r) for r in reversed(recent)), fileloc=row.fileloc,
            has_version=spec is not None, is_stale=bool(row.is_stale)))
    return out


async def dag_detail(store: Store, dag_id: str, *, tenant: str,
                     grid_runs: int = GRID_RUNS) -> DagDetail | None:
    """The DAG, its versions, its current spec and the grid of its ``grid_runs`` newest
    runs (their task instances and waiting triggers read in one query each)."""
    async with store.connect() as conn:
        dag = await visible_dag(conn, dag_id, tenant)
        if dag is None:
            return None
        versions = tuple((await dags.list_versions(conn, dag_id, limit=None)).items)
        numbers = {v.id: v.version_number for v in versions}
        current = next((v for v in versions if v.id == dag.current_version_id), None)
        spec = spec_of(current) if current else None
        recent = list(reversed((await runs.list_runs(conn, dag_id=dag_id, limit=grid_runs,
                                                      order="-id")).items))
        by_run = await overviews.task_instances_of_runs(conn, (r.id for r in recent))
        texts = await waiting_of(conn, [ti for tis in by_run.values() for ti in tis])
    cells: dict[tuple[str, str], str | None] = {}
    counts: dict[tuple[str, str], int] = {}
    waits: dict[tuple[str, str], str] = {}
    seen_tasks: list[str] = list(spec.task_ids) if spec else []
    for run in recent:
        tis = by_run.get(run.id, [])
        for task_id, state in summarize(tis).items():
            cells[(run.run_id, task_id)] = state
            if task_id not in seen_tasks:
                seen_tasks.append(task_id)
        for ti in tis:
            key = (run.run_id, ti.task_id)
            if ti.map_index >= 0:
                counts[key] = counts.get(key, 0) + 1
            if ti.id in texts:
                waits.setdefault(key, texts[ti.id])
    grid = GridData(tuple(brief(r, numbers) for r in recent), tuple(seen_tasks), cells,
                    counts, waits)
    return DagDetail(dag, spec, versions, grid)


async def current_spec(store: Store, dag_id: str, *, tenant: str) -> DagSpec | None:
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return None
        version = await dags.current_version(conn, dag_id)
    return spec_of(version) if version else None


async def version_source(store: Store, dag_id: str, version_number: int, *,
                         tenant: str) -> str | None:
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return None
        version = await dags.get_version_by_number(conn, dag_id, version_number)
    if version is None:
        return None
    return version.source_code or ""


async def dag_tenant(store: Store, dag_id: str) -> str | None:
    """The tenant a DAG belongs to (None: no such DAG)."""
    async with store.connect() as conn:
        row = await dags.get_dag(conn, dag_id)
    return row.tenant if row is not None else None


async def dag_exists(store: Store, dag_id: str, *, tenant: str) -> bool:
    async with store.connect() as conn:
        return await visible_dag(conn, dag_id, tenant) is not None


async def tenant_import_errors(store: Store, *, tenant: str) -> list[ImportErrorRow]:
    """The import errors ``tenant`` may read: those of its DAGs (the API's rule; errors of
    files that never made a DAG go to the default tenant), and only of files in its part of
    the workspace (their messages quote the file)."""
    async with store.connect() as conn:
        found = (await listings.list_import_errors(
            conn, tenant=tenant, include_unowned=tenant == DEFAULT_TENANT, limit=50)).items
    return [e for e in found if _file_tenant(e.filename) == tenant]


def _file_tenant(filename: str) -> str:
    if filename.startswith("/"):
        return DEFAULT_TENANT  # registered from outside the workspace: the machine's owner
    return tenant_of_file(filename)
