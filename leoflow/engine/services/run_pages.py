"""What a person reads about one run and about runs across DAGs: the run page (its task
instances, every try as a bar of a Gantt chart, its conf and note, the version it is pinned
to), the list of all runs with filters, the mapped instances of one task for the grid, and
what a try actually ran (its rendered command, read from the try's own log).

Each read opens one connection and reads a page in a fixed number of queries. Every read is
scoped to a tenant: a run of another tenant's DAG reads as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from leoflow.engine.logs.paths import LogKey
from leoflow.engine.services.dag_views import spec_of
from leoflow.engine.services.run_views import visible_dag
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, dags, listings, overviews, runs, task_instances
from leoflow.engine.store._sql import to_rows
from leoflow.engine.store.listings import Range
from leoflow.engine.store.rows import DagRunRow, TaskInstanceHistoryRow, TaskInstanceRow
from leoflow.engine.store.tables import task_instance_history

RUN_STATES = ("queued", "running", "success", "failed")
RUN_TYPES = ("manual", "scheduled", "backfill", "asset_triggered")
COMMAND_PREFIX = "Running command: "
TEMPLATED_OPTIONS = ("env", "cwd", "templates_dict", "sql", "params")
RENDER_SCAN_LINES = 400  # the agent writes the command before any of the task's output


@dataclass(frozen=True)
class TryBar:
    """One try of one task instance, as a Gantt bar (``end`` None: still running)."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None
    queued: datetime | None
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class RunDetail:
    run: DagRunRow
    version_number: int | None
    spec: DagSpec | None
    instances: tuple[TaskInstanceRow, ...]
    bars: tuple[TryBar, ...]  # by start, then task id


@dataclass(frozen=True)
class RunLine:
    """One line of the list of all runs."""

    dag_id: str
    run_id: str
    state: str
    run_type: str
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    triggered_by: str | None
    version_number: int | None
    note: str | None

    @property
    def duration(self) -> float | None:
        if self.start_date is None:
            return None
        end = self.end_date or datetime.now(self.start_date.tzinfo)
        return max(0.0, (end - self.start_date).total_seconds())


@dataclass(frozen=True)
class RunFilters:
    states: tuple[str, ...] = ()
    dag_id: str | None = None
    run_types: tuple[str, ...] = ()
    after: datetime | None = None  # run_after >= after
    before: datetime | None = None  # run_after <= before


def bars_of(instances: Sequence[TaskInstanceRow],
            history: Sequence[TaskInstanceHistoryRow]) -> tuple[TryBar, ...]:
    """Every try: the recorded ones, and the current one when it is not recorded yet."""
    out: list[TryBar] = []
    recorded: set[tuple[str, int, int]] = set()
    for h in history:
        recorded.add((h.task_id, h.map_index, h.try_number))
        out.append(TryBar(h.task_id, h.map_index, h.try_number, h.state, h.queued_at,
                          h.start_date, h.end_date))
    for ti in instances:
        if ti.try_number <= 0 or (ti.task_id, ti.map_index, ti.try_number) in recorded:
            continue
        if ti.start_date is None and ti.queued_at is None:
            continue
        out.append(TryBar(ti.task_id, ti.map_index, ti.try_number, ti.state, ti.queued_at,
                          ti.start_date, ti.end_date))
    def moment(bar: TryBar) -> float:
        when = bar.start or bar.queued
        return when.timestamp() if when is not None else float("inf")

    out.sort(key=lambda b: (moment(b), b.task_id, b.map_index, b.try_number))
    return tuple(out)


async def run_detail(store: Store, dag_id: str, run_id: str, *,
                     tenant: str) -> RunDetail | None:
    """The run, its task instances and every try (three queries beside the run's)."""
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return None
        run = await runs.get_run(conn, dag_id, run_id)
        if run is None:
            return None
        version = await dags.get_version(conn, run.dag_version_id)
        instances = tuple(await task_instances.list_for_run(conn, run.id))
        history = to_rows(TaskInstanceHistoryRow, (await conn.execute(
            select(task_instance_history).where(
                task_instance_history.c.dag_run_id == run.id))).all())
    spec = spec_of(version) if version is not None else None
    return RunDetail(run, version.version_number if version else None, spec, instances,
                     bars_of(instances, history))


