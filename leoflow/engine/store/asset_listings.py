"""Read-only asset listings for ``/api/v2/assets…``: Airflow's filters and orderings over
the rows of ``leoflow.engine.store.assets``, always scoped to one tenant.

``assets.py`` holds what the scheduler and the services need (one asset, the queue of one
consumer); the API needs pages with several sort keys, pattern filters, and batch lookups
that build a page of responses in a few queries (references, aliases, last events, the runs
an event started). Nothing here writes except ``delete_queued``; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page
from leoflow.engine.store.listings import Range, _ordering, matches
from leoflow.engine.store.rows import AssetAliasRow, AssetEventRow, AssetRow, DagRunRow, Page
from leoflow.engine.store.tables import (
    asset,
    asset_alias,
    asset_alias_asset,
    asset_event,
    asset_queue,
    asset_state,
    asset_watcher,
    dag,
    dag_asset_ref,
    dag_run,
    dag_run_asset_event,
)

ASSET_ORDER = {"id": asset.c.id, "name": asset.c.name, "uri": asset.c.uri,
               "created_at": asset.c.created_at, "updated_at": asset.c.updated_at}
ALIAS_ORDER = {"id": asset_alias.c.id, "name": asset_alias.c.name}
EVENT_ORDER = {"source_task_id": asset_event.c.source_task_id,
               "source_dag_id": asset_event.c.source_dag_id,
               "source_run_id": asset_event.c.source_run_id,
               "source_map_index": asset_event.c.source_map_index,
               "timestamp": asset_event.c.timestamp,
               "id": asset_event.c.id}


@dataclass(frozen=True)
class AssetReference:
    """A current, non-stale DAG naming an asset: ``kind`` schedule, outlet or inlet.
    References carry no dates of their own; the DAG's row gives them."""

    asset_id: int
    dag_id: str
    kind: str
    task_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class QueuedAsset:
    """Airflow's ``asset_dag_run_queue`` row: one per (consumer DAG, asset), created when
    the first of its waiting events was queued."""

    dag_id: str
    asset_id: int
    created_at: datetime


@dataclass(frozen=True)
class LinkedRun:
    """A run an event is linked to, and whether it is that run's most recent event."""

    run: DagRunRow
    triggering: bool


def _pattern(column: Any, value: str) -> ColumnElement[bool]:
    """Airflow's ``*_pattern``: substring, ``%``/``_`` wildcards, ``|`` separates
    alternatives, ``~`` alone is everything."""
    terms = [t.strip() for t in value.split("|") if t.strip()] if "|" in value else [value]
    return or_(*(matches(column, "%" if t == "~" else t) for t in terms))


def _prefix(column: Any, value: str) -> ColumnElement[bool]:
    return column.startswith(value, autoescape=True)


def _referenced() -> Select[Any]:
    """``dag_asset_ref`` of DAGs that are present (not stale)."""
    return (select(dag_asset_ref.c.asset_id)
            .join(dag, dag.c.dag_id == dag_asset_ref.c.dag_id)
            .where(dag.c.is_stale.is_(False), dag_asset_ref.c.asset_id.is_not(None)))


async def search_assets(conn: AsyncConnection, *, tenant: str, name_pattern: str | None = None,
                        name_prefix: str | None = None, uri_pattern: str | None = None,
                        uri_prefix: str | None = None, dag_ids: Collection[str] | None = None,
                        only_active: bool = True, order: Sequence[str] = ("id",),
                        limit: int | None = None, offset: int = 0) -> Page[AssetRow]:
    """A page of the tenant's assets. ``only_active``: named by a present DAG's current
    version (Airflow's ``AssetActive``); ``dag_ids``: scheduling, producing or consuming
    DAGs. Raises ``listings.UnknownOrderField`` for an unknown ``order`` name."""
    query = select(asset).where(asset.c.tenant == tenant)
    for column, pattern, prefix in ((asset.c.name, name_pattern, name_prefix),
                                    (asset.c.uri, uri_pattern, uri_prefix)):
        if pattern is not None:
            query = query.where(_pattern(column, pattern))
        if prefix is not None:
            query = query.where(_prefix(column, prefix))
    if only_active:
        query = query.where(asset.c.id.in_(_referenced()))
    if dag_ids is not None:
        query = query.where(asset.c.id.in_(
            _referenced().where(dag_asset_ref.c.dag_id.in_(list(dag_ids)))))
    clauses = _ordering(list(order), ASSET_ORDER, (asset.c.id,))
    return await fetch_page(conn, query, AssetRow, order=clauses, limit=limit, offset=offset)


