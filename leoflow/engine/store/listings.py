"""Read-only listings for the API: always scoped to one tenant, with Airflow's filters.

The repositories in ``dags``/``runs``/``task_instances`` serve the scheduler and the
services; the ``/api/v2`` routes need more: every query joined to the ``dag`` table so that
a user never sees another tenant's rows, range filters on any date column, several sort
keys, and batch lookups that build one page of responses in a few queries. Nothing here
writes; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, to_rows
from leoflow.engine.store.rows import (
    DagRow,
    DagRunRow,
    DagVersionRow,
    ImportErrorRow,
    Page,
    TaskInstanceRow,
)
from leoflow.engine.store.tables import dag, dag_run, dag_version, import_error, task_instance

IN_FLIGHT_STATES = ("queued", "running")


@dataclass(frozen=True)
class Range:
    """Bounds on one column; ``None`` bounds are open (Airflow's ``_gte/_gt/_lte/_lt``)."""

    gte: Any = None
    gt: Any = None
    lte: Any = None
    lt: Any = None

    def is_open(self) -> bool:
        return self.gte is None and self.gt is None and self.lte is None and self.lt is None

    def clauses(self, column: Any) -> list[ColumnElement[bool]]:
        out = []
        if self.gte is not None:
            out.append(column >= self.gte)
        if self.gt is not None:
            out.append(column > self.gt)
        if self.lte is not None:
            out.append(column <= self.lte)
        if self.lt is not None:
            out.append(column < self.lt)
        return out


class UnknownOrderField(ValueError):
    """An ``order_by`` name the listing cannot sort on (the API answers 400)."""

    def __init__(self, name: str, allowed: Iterable[str]) -> None:
        self.name = name
        super().__init__(
            f"Ordering with '{name}' is disallowed or the attribute does not exist on the "
            f"model; choose one of {', '.join(sorted(allowed))}")


def _ordering(specs: Sequence[str], columns: Mapping[str, Any],
              tiebreak: Sequence[Any]) -> list[ColumnElement[Any]]:
    """``["-start_date", "dag_id"]`` → ORDER BY clauses, then ``tiebreak`` (stable pages)."""
    clauses: list[ColumnElement[Any]] = []
    descending = False
    for spec in specs:
        descending = spec.startswith("-")
        name = spec.lstrip("-+")
        if name not in columns:
            raise UnknownOrderField(name, columns)
        column = columns[name]
        clauses.append(column.desc() if descending else column.asc())
    for column in tiebreak:
        clauses.append(column.desc() if descending else column.asc())
    return clauses


LIKE_ESCAPE = "\\"


def like_pattern(value: str) -> str:
    """Airflow's ``*_pattern`` filters: a case-insensitive substring in which ``%`` and ``_``
    keep their SQL ``LIKE`` meaning. A backslash is literal (PostgreSQL would otherwise
    refuse a pattern ending with one); use it with ``escape=LIKE_ESCAPE``."""
    return "%" + value.lower().replace(LIKE_ESCAPE, LIKE_ESCAPE * 2) + "%"


def matches(column: Any, pattern: str) -> ColumnElement[bool]:
    """``column`` contains ``pattern`` in Airflow's sense (see ``like_pattern``)."""
    return func.lower(column).like(like_pattern(pattern), escape=LIKE_ESCAPE)


# -- DAGs --------------------------------------------------------------------------------------
DAG_ORDER = {
    "dag_id": dag.c.dag_id,
    "dag_display_name": dag.c.dag_id,
    "next_dagrun": dag.c.next_dagrun_after,
    "next_dagrun_run_after": dag.c.next_dagrun_after,
    "is_paused": dag.c.is_paused,
    "created_at": dag.c.created_at,
    "updated_at": dag.c.updated_at,
}


async def list_dags(
    conn: AsyncConnection,
    *,
    tenant: str,
    paused: bool | None = None,
    exclude_stale: bool = True,
    dag_id_pattern: str | None = None,
    dag_id_prefix: str | None = None,
    dag_ids: Collection[str] | None = None,
    has_import_errors: bool | None = None,
    order: Sequence[str] = ("dag_id",),
    limit: int | None = 50,
    offset: int = 0,
) -> Page[DagRow]:
    """One tenant's DAGs matching the filters, one page, with the total."""
    query = select(dag).where(dag.c.tenant == tenant)
    if paused is not None:
        query = query.where(dag.c.is_paused == paused)
    if exclude_stale:
        query = query.where(dag.c.is_stale.is_(False))
    if dag_id_pattern:
        query = query.where(matches(dag.c.dag_id, dag_id_pattern))
    if dag_id_prefix:
        query = query.where(dag.c.dag_id.startswith(dag_id_prefix, autoescape=True))
    if dag_ids is not None:
        query = query.where(dag.c.dag_id.in_(list(dag_ids)))
    if has_import_errors is not None:
        errored = select(import_error.c.dag_id).where(import_error.c.dag_id.is_not(None))
        query = query.where(dag.c.dag_id.in_(errored) if has_import_errors
                            else dag.c.dag_id.not_in(errored))
    clauses = _ordering(order, DAG_ORDER, (dag.c.dag_id,))
    return await fetch_page(conn, query, DagRow, order=clauses, limit=limit, offset=offset)


async def versions_by_id(conn: AsyncConnection,
                         version_ids: Iterable[str | None]) -> dict[str, DagVersionRow]:
    """Several versions in one query, by id (unknown ids are absent from the result)."""
    wanted = sorted({v for v in version_ids if v})
    if not wanted:
        return {}
    rows = (await conn.execute(select(dag_version).where(dag_version.c.id.in_(wanted)))).all()
    return {r.id: DagVersionRow(**r._mapping) for r in rows}


async def dags_by_id(conn: AsyncConnection, dag_ids: Iterable[str]) -> dict[str, DagRow]:
    wanted = sorted(set(dag_ids))
    if not wanted:
        return {}
    rows = (await conn.execute(select(dag).where(dag.c.dag_id.in_(wanted)))).all()
    return {r.dag_id: DagRow(**r._mapping) for r in rows}


async def dags_with_import_errors(conn: AsyncConnection, dag_ids: Iterable[str]) -> set[str]:
    """Which of ``dag_ids`` have at least one import error recorded."""
    wanted = sorted(set(dag_ids))
    if not wanted:
        return set()
    rows = await conn.execute(
        select(import_error.c.dag_id).where(import_error.c.dag_id.in_(wanted)).distinct())
    return {r.dag_id for r in rows}


async def count_active_runs(conn: AsyncConnection, dag_id: str) -> int:
    query = select(func.count()).select_from(dag_run).where(
        dag_run.c.dag_id == dag_id, dag_run.c.state.in_(("queued", "running")))
    return int((await conn.execute(query)).scalar_one())


async def count_in_flight(conn: AsyncConnection, dag_id: str) -> int:
    """Task instances of the DAG queued or running now (a DAG cannot be deleted then)."""
    query = select(func.count()).select_from(task_instance).where(
        task_instance.c.dag_id == dag_id, task_instance.c.state.in_(IN_FLIGHT_STATES))
    return int((await conn.execute(query)).scalar_one())


# -- runs --------------------------------------------------------------------------------------
RUN_ORDER = {
    "id": dag_run.c.id,
    "state": dag_run.c.state,
    "dag_id": dag_run.c.dag_id,
    "run_id": dag_run.c.run_id,
    "dag_run_id": dag_run.c.run_id,
    "logical_date": dag_run.c.logical_date,
    "run_after": dag_run.c.run_after,
    "start_date": dag_run.c.start_date,
    "end_date": dag_run.c.end_date,
    "queued_at": dag_run.c.queued_at,
    "run_type": dag_run.c.run_type,
}
RUN_RANGES = ("run_after", "logical_date", "start_date", "end_date")


def _runs_of_tenant(tenant: str) -> Select[Any]:
    return select(dag_run).join(dag, dag.c.dag_id == dag_run.c.dag_id).where(
        dag.c.tenant == tenant)


async def list_runs(
    conn: AsyncConnection,
    *,
    tenant: str,
    dag_id: str | None = None,
    dag_id_pattern: str | None = None,
    run_id_pattern: str | None = None,
    state: Collection[str] | None = None,
    run_type: Collection[str] | None = None,
    ranges: Mapping[str, Range] | None = None,
    triggering_user_pattern: str | None = None,
    order: Sequence[str] = ("id",),
    limit: int | None = 50,
    offset: int = 0,
) -> Page[DagRunRow]:
    """One tenant's runs (of one DAG, or all with ``dag_id=None``), one page, the total.

    ``ranges`` maps a column of ``RUN_RANGES`` to its bounds.
    """
    query = _runs_of_tenant(tenant)
    if dag_id is not None:
        query = query.where(dag_run.c.dag_id == dag_id)
    if dag_id_pattern:
        query = query.where(matches(dag_run.c.dag_id, dag_id_pattern))
    if run_id_pattern:
        query = query.where(matches(dag_run.c.run_id, run_id_pattern))
    if triggering_user_pattern:
        query = query.where(matches(dag_run.c.triggering_user_name, triggering_user_pattern))
    if state:
        query = query.where(dag_run.c.state.in_(list(state)))
    if run_type:
        query = query.where(dag_run.c.run_type.in_(list(run_type)))
    for name, bounds in (ranges or {}).items():
        if name not in RUN_RANGES:
            raise ValueError(f"no range filter on {name!r}")
        for clause in bounds.clauses(dag_run.c[name]):
            query = query.where(clause)
    clauses = _ordering(order, RUN_ORDER, (dag_run.c.id,))
    return await fetch_page(conn, query, DagRunRow, order=clauses, limit=limit, offset=offset)


async def runs_by_id(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, DagRunRow]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(select(dag_run).where(dag_run.c.id.in_(wanted)))).all()
    return {r.id: DagRunRow(**r._mapping) for r in rows}