async def runs_across(store: Store, *, tenant: str, filters: RunFilters, limit: int = 50,
                      offset: int = 0) -> tuple[list[RunLine], int]:
    """One page of the tenant's runs of every DAG, newest first, and how many match."""
    ranges: dict[str, Range] = {}
    if filters.after is not None or filters.before is not None:
        ranges["run_after"] = Range(gte=filters.after, lte=filters.before)
    async with store.connect() as conn:
        page = await listings.list_runs(
            conn, tenant=tenant, dag_id=filters.dag_id or None, dag_id_pattern=None,
            run_id_pattern=None, triggering_user_pattern=None,
            state=list(filters.states) or None, run_type=list(filters.run_types) or None,
            ranges=ranges, order=["-run_after"], limit=limit, offset=offset)
        versions = await listings.versions_by_id(conn, (r.dag_version_id for r in page.items))
    lines = [RunLine(r.dag_id, r.run_id, r.state, r.run_type, r.run_after, r.start_date,
                     r.end_date, r.triggered_by,
                     versions[r.dag_version_id].version_number
                     if r.dag_version_id in versions else None, r.note)
             for r in page.items]
    return lines, page.total


async def mapped_states(store: Store, dag_id: str, run_ids: Collection[str], task_id: str,
                        *, tenant: str) -> dict[str, tuple[tuple[int, str | None], ...]]:
    """run_id → (map index, state) of each instance of the mapped task ``task_id``."""
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return {}
        found = []
        for run_id in run_ids:
            run = await runs.get_run(conn, dag_id, run_id)
            if run is not None:
                found.append(run)
        by_run = await overviews.task_instances_of_runs(conn, (r.id for r in found))
    out = {}
    for run in found:
        out[run.run_id] = tuple((ti.map_index, ti.state) for ti in by_run.get(run.id, [])
                                if ti.task_id == task_id and ti.map_index >= 0
                                and ti.state != "removed")
    return out


@dataclass(frozen=True)
class Rendered:
    """What a try ran: the commands its agent logged, and the task's templated arguments."""

    commands: tuple[str, ...]
    templates: tuple[tuple[str, str], ...]  # (argument, template text as written)


def templated_arguments(spec: DagSpec | None, task_id: str) -> tuple[tuple[str, str], ...]:
    """The task's arguments as written in dag.py: its literal keyword arguments (strings as
    they are, other values as JSON), what it takes from upstream XComs, and the options
    that are templates (``env``, ``cwd``...)."""
    import json

    if spec is None or task_id not in spec.task_ids:
        return ()
    task = spec.task(task_id)
    out = []
    kwargs = task.inputs.get("kwargs") if isinstance(task.inputs, Mapping) else None
    for name, value in (kwargs or {}).items():
        if isinstance(value, Mapping) and "literal" in value:
            value = value["literal"]
            out.append((name, value if isinstance(value, str)
                        else json.dumps(value, indent=2, default=str)))
        else:  # a reference to upstream XComs, resolved when the task runs
            out.append((name, "from upstream: " + json.dumps(value, default=str)))
    for name in TEMPLATED_OPTIONS:
        value = task.options.get(name)
        if value not in (None, "", {}, []):
            out.append((name, value if isinstance(value, str)
                        else json.dumps(value, indent=2, default=str)))
    return tuple(out)


async def rendered_try(logs: Any, spec: DagSpec | None, dag_id: str, run_id: str,
                       task_id: str, map_index: int, try_number: int) -> Rendered:
    """The commands the try's agent ran (``Running command: ...`` lines of its log) and
    the task's templated arguments. The caller has checked the DAG is its tenant's."""
    commands: list[str] = []
    if try_number > 0:
        key = LogKey(dag_id, run_id, task_id, try_number=try_number, map_index=map_index)
        records, _ = await logs.read(key, 0, RENDER_SCAN_LINES)
        for record in records:
            if record.stream == "agent" and record.event.startswith(COMMAND_PREFIX):
                commands.append(_command_text(record.event[len(COMMAND_PREFIX):]))
    return Rendered(tuple(commands), templated_arguments(spec, task_id))


def _command_text(logged: str) -> str:
    """``['bash', '-c', '...']`` as the agent logs it → the command itself."""
    import ast

    try:
        value = ast.literal_eval(logged)
    except (ValueError, SyntaxError):
        return logged
    if isinstance(value, list) and len(value) == 3 and value[:2] == ["bash", "-c"]:
        return str(value[2])
    return logged
