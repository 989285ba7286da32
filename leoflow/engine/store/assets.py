"""Assets, aliases, asset events, the consumers' queue, DAG references, state and watchers.

The rows behind Airflow 3's data-aware scheduling (docs/assets.md). Every asset and alias
belongs to one tenant: names are unique per tenant, and nothing here crosses tenants unless
a caller passes ``tenant=None`` on purpose (an administrator's listing). The rules (who
consumes an event, when a condition is met) live in ``leoflow.engine.services.assets``;
this module only reads and writes rows. Nothing here commits: the caller owns the
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import inserted_id, order_by, upsert, written
from leoflow.engine.store.rows import AssetAliasRow, AssetEventRow, AssetRow
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
    dag_run_asset_event,
)
from leoflow.engine.store.types import utcnow

REF_KINDS = ("schedule", "outlet", "inlet")
ASSET_ORDER_FIELDS = ("id", "name", "uri", "group", "created_at", "updated_at")


@dataclass(frozen=True)
class DagAssetRef:
    """One line of ``dag_asset_ref``: a DAG consumes (``schedule``), produces (``outlet``)
    or reads (``inlet``) an asset, an alias or an ``Asset.ref`` by name or uri."""

    dag_id: str
    kind: str
    asset_id: int | None = None
    alias_id: int | None = None
    ref_name: str | None = None
    ref_uri: str | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class QueuedEvent:
    """An event waiting for a consumer's condition (a row of ``asset_queue``)."""

    dag_id: str
    event_id: int
    asset_id: int
    partition_key: str | None
    created_at: datetime


@dataclass(frozen=True)
class WatcherRow:
    asset_id: int
    dag_id: str
    name: str
    trigger: dict[str, Any]


# -- assets and aliases ---------------------------------------------------------------------

async def upsert_asset(conn: AsyncConnection, *, tenant: str, name: str, uri: str,
                       group: str = "asset", extra: Mapping[str, Any] | None = None,
                       now: datetime | None = None) -> AssetRow:
    """Create the asset, or refresh the uri/group/extra of an existing one (the DAG version
    registered last describes it, as Airflow's DAG processor does)."""
    now = now or utcnow()
    stmt = upsert(conn, asset).values(tenant=tenant, name=name, uri=uri, group=group,
                                      extra=dict(extra or {}), created_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[asset.c.tenant, asset.c.name],
        set_={"uri": stmt.excluded.uri, "group": stmt.excluded.group,
              "extra": stmt.excluded.extra, "updated_at": now})
    await conn.execute(stmt)
    return written(await get_asset_by_name(conn, tenant=tenant, name=name),
                   f"asset {name!r} of tenant {tenant!r}")


async def get_asset(conn: AsyncConnection, asset_id: int,
                    *, tenant: str | None = None) -> AssetRow | None:
    """An asset by id (``tenant``: only if it belongs to that tenant), or ``None``."""
    query = select(asset).where(asset.c.id == asset_id)
    if tenant is not None:
        query = query.where(asset.c.tenant == tenant)
    row = (await conn.execute(query)).first()
    return AssetRow(**row._mapping) if row else None


async def get_asset_by_name(conn: AsyncConnection, *, tenant: str, name: str) -> AssetRow | None:
    row = (await conn.execute(
        select(asset).where(asset.c.tenant == tenant, asset.c.name == name))).first()
    return AssetRow(**row._mapping) if row else None


async def get_assets_by_uri(conn: AsyncConnection, *, tenant: str, uri: str) -> list[AssetRow]:
    """Assets with this uri (several names may share one uri), oldest first."""
    rows = await conn.execute(select(asset).where(asset.c.tenant == tenant, asset.c.uri == uri)
                              .order_by(asset.c.id))
    return [AssetRow(**r._mapping) for r in rows]


async def list_assets(conn: AsyncConnection, *, tenant: str | None,
                      ids: Iterable[int] | None = None, name_pattern: str | None = None,
                      uri_pattern: str | None = None, limit: int | None = None,
                      offset: int = 0, order: str = "id") -> tuple[list[AssetRow], int]:
    """A page of assets with the total count; patterns are case-insensitive substrings,
    ``order`` one of ``ASSET_ORDER_FIELDS``, ``-`` prefixed for descending."""
    query = select(asset)
    if tenant is not None:
        query = query.where(asset.c.tenant == tenant)
    if ids is not None:
        query = query.where(asset.c.id.in_(list(ids)))
    if name_pattern:
        query = query.where(func.lower(asset.c.name).contains(name_pattern.lower()))
    if uri_pattern:
        query = query.where(func.lower(asset.c.uri).contains(uri_pattern.lower()))
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    query = query.order_by(*order_by(asset, order, ASSET_ORDER_FIELDS, ("id",)))
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [AssetRow(**r._mapping) for r in await conn.execute(query)], int(total)