async def search_aliases(conn: AsyncConnection, *, tenant: str, name_pattern: str | None = None,
                         name_prefix: str | None = None, order: Sequence[str] = ("id",),
                         limit: int | None = None, offset: int = 0) -> Page[AssetAliasRow]:
    query = select(asset_alias).where(asset_alias.c.tenant == tenant)
    if name_pattern is not None:
        query = query.where(_pattern(asset_alias.c.name, name_pattern))
    if name_prefix is not None:
        query = query.where(_prefix(asset_alias.c.name, name_prefix))
    clauses = _ordering(list(order), ALIAS_ORDER, (asset_alias.c.id,))
    return await fetch_page(conn, query, AssetAliasRow, order=clauses, limit=limit,
                            offset=offset)


async def search_events(conn: AsyncConnection, *, tenant: str, asset_id: int | None = None,
                        source_dag_id: str | None = None, source_task_id: str | None = None,
                        source_run_id: str | None = None, source_map_index: int | None = None,
                        name_pattern: str | None = None, name_prefix: str | None = None,
                        timestamp: Range | None = None, order: Sequence[str] = ("timestamp",),
                        limit: int | None = None, offset: int = 0) -> Page[AssetEventRow]:
    """A page of the tenant's asset events with Airflow's filters (a ``source_map_index``
    of -1 also matches events stored without one: the API's and watchers')."""
    query = (select(*asset_event.c, asset.c.name.label("asset_name"),
                    asset.c.uri.label("asset_uri"), asset.c.group.label("asset_group"),
                    asset.c.extra.label("asset_extra"))
             .join(asset, asset.c.id == asset_event.c.asset_id)
             .where(asset.c.tenant == tenant))
    for column, value in ((asset_event.c.asset_id, asset_id),
                          (asset_event.c.source_dag_id, source_dag_id),
                          (asset_event.c.source_task_id, source_task_id),
                          (asset_event.c.source_run_id, source_run_id)):
        if value is not None:
            query = query.where(column == value)
    if source_map_index is not None:
        column = asset_event.c.source_map_index
        query = query.where(or_(column == source_map_index, column.is_(None))
                            if source_map_index == -1 else column == source_map_index)
    if name_pattern is not None:
        query = query.where(_pattern(asset.c.name, name_pattern))
    if name_prefix is not None:
        query = query.where(_prefix(asset.c.name, name_prefix))
    if timestamp is not None:
        query = query.where(*timestamp.clauses(asset_event.c.timestamp))
    clauses = _ordering(list(order), EVENT_ORDER, (asset_event.c.id,))
    return await fetch_page(conn, query, AssetEventRow, order=clauses, limit=limit,
                            offset=offset)


async def references(conn: AsyncConnection, asset_ids: Iterable[int]) -> list[AssetReference]:
    """The present DAGs' direct references to these assets, by DAG and task."""
    ids = sorted(set(asset_ids))
    if not ids:
        return []
    rows = await conn.execute(
        select(dag_asset_ref.c.asset_id, dag_asset_ref.c.dag_id, dag_asset_ref.c.kind,
               dag_asset_ref.c.task_id, dag.c.created_at, dag.c.updated_at)
        .join(dag, dag.c.dag_id == dag_asset_ref.c.dag_id)
        .where(dag_asset_ref.c.asset_id.in_(ids), dag.c.is_stale.is_(False))
        .distinct()
        .order_by(dag_asset_ref.c.dag_id, dag_asset_ref.c.task_id))
    return [AssetReference(asset_id=r.asset_id, dag_id=r.dag_id, kind=r.kind,
                           task_id=r.task_id, created_at=r.created_at,
                           updated_at=r.updated_at) for r in rows]