async def find_runs(conn: AsyncConnection, *, tenant: str, run_id: str | None = None,
                    dag_id: str | None = None) -> list[DagRunRow]:
    """Runs by run id and/or DAG id within a tenant (``None`` = any), oldest first."""
    query = _runs_of_tenant(tenant)
    if run_id is not None:
        query = query.where(dag_run.c.run_id == run_id)
    if dag_id is not None:
        query = query.where(dag_run.c.dag_id == dag_id)
    rows = (await conn.execute(query.order_by(dag_run.c.id))).all()
    return to_rows(DagRunRow, rows)


# -- task instances ----------------------------------------------------------------------------
TI_ORDER = {
    "id": task_instance.c.id,
    "state": task_instance.c.state,
    "duration": task_instance.c.duration,
    "start_date": task_instance.c.start_date,
    "end_date": task_instance.c.end_date,
    "map_index": task_instance.c.map_index,
    "try_number": task_instance.c.try_number,
    "task_id": task_instance.c.task_id,
    "dag_id": task_instance.c.dag_id,
    "run_id": task_instance.c.run_id,
    "operator": task_instance.c.operator,
    "pool": task_instance.c.pool,
    "priority_weight": task_instance.c.priority_weight,
    "queued_when": task_instance.c.queued_at,
    "scheduled_when": task_instance.c.scheduled_at,
    "rendered_map_index": task_instance.c.rendered_map_index,
    "logical_date": dag_run.c.logical_date,
    "run_after": dag_run.c.run_after,
    "data_interval_start": dag_run.c.data_interval_start,
    "data_interval_end": dag_run.c.data_interval_end,
}
TI_RANGES = {
    "start_date": task_instance.c.start_date,
    "end_date": task_instance.c.end_date,
    "duration": task_instance.c.duration,
    "logical_date": dag_run.c.logical_date,
    "run_after": dag_run.c.run_after,
}


