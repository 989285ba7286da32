"""What the asset faces (``/api/v2/assets…``, the IDE) ask about assets, and the three
writes they make: post an event, forget queued events, materialize an asset.

Reads take the caller's connection and return domain objects (an asset with the DAGs that
name it, an event with the runs it was consumed by); writes open their own transaction and
wake the scheduler afterwards, as ``Operations`` does. Every function is scoped to one
tenant: another tenant's asset is reported exactly as an absent one. Errors carry Airflow's
messages and statuses (``ServiceError.status``), so the API only passes them on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.services.operations import Operations
from leoflow.engine.store import asset_listings, assets
from leoflow.engine.store.asset_listings import AssetReference, LinkedRun, QueuedAsset
from leoflow.engine.store.listings import Range
from leoflow.engine.store.rows import AssetAliasRow, AssetEventRow, AssetRow, DagRunRow


class AssetNotFound(ServiceError):
    status = 404

    def __init__(self, asset_id: int, message: str | None = None) -> None:
        super().__init__(message or f"The Asset with ID: `{asset_id}` was not found")


class AliasNotFound(ServiceError):
    status = 404

    def __init__(self, alias_id: int) -> None:
        super().__init__(f"The Asset Alias with ID: `{alias_id}` was not found")


class QueuedEventNotFound(ServiceError):
    status = 404


class NoProducer(ServiceError):
    """Materializing an asset no DAG produces (404) or several DAGs produce (409)."""

    status = 404


class SeveralProducers(ServiceError):
    status = 409


@dataclass(frozen=True)
class AssetDetail:
    """An asset as its pages show it: who schedules on, produces and reads it, the aliases
    that resolved to it, its watchers and its latest event."""

    asset: AssetRow
    references: tuple[AssetReference, ...] = ()
    aliases: tuple[AssetAliasRow, ...] = ()
    watchers: tuple[tuple[str, datetime], ...] = ()
    last_event: tuple[int, datetime] | None = None

    def of_kind(self, kind: str) -> list[AssetReference]:
        return [r for r in self.references if r.kind == kind]


@dataclass(frozen=True)
class EventDetail:
    """An event with the runs it was consumed by (Airflow's ``created_dagruns``)."""

    event: AssetEventRow
    runs: tuple[LinkedRun, ...] = field(default_factory=tuple)


# -- assets and aliases ---------------------------------------------------------------------

async def _details(conn: AsyncConnection, rows: Sequence[AssetRow]) -> list[AssetDetail]:
    ids = [r.id for r in rows]
    refs = await asset_listings.references(conn, ids)
    aliases = await asset_listings.aliases_of(conn, ids)
    watchers = await asset_listings.watchers_of(conn, ids)
    last = await asset_listings.last_events(conn, ids)
    return [AssetDetail(asset=r, references=tuple(x for x in refs if x.asset_id == r.id),
                        aliases=tuple(aliases.get(r.id, ())),
                        watchers=tuple(watchers.get(r.id, ())), last_event=last.get(r.id))
            for r in rows]


async def list_assets(conn: AsyncConnection, *, tenant: str, name_pattern: str | None = None,
                      name_prefix: str | None = None, uri_pattern: str | None = None,
                      uri_prefix: str | None = None, dag_ids: Collection[str] | None = None,
                      only_active: bool = True, order: Sequence[str] = ("id",),
                      limit: int | None = None, offset: int = 0
                      ) -> tuple[list[AssetDetail], int]:
    """One page of the tenant's assets with their details, and the total. Raises
    ``listings.UnknownOrderField`` for an unknown ``order`` name."""
    page = await asset_listings.search_assets(
        conn, tenant=tenant, name_pattern=name_pattern, name_prefix=name_prefix,
        uri_pattern=uri_pattern, uri_prefix=uri_prefix, dag_ids=dag_ids,
        only_active=only_active, order=order, limit=limit, offset=offset)
    return await _details(conn, page.items), page.total


async def get_asset(conn: AsyncConnection, *, tenant: str, asset_id: int) -> AssetDetail:
    row = await assets.get_asset(conn, asset_id, tenant=tenant)
    if row is None:
        raise AssetNotFound(asset_id)
    return (await _details(conn, [row]))[0]


async def list_aliases(conn: AsyncConnection, *, tenant: str, name_pattern: str | None = None,
                       name_prefix: str | None = None, order: Sequence[str] = ("id",),
                       limit: int | None = None, offset: int = 0
                       ) -> tuple[list[AssetAliasRow], int]:
    page = await asset_listings.search_aliases(conn, tenant=tenant, name_pattern=name_pattern,
                                               name_prefix=name_prefix, order=order,
                                               limit=limit, offset=offset)
    return list(page.items), page.total


async def get_alias(conn: AsyncConnection, *, tenant: str, alias_id: int) -> AssetAliasRow:
    row = await assets.get_alias(conn, alias_id, tenant=tenant)
    if row is None:
        raise AliasNotFound(alias_id)
    return row


async def expression_with_ids(conn: AsyncConnection, *, tenant: str,
                              condition: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A schedule's asset condition as Airflow's ``asset_expression`` (its DAG details):
    the same tree, each ``{"asset": ...}`` leaf with its asset's ``id`` added."""
    if not condition:
        return None
    names: set[str] = set()

    def collect(node: Mapping[str, Any]) -> None:
        if "asset" in node:
            names.add(node["asset"].get("name", ""))
        for key in ("all", "any"):
            for child in node.get(key, ()):
                collect(child)

    collect(condition)
    ids = await asset_listings.asset_ids_by_name(conn, tenant=tenant, names=names)

    def expand(node: Mapping[str, Any]) -> dict[str, Any]:
        if "asset" in node:
            leaf = {k: node["asset"].get(k) for k in ("uri", "name", "group")}
            if leaf["name"] in ids:
                leaf["id"] = ids[leaf["name"]]
            return {"asset": leaf}
        for key in ("all", "any"):
            if key in node:
                return {key: [expand(child) for child in node[key]]}
        return {k: _plain(v) for k, v in node.items()}

    return expand(condition)


def _plain(value: Any) -> Any:
    """A frozen spec value (``MappingProxyType``, tuples) as plain JSON data."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- events ---------------------------------------------------------------------------------

async def _with_runs(conn: AsyncConnection, rows: Sequence[AssetEventRow]) -> list[EventDetail]:
    linked = await asset_listings.linked_runs(conn, (r.id for r in rows))
    return [EventDetail(event=r, runs=tuple(linked.get(r.id, ()))) for r in rows]


async def list_events(conn: AsyncConnection, *, tenant: str, asset_id: int | None = None,
                      source_dag_id: str | None = None, source_task_id: str | None = None,
                      source_run_id: str | None = None, source_map_index: int | None = None,
                      name_pattern: str | None = None, name_prefix: str | None = None,
                      timestamp: Range | None = None, order: Sequence[str] = ("timestamp",),
                      limit: int | None = None, offset: int = 0
                      ) -> tuple[list[EventDetail], int]:
    page = await asset_listings.search_events(
        conn, tenant=tenant, asset_id=asset_id, source_dag_id=source_dag_id,
        source_task_id=source_task_id, source_run_id=source_run_id,
        source_map_index=source_map_index, name_pattern=name_pattern, name_prefix=name_prefix,
        timestamp=timestamp, order=order, limit=limit, offset=offset)
    return await _with_runs(conn, page.items), page.total


async def upstream_events(conn: AsyncConnection, run: DagRunRow) -> list[EventDetail]:
    """The events a run consumed (those that started an asset-triggered run)."""
    return await _with_runs(conn, await assets.run_events(conn, run.id))


async def post_event(ops: Operations, *, tenant: str, asset_id: int,
                     extra: Mapping[str, Any], partition_key: str | None = None
                     ) -> EventDetail:
    """``POST /assets/events``: one event on the tenant's asset, in one transaction with the
    consumer runs it completes (``services.assets.create_event``); those runs are woken."""
    from leoflow.engine.services.assets import create_event

    now = ops.clock.now()
    async with ops.store.begin() as conn:
        if not await asset_listings.asset_exists(conn, tenant=tenant, asset_id=asset_id):
            raise AssetNotFound(asset_id, f"Asset with ID: `{asset_id}` was not found")
        event, run_ids = await create_event(conn, tenant=tenant, asset_id=asset_id,
                                            extra=dict(extra), now=now,
                                            partition_key=partition_key)
    for run_id in run_ids:
        ops.scheduler.wake_run(run_id)
    async with ops.store.connect() as conn:
        return (await _with_runs(conn, [event]))[0]


# -- queued events --------------------------------------------------------------------------

async def queued_events(conn: AsyncConnection, *, tenant: str, dag_id: str | None = None,
                        asset_id: int | None = None,
                        before: datetime | None = None) -> list[QueuedAsset]:
    return await asset_listings.queued(conn, tenant=tenant, dag_id=dag_id, asset_id=asset_id,
                                       before=before)


async def delete_queued_events(ops: Operations, *, tenant: str, dag_id: str | None = None,
                               asset_id: int | None = None, before: datetime | None = None,
                               user: str | None = None) -> int:
    """Forget queued events (a consumer stops waiting on them); raises Airflow's 404 when
    none matched."""
    from leoflow.engine.store import audit

    async with ops.store.begin() as conn:
        count = await asset_listings.delete_queued(conn, tenant=tenant, dag_id=dag_id,
                                                   asset_id=asset_id, before=before)
        if count:
            await audit.record_event(conn, "delete_queued_asset_events", username=user,
                                     dag_id=dag_id, occurred_at=ops.clock.now(),
                                     extra={"asset_id": asset_id} if asset_id else None)
    if not count:
        if dag_id is not None and asset_id is not None:
            message = (f"Queued event with dag_id: `{dag_id}` and asset_id: `{asset_id}` "
                       "was not found")
        elif dag_id is not None:
            message = f"Queue event with dag_id: `{dag_id}` was not found"
        else:
            message = f"Queue event with asset_id: `{asset_id}` was not found"
        raise QueuedEventNotFound(message)
    if dag_id is not None:
        ops.scheduler.wake_dag(dag_id)
    return count


# -- materialize ----------------------------------------------------------------------------

async def producing_dag(conn: AsyncConnection, *, tenant: str, asset_id: int) -> str:
    """The one DAG with a task producing the asset (Airflow's materialize rule: none is 404,
    several is 409)."""
    found = await asset_listings.producing_dags(conn, tenant=tenant, asset_id=asset_id)
    if not found:
        raise NoProducer(f"No Dag materializes asset with ID: {asset_id}")
    if len(found) > 1:
        raise SeveralProducers(f"More than one Dag materializes asset with ID: {asset_id}")
    return found[0]


async def materialize(ops: Operations, *, dag_id: str, conf: Mapping[str, Any] | None,
                      logical_date: datetime | None, run_id: str | None, note: str | None,
                      partition_key: str | None, user: str | None) -> DagRunRow:
    """A run of the asset's producing DAG, of type ``asset_materialization``, triggered
    through the REST API (a paused DAG's run waits queued, as a triggered one)."""
    return await ops.trigger_run(
        dag_id, conf=dict(conf) if conf is not None else {}, logical_date=logical_date,
        run_id=run_id, note=note, user=user, triggered_by="rest_api", allow_paused=True,
        run_type=DagRunType.ASSET_MATERIALIZATION, partition_key=partition_key)


# -- the asset state store ------------------------------------------------------------------

STATE_KEY_LEN = 512  # the asset_state.key column
MAX_STATE_VALUE_BYTES = 65535  # Airflow's [state_store] max_value_storage_bytes


class StateNotFound(ServiceError):
    status = 404


class StateValueRefused(ServiceError):
    status = 422


async def _state_asset(conn: AsyncConnection, tenant: str, asset_id: int) -> int:
    if not await asset_listings.asset_exists(conn, tenant=tenant, asset_id=asset_id):
        raise AssetNotFound(asset_id, f"Asset with id {asset_id!r} not found")
    return asset_id


def _check_key(key: str) -> None:
    if not key or len(key) > STATE_KEY_LEN:
        raise ServiceError(f"a state store key has 1 to {STATE_KEY_LEN} characters, got "
                           f"{len(key)}", field="key")


async def list_state(conn: AsyncConnection, *, tenant: str, asset_id: int,
                     limit: int | None = None, offset: int = 0
                     ) -> tuple[list[asset_listings.StateEntry], int]:
    await _state_asset(conn, tenant, asset_id)
    page = await asset_listings.state_entries(conn, asset_id=asset_id, limit=limit,
                                              offset=offset)
    return list(page.items), page.total


async def get_state(conn: AsyncConnection, *, tenant: str, asset_id: int,
                    key: str) -> asset_listings.StateEntry:
    await _state_asset(conn, tenant, asset_id)
    page = await asset_listings.state_entries(conn, asset_id=asset_id, key=key)
    if not page.items:
        raise StateNotFound(f"Asset state store key {key!r} not found")
    return page.items[0]


async def set_state(ops: Operations, *, tenant: str, asset_id: int, key: str,
                    value: Any) -> None:
    """Create or overwrite a key (``None`` cannot be stored, as in Airflow; values above
    64 KiB of JSON are refused, Airflow's default ``max_value_storage_bytes``)."""
    import json

    _check_key(key)
    if value is None:
        raise StateValueRefused("value cannot be null", field="value")
    if len(json.dumps(value, allow_nan=False)) > MAX_STATE_VALUE_BYTES:
        raise StateValueRefused(f"value exceeds max_value_storage_bytes "
                                f"({MAX_STATE_VALUE_BYTES})", field="value")
    async with ops.store.begin() as conn:
        await _state_asset(conn, tenant, asset_id)
        await assets.set_state(conn, asset_id, key, value, now=ops.clock.now())


async def delete_state(ops: Operations, *, tenant: str, asset_id: int,
                       key: str | None) -> None:
    """Delete one key (no-op when absent, as Airflow), or every key with ``key=None``."""
    async with ops.store.begin() as conn:
        await _state_asset(conn, tenant, asset_id)
        if key is None:
            await assets.clear_state(conn, asset_id)
        else:
            await assets.delete_state(conn, asset_id, key)