async def aliases_of(conn: AsyncConnection,
                     asset_ids: Iterable[int]) -> dict[int, list[AssetAliasRow]]:
    """Per asset, the aliases that resolved to it."""
    ids = sorted(set(asset_ids))
    found: dict[int, list[AssetAliasRow]] = {i: [] for i in ids}
    if ids:
        rows = await conn.execute(
            select(asset_alias_asset.c.asset_id, *asset_alias.c)
            .join(asset_alias, asset_alias.c.id == asset_alias_asset.c.alias_id)
            .where(asset_alias_asset.c.asset_id.in_(ids)).order_by(asset_alias.c.id))
        for r in rows:
            found[r.asset_id].append(AssetAliasRow(id=r.id, tenant=r.tenant, name=r.name,
                                                   group=r.group))
    return found


async def watchers_of(conn: AsyncConnection,
                      asset_ids: Iterable[int]) -> dict[int, list[tuple[str, datetime]]]:
    """Per asset, its watchers' names and when their DAG was last registered."""
    ids = sorted(set(asset_ids))
    found: dict[int, list[tuple[str, datetime]]] = {i: [] for i in ids}
    if ids:
        rows = await conn.execute(
            select(asset_watcher.c.asset_id, asset_watcher.c.name, dag.c.updated_at)
            .join(dag, dag.c.dag_id == asset_watcher.c.dag_id)
            .where(asset_watcher.c.asset_id.in_(ids), dag.c.is_stale.is_(False))
            .order_by(asset_watcher.c.name))
        for r in rows:
            found[r.asset_id].append((r.name, r.updated_at))
    return found