async def list_task_instances(
    conn: AsyncConnection,
    *,
    tenant: str,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_ids: Collection[str] | None = None,
    state: Collection[str | None] | None = None,
    pool: Collection[str] | None = None,
    executor: Collection[str] | None = None,
    operator: Collection[str] | None = None,
    try_number: Collection[int] | None = None,
    map_index: Collection[int] | None = None,
    mapped_only: bool = False,
    dag_id_pattern: str | None = None,
    run_id_pattern: str | None = None,
    task_id_pattern: str | None = None,
    version_number: Collection[int] | None = None,
    ranges: Mapping[str, Range] | None = None,
    order: Sequence[str] = ("run_after", "task_id", "map_index"),
    limit: int | None = 50,
    offset: int = 0,
) -> Page[TaskInstanceRow]:
    """One tenant's task instances matching the filters, one page, with the total.

    ``state`` may hold ``None`` (no state yet); ``mapped_only`` keeps map indexes >= 0.
    """
    query = (select(task_instance)
             .join(dag_run, dag_run.c.id == task_instance.c.dag_run_id)
             .join(dag, dag.c.dag_id == task_instance.c.dag_id)
             .where(dag.c.tenant == tenant))
    if dag_id is not None:
        query = query.where(task_instance.c.dag_id == dag_id)
    if run_id is not None:
        query = query.where(task_instance.c.run_id == run_id)
    if task_ids is not None:
        query = query.where(task_instance.c.task_id.in_(list(task_ids)))
    if state is not None:
        named = [s for s in state if s is not None]
        condition: ColumnElement[bool] = task_instance.c.state.in_(named)
        if None in state:
            condition = or_(condition, task_instance.c.state.is_(None))
        query = query.where(condition)
    for column, values in ((task_instance.c.pool, pool), (task_instance.c.executor, executor),
                           (task_instance.c.operator, operator),
                           (task_instance.c.try_number, try_number),
                           (task_instance.c.map_index, map_index)):
        if values:
            query = query.where(column.in_(list(values)))
    if mapped_only:
        query = query.where(task_instance.c.map_index >= 0)
    for column, pattern in ((task_instance.c.dag_id, dag_id_pattern),
                            (task_instance.c.run_id, run_id_pattern),
                            (task_instance.c.task_id, task_id_pattern)):
        if pattern:
            query = query.where(matches(column, pattern))
    if version_number:
        pinned = select(dag_version.c.id).where(
            dag_version.c.version_number.in_(list(version_number)),
            dag_version.c.dag_id == dag_run.c.dag_id)
        query = query.where(dag_run.c.dag_version_id.in_(pinned))
    for name, bounds in (ranges or {}).items():
        if name not in TI_RANGES:
            raise ValueError(f"no range filter on {name!r}")
        for clause in bounds.clauses(TI_RANGES[name]):
            query = query.where(clause)
    clauses = _ordering(order, TI_ORDER, (task_instance.c.dag_run_id, task_instance.c.task_id,
                                          task_instance.c.map_index))
    return await fetch_page(conn, query, TaskInstanceRow, order=clauses, limit=limit,
                            offset=offset)