async def upsert_alias(conn: AsyncConnection, *, tenant: str, name: str,
                       group: str = "") -> AssetAliasRow:
    stmt = upsert(conn, asset_alias).values(tenant=tenant, name=name, group=group)
    stmt = stmt.on_conflict_do_update(index_elements=[asset_alias.c.tenant, asset_alias.c.name],
                                      set_={"group": stmt.excluded.group})
    await conn.execute(stmt)
    return written(await get_alias_by_name(conn, tenant=tenant, name=name),
                   f"asset alias {name!r} of tenant {tenant!r}")


async def get_alias(conn: AsyncConnection, alias_id: int,
                    *, tenant: str | None = None) -> AssetAliasRow | None:
    query = select(asset_alias).where(asset_alias.c.id == alias_id)
    if tenant is not None:
        query = query.where(asset_alias.c.tenant == tenant)
    row = (await conn.execute(query)).first()
    return AssetAliasRow(**row._mapping) if row else None


async def get_alias_by_name(conn: AsyncConnection, *, tenant: str,
                            name: str) -> AssetAliasRow | None:
    row = (await conn.execute(select(asset_alias).where(
        asset_alias.c.tenant == tenant, asset_alias.c.name == name))).first()
    return AssetAliasRow(**row._mapping) if row else None