async def last_events(conn: AsyncConnection,
                      asset_ids: Iterable[int]) -> dict[int, tuple[int, datetime]]:
    """Per asset with events, (id, timestamp) of its latest event (latest timestamp, then
    highest id), as Airflow's ``last_asset_event``."""
    ids = sorted(set(asset_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        select(asset_event.c.asset_id, asset_event.c.id, asset_event.c.timestamp)
        .where(asset_event.c.asset_id.in_(ids))
        .order_by(asset_event.c.asset_id, asset_event.c.timestamp, asset_event.c.id))
    found: dict[int, tuple[int, datetime]] = {}
    for r in rows:  # ascending: the last row per asset wins
        found[r.asset_id] = (r.id, r.timestamp)
    return found


async def linked_runs(conn: AsyncConnection,
                      event_ids: Iterable[int]) -> dict[int, list[LinkedRun]]:
    """Per event, the runs it was consumed by (``created_dagruns``), each flagged
    ``triggering`` when the event is that run's most recent one."""
    ids = sorted(set(event_ids))
    found: dict[int, list[LinkedRun]] = {i: [] for i in ids}
    if not ids:
        return found
    links = (await conn.execute(select(dag_run_asset_event).where(
        dag_run_asset_event.c.event_id.in_(ids)))).all()
    run_ids = sorted({link.dag_run_id for link in links})
    if not run_ids:
        return found
    runs = {r.id: DagRunRow(**r._mapping) for r in await conn.execute(
        select(dag_run).where(dag_run.c.id.in_(run_ids)))}
    latest: dict[int, int] = {}
    consumed = await conn.execute(
        select(dag_run_asset_event.c.dag_run_id, asset_event.c.id)
        .join(asset_event, asset_event.c.id == dag_run_asset_event.c.event_id)
        .where(dag_run_asset_event.c.dag_run_id.in_(run_ids))
        .order_by(asset_event.c.timestamp, asset_event.c.id))
    for r in consumed:  # ascending: the last event per run wins
        latest[r.dag_run_id] = r.id
    for link in sorted(links, key=lambda x: x.dag_run_id):
        run = runs.get(link.dag_run_id)
        if run is not None:
            found[link.event_id].append(
                LinkedRun(run=run, triggering=latest.get(run.id) == link.event_id))
    return found


def _queue_filter(*, tenant: str, dag_id: str | None, asset_id: int | None,
                  before: datetime | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [asset_queue.c.tenant == tenant]
    if dag_id is not None:
        clauses.append(asset_queue.c.dag_id == dag_id)
    if asset_id is not None:
        clauses.append(asset_queue.c.asset_id == asset_id)
    if before is not None:
        clauses.append(asset_queue.c.created_at < before)
    return clauses


async def queued(conn: AsyncConnection, *, tenant: str, dag_id: str | None = None,
                 asset_id: int | None = None,
                 before: datetime | None = None) -> list[QueuedAsset]:
    """Queued events as Airflow lists them: one per (consumer, asset), first queued first;
    ``before`` is exclusive, as Airflow's."""
    rows = await conn.execute(
        select(asset_queue.c.dag_id, asset_queue.c.asset_id,
               func.min(asset_queue.c.created_at).label("created_at"))
        .where(*_queue_filter(tenant=tenant, dag_id=dag_id, asset_id=asset_id, before=before))
        .group_by(asset_queue.c.dag_id, asset_queue.c.asset_id)
        .order_by(func.min(asset_queue.c.created_at), asset_queue.c.dag_id,
                  asset_queue.c.asset_id))
    return [QueuedAsset(dag_id=r.dag_id, asset_id=r.asset_id, created_at=r.created_at)
            for r in rows]


async def delete_queued(conn: AsyncConnection, *, tenant: str, dag_id: str | None = None,
                        asset_id: int | None = None, before: datetime | None = None) -> int:
    """Delete the queued events matching the filters; how many (consumer, asset) pairs lost
    theirs (Airflow's row count)."""
    pairs = await queued(conn, tenant=tenant, dag_id=dag_id, asset_id=asset_id, before=before)
    if pairs:
        await conn.execute(delete(asset_queue).where(
            *_queue_filter(tenant=tenant, dag_id=dag_id, asset_id=asset_id, before=before)))
    return len(pairs)


async def producing_dags(conn: AsyncConnection, *, tenant: str, asset_id: int,
                         limit: int = 2) -> list[str]:
    """Present DAGs of the tenant with a task whose outlet is this asset (at most
    ``limit``: materializing needs to know whether there is exactly one)."""
    rows = await conn.execute(
        select(dag_asset_ref.c.dag_id)
        .join(dag, dag.c.dag_id == dag_asset_ref.c.dag_id)
        .where(dag_asset_ref.c.tenant == tenant, dag_asset_ref.c.kind == "outlet",
               dag_asset_ref.c.asset_id == asset_id, dag.c.is_stale.is_(False))
        .group_by(dag_asset_ref.c.dag_id).order_by(dag_asset_ref.c.dag_id).limit(limit))
    return [r.dag_id for r in rows]


async def asset_ids_by_name(conn: AsyncConnection, *, tenant: str,
                            names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = await conn.execute(select(asset.c.name, asset.c.id).where(
        asset.c.tenant == tenant, asset.c.name.in_(wanted)))
    return {r.name: r.id for r in rows}


async def asset_exists(conn: AsyncConnection, *, tenant: str, asset_id: int) -> bool:
    return bool((await conn.execute(select(exists().where(
        asset.c.id == asset_id, asset.c.tenant == tenant)))).scalar())


@dataclass(frozen=True)
class StateEntry:
    """One key of an asset's state store, with the time it was last written."""

    key: str
    value: Any
    updated_at: datetime


async def state_entries(conn: AsyncConnection, *, asset_id: int, key: str | None = None,
                        limit: int | None = None, offset: int = 0) -> Page[StateEntry]:
    """An asset's state store by key (``key``: that key only), one page and the total."""
    query = select(asset_state.c.key, asset_state.c.value, asset_state.c.updated_at).where(
        asset_state.c.asset_id == asset_id)
    if key is not None:
        query = query.where(asset_state.c.key == key)
    return await fetch_page(conn, query, StateEntry, order=[asset_state.c.key.asc()],
                            limit=limit, offset=offset)