# -- import errors -----------------------------------------------------------------------------
IMPORT_ERROR_ORDER = {
    "id": import_error.c.id,
    "import_error_id": import_error.c.id,
    "timestamp": import_error.c.timestamp,
    "filename": import_error.c.filename,
}


def _visible_errors(tenant: str, *, include_unowned: bool) -> ColumnElement[bool]:
    """An error is visible to a tenant when its DAG belongs to it; errors of files that
    never produced a DAG (no ``dag_id``, or a DAG not registered) have no tenant yet and
    are shown to ``include_unowned`` callers only."""
    owned = import_error.c.dag_id.in_(select(dag.c.dag_id).where(dag.c.tenant == tenant))
    if not include_unowned:
        return owned
    unowned = or_(import_error.c.dag_id.is_(None),
                  import_error.c.dag_id.not_in(select(dag.c.dag_id)))
    return or_(owned, unowned)


async def list_import_errors(
    conn: AsyncConnection,
    *,
    tenant: str,
    include_unowned: bool,
    filename: str | None = None,
    filename_pattern: str | None = None,
    filename_prefix: str | None = None,
    order: Sequence[str] = ("id",),
    limit: int | None = 50,
    offset: int = 0,
) -> Page[ImportErrorRow]:
    query = select(import_error).where(_visible_errors(tenant, include_unowned=include_unowned))
    if filename is not None:
        query = query.where(import_error.c.filename == filename)
    if filename_pattern:
        query = query.where(matches(import_error.c.filename, filename_pattern))
    if filename_prefix:
        query = query.where(import_error.c.filename.startswith(filename_prefix,
                                                                autoescape=True))
    clauses = _ordering(order, IMPORT_ERROR_ORDER, (import_error.c.id,))
    return await fetch_page(conn, query, ImportErrorRow, order=clauses, limit=limit,
                            offset=offset)


async def get_import_error(conn: AsyncConnection, error_id: int, *, tenant: str,
                           include_unowned: bool) -> ImportErrorRow | None:
    query = select(import_error).where(
        and_(import_error.c.id == error_id,
             _visible_errors(tenant, include_unowned=include_unowned)))
    row = (await conn.execute(query)).first()
    return ImportErrorRow(**row._mapping) if row else None