async def list_aliases(conn: AsyncConnection, *, tenant: str | None,
                       name_pattern: str | None = None, limit: int | None = None,
                       offset: int = 0) -> tuple[list[AssetAliasRow], int]:
    query = select(asset_alias)
    if tenant is not None:
        query = query.where(asset_alias.c.tenant == tenant)
    if name_pattern:
        query = query.where(func.lower(asset_alias.c.name).contains(name_pattern.lower()))
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    query = query.order_by(asset_alias.c.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [AssetAliasRow(**r._mapping) for r in await conn.execute(query)], int(total)


async def link_alias(conn: AsyncConnection, *, alias_id: int, asset_id: int) -> None:
    """Record that ``alias_id`` resolved to ``asset_id`` (idempotent)."""
    stmt = upsert(conn, asset_alias_asset).values(alias_id=alias_id, asset_id=asset_id)
    await conn.execute(stmt.on_conflict_do_nothing())


async def alias_asset_ids(conn: AsyncConnection, alias_ids: Iterable[int]) -> dict[int, set[int]]:
    """Per alias, the assets it has resolved to so far."""
    ids = list(alias_ids)
    found: dict[int, set[int]] = {a: set() for a in ids}
    if not ids:
        return found
    rows = await conn.execute(select(asset_alias_asset).where(
        asset_alias_asset.c.alias_id.in_(ids)))
    for r in rows:
        found[r.alias_id].add(r.asset_id)
    return found


async def aliases_of_asset(conn: AsyncConnection, asset_id: int) -> list[int]:
    rows = await conn.execute(select(asset_alias_asset.c.alias_id).where(
        asset_alias_asset.c.asset_id == asset_id))
    return [r.alias_id for r in rows]


# -- events ---------------------------------------------------------------------------------

_EVENT_COLUMNS = (
    *asset_event.c,
    asset.c.name.label("asset_name"),
    asset.c.uri.label("asset_uri"),
    asset.c.group.label("asset_group"),
    asset.c.extra.label("asset_extra"),
)


def _events() -> Select[Any]:
    return select(*_EVENT_COLUMNS).join(asset, asset.c.id == asset_event.c.asset_id)


async def insert_event(conn: AsyncConnection, *, asset_id: int,
                       extra: Mapping[str, Any] | None = None, source_dag_id: str | None = None,
                       source_run_id: str | None = None, source_task_id: str | None = None,
                       source_map_index: int | None = None, source_alias: str | None = None,
                       partition_key: str | None = None,
                       timestamp: datetime | None = None) -> int:
    """Store one event; returns its id."""
    result = await conn.execute(asset_event.insert().values(
        asset_id=asset_id, extra=dict(extra or {}), source_dag_id=source_dag_id,
        source_run_id=source_run_id, source_task_id=source_task_id,
        source_map_index=source_map_index, source_alias=source_alias,
        partition_key=partition_key, timestamp=timestamp or utcnow()))
    return inserted_id(result, "asset_event")


async def get_event(conn: AsyncConnection, event_id: int,
                    *, tenant: str | None = None) -> AssetEventRow | None:
    query = _events().where(asset_event.c.id == event_id)
    if tenant is not None:
        query = query.where(asset.c.tenant == tenant)
    row = (await conn.execute(query)).first()
    return AssetEventRow(**row._mapping) if row else None


async def list_events(conn: AsyncConnection, *, tenant: str | None,
                      asset_ids: Iterable[int] | None = None,
                      event_ids: Iterable[int] | None = None,
                      source_dag_id: str | None = None, source_run_id: str | None = None,
                      source_task_id: str | None = None, source_map_index: int | None = None,
                      source_alias: str | None = None, partition_key: str | None = None,
                      after: datetime | None = None, before: datetime | None = None,
                      ascending: bool = True, limit: int | None = None,
                      offset: int = 0) -> tuple[list[AssetEventRow], int]:
    """A page of events (by timestamp, then id) with the total count.

    ``after``/``before`` bound the timestamp inclusively, as Airflow's ``timestamp_gte``
    and ``timestamp_lte`` filters."""
    query = _events()
    if tenant is not None:
        query = query.where(asset.c.tenant == tenant)
    if asset_ids is not None:
        query = query.where(asset_event.c.asset_id.in_(list(asset_ids)))
    if event_ids is not None:
        query = query.where(asset_event.c.id.in_(list(event_ids)))
    for column, value in ((asset_event.c.source_dag_id, source_dag_id),
                          (asset_event.c.source_run_id, source_run_id),
                          (asset_event.c.source_task_id, source_task_id),
                          (asset_event.c.source_map_index, source_map_index),
                          (asset_event.c.source_alias, source_alias),
                          (asset_event.c.partition_key, partition_key)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(asset_event.c.timestamp >= after)
    if before is not None:
        query = query.where(asset_event.c.timestamp <= before)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    if ascending:
        query = query.order_by(asset_event.c.timestamp.asc(), asset_event.c.id.asc())
    else:
        query = query.order_by(asset_event.c.timestamp.desc(), asset_event.c.id.desc())
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [AssetEventRow(**r._mapping) for r in await conn.execute(query)], int(total)


# -- which DAGs name which assets -----------------------------------------------------------

async def replace_dag_refs(conn: AsyncConnection, *, tenant: str, dag_id: str,
                           refs: Sequence[DagAssetRef]) -> None:
    """Rewrite every reference of ``dag_id`` (its current version's)."""
    await conn.execute(delete(dag_asset_ref).where(dag_asset_ref.c.dag_id == dag_id))
    if refs:
        await conn.execute(dag_asset_ref.insert(), [
            {"tenant": tenant, "dag_id": dag_id, "kind": r.kind, "asset_id": r.asset_id,
             "alias_id": r.alias_id, "ref_name": r.ref_name, "ref_uri": r.ref_uri,
             "task_id": r.task_id} for r in refs])


async def delete_dag_refs(conn: AsyncConnection, dag_id: str, *,
                          kinds: Sequence[str] | None = None) -> int:
    """Forget a DAG's references (``kinds``: only those), e.g. when it goes stale."""
    stmt = delete(dag_asset_ref).where(dag_asset_ref.c.dag_id == dag_id)
    if kinds is not None:
        stmt = stmt.where(dag_asset_ref.c.kind.in_(list(kinds)))
    return (await conn.execute(stmt)).rowcount


async def dag_refs(conn: AsyncConnection, *, dag_ids: Iterable[str] | None = None,
                   tenant: str | None = None,
                   kinds: Sequence[str] | None = None) -> list[DagAssetRef]:
    query = select(dag_asset_ref)
    if dag_ids is not None:
        query = query.where(dag_asset_ref.c.dag_id.in_(list(dag_ids)))
    if tenant is not None:
        query = query.where(dag_asset_ref.c.tenant == tenant)
    if kinds is not None:
        query = query.where(dag_asset_ref.c.kind.in_(list(kinds)))
    rows = await conn.execute(query.order_by(dag_asset_ref.c.id))
    return [DagAssetRef(dag_id=r.dag_id, kind=r.kind, asset_id=r.asset_id, alias_id=r.alias_id,
                        ref_name=r.ref_name, ref_uri=r.ref_uri, task_id=r.task_id)
            for r in rows]


def _names(row: AssetRow, alias_ids: Sequence[int]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [
        dag_asset_ref.c.asset_id == row.id,
        dag_asset_ref.c.ref_name == row.name,
        dag_asset_ref.c.ref_uri == row.uri,
    ]
    if alias_ids:
        clauses.append(dag_asset_ref.c.alias_id.in_(list(alias_ids)))
    return or_(*clauses)


async def dags_naming(conn: AsyncConnection, row: AssetRow, *, kind: str,
                      active_only: bool = False) -> list[str]:
    """The DAGs of the asset's tenant with a ``kind`` reference to it: directly, through
    an alias it resolved to, or by ``Asset.ref`` name/uri. ``active_only``: unpaused and
    not stale (Airflow queues nothing for the others)."""
    alias_ids = await aliases_of_asset(conn, row.id)
    query = (select(dag_asset_ref.c.dag_id).distinct()
             .where(dag_asset_ref.c.tenant == row.tenant, dag_asset_ref.c.kind == kind,
                    _names(row, alias_ids)))
    if active_only:
        query = query.join(dag, dag.c.dag_id == dag_asset_ref.c.dag_id).where(
            dag.c.is_paused.is_(False), dag.c.is_stale.is_(False))
    return sorted(r.dag_id for r in await conn.execute(query))


# -- the consumers' queue -------------------------------------------------------------------

async def enqueue(conn: AsyncConnection, *, tenant: str, dag_id: str, event_id: int,
                  asset_id: int, partition_key: str | None = None,
                  now: datetime | None = None) -> None:
    """Queue an event for a consumer (idempotent per (consumer, event))."""
    stmt = upsert(conn, asset_queue).values(
        tenant=tenant, dag_id=dag_id, event_id=event_id, asset_id=asset_id,
        partition_key=partition_key, created_at=now or utcnow())
    await conn.execute(stmt.on_conflict_do_nothing())


async def queued_events(conn: AsyncConnection, *, dag_ids: Iterable[str] | None = None,
                        asset_id: int | None = None, tenant: str | None = None,
                        before: datetime | None = None) -> list[QueuedEvent]:
    """Queued events, oldest first."""
    query = select(asset_queue)
    if dag_ids is not None:
        query = query.where(asset_queue.c.dag_id.in_(list(dag_ids)))
    if asset_id is not None:
        query = query.where(asset_queue.c.asset_id == asset_id)
    if tenant is not None:
        query = query.where(asset_queue.c.tenant == tenant)
    if before is not None:
        query = query.where(asset_queue.c.created_at <= before)
    rows = await conn.execute(query.order_by(asset_queue.c.created_at, asset_queue.c.event_id))
    return [QueuedEvent(dag_id=r.dag_id, event_id=r.event_id, asset_id=r.asset_id,
                        partition_key=r.partition_key, created_at=r.created_at) for r in rows]


async def dequeue(conn: AsyncConnection, *, dag_id: str | None = None,
                  asset_id: int | None = None, event_ids: Iterable[int] | None = None,
                  tenant: str | None = None, before: datetime | None = None) -> int:
    """Delete queued events matching every given filter; returns how many."""
    conditions: list[ColumnElement[bool]] = []
    if dag_id is not None:
        conditions.append(asset_queue.c.dag_id == dag_id)
    if asset_id is not None:
        conditions.append(asset_queue.c.asset_id == asset_id)
    if event_ids is not None:
        conditions.append(asset_queue.c.event_id.in_(list(event_ids)))
    if tenant is not None:
        conditions.append(asset_queue.c.tenant == tenant)
    if before is not None:
        conditions.append(asset_queue.c.created_at <= before)
    stmt = delete(asset_queue)
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return (await conn.execute(stmt)).rowcount


# -- the events that started a run ----------------------------------------------------------

async def link_run_events(conn: AsyncConnection, dag_run_id: int,
                          event_ids: Iterable[int]) -> None:
    ids = sorted(set(event_ids))
    if ids:
        await conn.execute(dag_run_asset_event.insert(),
                           [{"dag_run_id": dag_run_id, "event_id": e} for e in ids])


async def run_events(conn: AsyncConnection, dag_run_id: int) -> list[AssetEventRow]:
    """The events that started a run, by timestamp."""
    query = (_events().join(dag_run_asset_event, dag_run_asset_event.c.event_id == asset_event.c.id)
             .where(dag_run_asset_event.c.dag_run_id == dag_run_id)
             .order_by(asset_event.c.timestamp, asset_event.c.id))
    return [AssetEventRow(**r._mapping) for r in await conn.execute(query)]


async def runs_of_events(conn: AsyncConnection, event_ids: Iterable[int]) -> dict[int, list[int]]:
    """Per event, the runs it started (the API's ``created_dagruns``)."""
    ids = list(event_ids)
    found: dict[int, list[int]] = {e: [] for e in ids}
    if ids:
        rows = await conn.execute(select(dag_run_asset_event).where(
            dag_run_asset_event.c.event_id.in_(ids)).order_by(dag_run_asset_event.c.dag_run_id))
        for r in rows:
            found[r.event_id].append(r.dag_run_id)
    return found


# -- the asset state store ------------------------------------------------------------------

async def get_state(conn: AsyncConnection, asset_id: int, key: str) -> tuple[bool, Any]:
    row = (await conn.execute(select(asset_state.c.value).where(
        asset_state.c.asset_id == asset_id, asset_state.c.key == key))).first()
    return (True, row.value) if row is not None else (False, None)


async def set_state(conn: AsyncConnection, asset_id: int, key: str, value: Any, *,
                    now: datetime | None = None) -> None:
    stmt = upsert(conn, asset_state).values(asset_id=asset_id, key=key, value=value,
                                            updated_at=now or utcnow())
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[asset_state.c.asset_id, asset_state.c.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}))


async def delete_state(conn: AsyncConnection, asset_id: int, key: str) -> int:
    return (await conn.execute(delete(asset_state).where(
        asset_state.c.asset_id == asset_id, asset_state.c.key == key))).rowcount


async def clear_state(conn: AsyncConnection, asset_id: int) -> int:
    return (await conn.execute(delete(asset_state).where(
        asset_state.c.asset_id == asset_id))).rowcount


async def list_state(conn: AsyncConnection, asset_id: int) -> dict[str, Any]:
    rows = await conn.execute(select(asset_state.c.key, asset_state.c.value).where(
        asset_state.c.asset_id == asset_id).order_by(asset_state.c.key))
    return {r.key: r.value for r in rows}


# -- watchers -------------------------------------------------------------------------------

async def replace_watchers(conn: AsyncConnection, dag_id: str,
                           watchers: Sequence[WatcherRow]) -> None:
    """Rewrite the watchers a DAG's current version declares."""
    await conn.execute(delete(asset_watcher).where(asset_watcher.c.dag_id == dag_id))
    unique = {(w.asset_id, w.name): w for w in watchers}
    if unique:
        await conn.execute(asset_watcher.insert(), [
            {"asset_id": w.asset_id, "dag_id": dag_id, "name": w.name, "trigger": w.trigger}
            for w in unique.values()])


async def list_watchers(conn: AsyncConnection, *, tenant: str | None = None,
                        asset_id: int | None = None,
                        active_only: bool = True) -> list[WatcherRow]:
    """Watchers of current DAG versions (``active_only``: of unpaused, present DAGs)."""
    query = select(asset_watcher).join(asset, asset.c.id == asset_watcher.c.asset_id)
    if tenant is not None:
        query = query.where(asset.c.tenant == tenant)
    if asset_id is not None:
        query = query.where(asset_watcher.c.asset_id == asset_id)
    if active_only:
        query = query.join(dag, dag.c.dag_id == asset_watcher.c.dag_id).where(
            dag.c.is_paused.is_(False), dag.c.is_stale.is_(False))
    rows = await conn.execute(query.order_by(asset_watcher.c.asset_id, asset_watcher.c.name))
    return [WatcherRow(asset_id=r.asset_id, dag_id=r.dag_id, name=r.name, trigger=r.trigger)
            for r in rows]

