"""Assets: the rules of Airflow 3's data-aware scheduling, called by every face.

An asset event is a row written in the transaction of whatever caused it (a try's success
in the scheduler's batch, a task marked success, ``POST /api/v2/assets/events``, a
watcher). The same transaction queues it for every active consumer (unpaused, not stale:
Airflow queues nothing for the others), evaluates each consumer's condition
(``scheduler.asset_conditions``) and creates the consumer runs it completes
(``scheduler.asset_partitions``), with their triggering events linked. So there is no
polling interval, and a crash either loses the whole change or keeps all of it: an event
that was committed has its consumer runs committed with it, exactly once.

This module holds the rules that write: registering the assets a DAG version names,
emitting events, and evaluating the consumers they queue for. Every function takes the
caller's connection and never commits; ``tenant`` scopes every asset name (the DAG row's
tenant; ``"default"`` in Lite). Next to it: ``asset_references`` (what a reference names),
``asset_task_reads`` (what a running task reads: events, the state store) and
``asset_dependencies`` (who produces and consumes what, for the API and the IDE).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler import timetable
from leoflow.engine.scheduler.asset_conditions import leaf_status, leaves
from leoflow.engine.scheduler.asset_partitions import (
    is_asset_partitioned,
    mapper_refs,
    plan_runs,
)
from leoflow.engine.scheduler.states import DagRunType
from leoflow.engine.services.asset_references import (
    AssetNotFound,
    asset_identity,
    describe_ref,
    resolve_ref,
    resolver_for,
)
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import DuplicateRunError, dags, runs
from leoflow.engine.store import assets as st
from leoflow.engine.store.rows import AssetEventRow, AssetRow, DagRunRow, TaskInstanceRow
from leoflow.engine.store.tables import dag_run, dag_run_asset_event
from leoflow.errors import InvariantError

log = logging.getLogger("leoflow.assets")

SPEC_CACHE_SIZE = 128
_specs: OrderedDict[str, DagSpec] = OrderedDict()


# -- registration ---------------------------------------------------------------------------

async def register_dag_assets(conn: AsyncConnection, *, tenant: str, dag_id: str,
                              spec: DagSpec, now: datetime) -> None:
    """Upsert the assets and aliases the spec names and rewrite the DAG's references
    (schedule leaves, outlets, inlets) and watchers. Called where a version becomes
    current (``Operations.register_dag``); a DAG that goes stale calls ``forget_dag``."""
    ids: dict[str, int] = {}
    for declared in spec.assets:
        name, uri, group = asset_identity(declared)
        row = await st.upsert_asset(conn, tenant=tenant, name=name, uri=uri, group=group,
                                    extra=dict(declared.get("extra") or {}), now=now)
        ids[name] = row.id
    alias_ids: dict[str, int] = {}
    for declared in spec.asset_aliases:
        row_a = await st.upsert_alias(conn, tenant=tenant, name=declared["name"],
                                      group=str(declared.get("group") or ""))
        alias_ids[row_a.name] = row_a.id

    async def ref_of(kind: str, ref: Mapping[str, Any],
                     task_id: str | None) -> st.DagAssetRef | None:
        ((tag, body),) = ref.items()
        if tag == "asset":
            name, uri, group = asset_identity(body)
            if name not in ids:  # named only here (the compiler lists every Asset; be lenient)
                ids[name] = (await st.upsert_asset(conn, tenant=tenant, name=name, uri=uri,
                                                   group=group, now=now)).id
            return st.DagAssetRef(dag_id, kind, asset_id=ids[name], task_id=task_id)
        if tag == "alias":
            if body["name"] not in alias_ids:
                alias_ids[body["name"]] = (await st.upsert_alias(
                    conn, tenant=tenant, name=body["name"],
                    group=str(body.get("group") or ""))).id
            return st.DagAssetRef(dag_id, kind, alias_id=alias_ids[body["name"]],
                                  task_id=task_id)
        if tag == "asset_ref":
            return st.DagAssetRef(dag_id, kind, ref_name=body.get("name"),
                                  ref_uri=None if body.get("name") else body.get("uri"),
                                  task_id=task_id)
        log.warning("DAG %s: unknown asset reference %r ignored", dag_id, tag)
        return None

    refs: list[st.DagAssetRef] = []
    if spec.schedule.assets:
        for leaf in leaves(spec.schedule.assets):
            made = await ref_of("schedule", leaf, None)
            if made is not None:
                refs.append(made)
    for task in spec.tasks:
        for kind, items in (("outlet", task.outlets), ("inlet", task.inlets)):
            for ref in items:
                made = await ref_of(kind, ref, task.task_id)
                if made is not None:
                    refs.append(made)
    await st.replace_dag_refs(conn, tenant=tenant, dag_id=dag_id, refs=_unique(refs))
    watchers = [st.WatcherRow(asset_id=ids[asset_identity(a)[0]], dag_id=dag_id,
                              name=str(w.get("name") or ""), trigger=_plain(w.get("trigger")))
                for a in spec.assets for w in (a.get("watchers") or ())]
    await st.replace_watchers(conn, dag_id, watchers)
    if not spec.schedule.assets:
        await st.dequeue(conn, dag_id=dag_id)  # no longer a consumer: nothing waits for it


async def forget_dag(conn: AsyncConnection, *, dag_id: str) -> None:
    """A DAG went stale: it consumes, produces and watches nothing any more (its events and
    runs stay, as history). Registering it again restores its references."""
    await st.delete_dag_refs(conn, dag_id)
    await st.replace_watchers(conn, dag_id, [])
    await st.dequeue(conn, dag_id=dag_id)


def _unique(refs: list[st.DagAssetRef]) -> list[st.DagAssetRef]:
    return list(dict.fromkeys(refs))


def _plain(value: Any) -> Any:
    """A frozen spec value as plain JSON (mapping proxies and tuples back to dicts/lists)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- events ---------------------------------------------------------------------------------

async def record_task_success(conn: AsyncConnection, *, run: DagRunRow, ti: TaskInstanceRow,
                              task: TaskSpec, outlet_events: list[dict[str, Any]] | None,
                              now: datetime) -> list[int]:
    """Emit the asset events of a successful try and return the consumer runs they created.

    Every asset outlet emits one event (per partition key when the try added keys, else
    with the run's ``partition_key``), carrying the extra the task set through
    ``outlet_events[asset].extra`` / ``Metadata``; an ``Asset.ref`` outlet emits for the
    asset it names (nothing when unknown); an alias outlet emits one event per asset the try
    added through ``outlet_events[alias].add(asset, extra=...)``, records that the alias
    resolved to it, and creates the asset when the tenant has none by that name (as
    Airflow does). ``outlet_events`` is the runner's list (CONTRACT section 4)."""
    if not task.outlets:
        return []
    dag = await dags.get_dag(conn, run.dag_id)
    tenant = dag.tenant if dag is not None else "default"
    runtime = list(outlet_events or ())
    emitted: list[tuple[int, AssetRow, str | None]] = []

    async def emit(row: AssetRow, extra: Mapping[str, Any], keys: list[str | None],
                   alias: str | None = None) -> None:
        for key in keys:
            event_id = await st.insert_event(
                conn, asset_id=row.id, extra=extra, source_dag_id=run.dag_id,
                source_run_id=run.run_id, source_task_id=ti.task_id,
                source_map_index=ti.map_index, source_alias=alias, partition_key=key,
                timestamp=now)
            emitted.append((event_id, row, key))

    for ref in task.outlets:
        ((tag, body),) = ref.items()
        entry = _runtime_entry(runtime, ref)
        extra = dict((entry or {}).get("extra") or {})
        keys: list[str | None] = [str(k) for k in (entry or {}).get("partition_keys") or ()] \
            or [run.partition_key]
        if tag == "alias":
            alias = await st.upsert_alias(conn, tenant=tenant, name=body["name"],
                                          group=str(body.get("group") or ""))
            for added in (entry or {}).get("added") or ():
                row = await _asset_for_add(conn, tenant, added.get("asset") or {}, now)
                await st.link_alias(conn, alias_id=alias.id, asset_id=row.id)
                await emit(row, dict(added.get("extra") or {}), keys, alias=alias.name)
            continue
        found = await resolve_ref(conn, tenant=tenant, ref=ref)
        if not found and tag == "asset":
            name, uri, group = asset_identity(body)
            found = [await st.upsert_asset(conn, tenant=tenant, name=name, uri=uri,
                                           group=group, now=now)]
        if not found:
            log.warning("%s.%s: outlet %s names no known asset; no event", run.dag_id,
                        ti.task_id, describe_ref(ref))
            continue
        await emit(found[0], extra, keys)
    return await _queue_and_trigger(conn, tenant, emitted, now)


def _runtime_entry(runtime: list[dict[str, Any]], ref: Mapping[str, Any]) -> dict[str, Any] | None:
    """The runner's entry for an outlet, matched by kind and name (or uri)."""
    ((tag, body),) = ref.items()
    for entry in runtime:
        other = entry.get("ref")
        if not isinstance(other, Mapping) or len(other) != 1:
            continue
        ((otag, obody),) = other.items()
        if tag == "alias" or otag == "alias":
            if tag == otag and obody.get("name") == body.get("name"):
                return entry
            continue
        if body.get("name") and obody.get("name") == body.get("name"):
            return entry
        if not obody.get("name") and body.get("uri") and obody.get("uri") == body.get("uri"):
            return entry
    return None


async def _asset_for_add(conn: AsyncConnection, tenant: str, body: Mapping[str, Any],
                         now: datetime) -> AssetRow:
    name, uri, group = asset_identity(body)
    existing = await st.get_asset_by_name(conn, tenant=tenant, name=name)
    if existing is not None:
        return existing
    return await st.upsert_asset(conn, tenant=tenant, name=name, uri=uri, group=group,
                                 extra=dict(body.get("extra") or {}), now=now)


async def create_event(conn: AsyncConnection, *, tenant: str, asset_id: int,
                       extra: Mapping[str, Any] | None, now: datetime,
                       partition_key: str | None = None, source_dag_id: str | None = None,
                       source_run_id: str | None = None, source_task_id: str | None = None,
                       source_map_index: int | None = None
                       ) -> tuple[AssetEventRow, list[int]]:
    """An event from outside a task (``POST /api/v2/assets/events``, a watcher): stored,
    queued for the consumers and evaluated in the caller's transaction. Returns the event
    and the runs it created. ``AssetNotFound`` for an asset of another tenant or none."""
    row = await st.get_asset(conn, asset_id, tenant=tenant)
    if row is None:
        raise AssetNotFound(f"asset {asset_id}", field="asset_id")
    event_id = await st.insert_event(
        conn, asset_id=row.id, extra=dict(extra or {}), source_dag_id=source_dag_id,
        source_run_id=source_run_id, source_task_id=source_task_id,
        source_map_index=source_map_index, partition_key=partition_key, timestamp=now)
    created = await _queue_and_trigger(conn, tenant, [(event_id, row, partition_key)], now)
    event = await st.get_event(conn, event_id)
    if event is None:  # inserted by this very transaction
        raise InvariantError(f"asset event {event_id} was just stored but cannot be read back")
    return event, created


async def _queue_and_trigger(conn: AsyncConnection, tenant: str,
                             emitted: list[tuple[int, AssetRow, str | None]],
                             now: datetime) -> list[int]:
    consumers: list[str] = []
    by_asset: dict[int, list[str]] = {}
    for event_id, row, key in emitted:
        if row.id not in by_asset:
            by_asset[row.id] = await st.dags_naming(conn, row, kind="schedule",
                                                    active_only=True)
        for dag_id in by_asset[row.id]:
            await st.enqueue(conn, tenant=tenant, dag_id=dag_id, event_id=event_id,
                             asset_id=row.id, partition_key=key, now=now)
            if dag_id not in consumers:
                consumers.append(dag_id)
    created: list[int] = []
    for dag_id in consumers:
        created.extend(await evaluate_consumer(conn, dag_id=dag_id, now=now))
    return created


# -- consumers ------------------------------------------------------------------------------

async def evaluate_consumer(conn: AsyncConnection, *, dag_id: str, now: datetime) -> list[int]:
    """Create the runs ``dag_id``'s queued events make now (none while paused or stale);
    returns their ids. Also the way to re-check a consumer after an alias resolved."""
    dag = await dags.get_dag(conn, dag_id)
    if dag is None or dag.is_paused or dag.is_stale or dag.current_version_id is None:
        return []
    spec = await _spec(conn, dag.current_version_id)
    condition = spec.schedule.assets
    if not condition:
        return []
    queued = await st.queued_events(conn, dag_ids=[dag_id])
    partition = spec.schedule.partition
    refs = mapper_refs(partition)  # the mapper config may name assets the condition does not
    resolver = await resolver_for(conn, tenant=dag.tenant,
                                  condition={"any": [condition, *refs]} if refs else condition)
    fired = await _fired_keys(conn, dag_id, queued) if is_asset_partitioned(partition) else {}
    plan = plan_runs(partition, condition, queued, resolver, fired=fired)
    for problem in plan.problems:
        log.warning("DAG %s: %s", dag_id, problem)
    created: list[int] = []
    for key, event_ids in plan.runs:
        run = await _create_consumer_run(conn, dag_id, dag.current_version_id, key, now)
        await st.link_run_events(conn, run.id, event_ids)
        created.append(run.id)
    if plan.settled:
        await st.dequeue(conn, dag_id=dag_id, event_ids=plan.settled)
    return created


async def _fired_keys(conn: AsyncConnection, dag_id: str,
                      queued: Iterable[st.QueuedEvent]) -> dict[int, set[str]]:
    """For queued events that already started runs of ``dag_id`` (a fan-out event waits
    until every key it maps to has run): the keys of those runs."""
    ids = [q.event_id for q in queued]
    if not ids:
        return {}
    rows = await conn.execute(
        select(dag_run_asset_event.c.event_id, dag_run.c.partition_key)
        .join(dag_run, dag_run.c.id == dag_run_asset_event.c.dag_run_id)
        .where(dag_run.c.dag_id == dag_id, dag_run_asset_event.c.event_id.in_(ids)))
    fired: dict[int, set[str]] = {}
    for event_id, key in rows:
        if key is not None:
            fired.setdefault(event_id, set()).add(key)
    return fired


async def _create_consumer_run(conn: AsyncConnection, dag_id: str, version_id: str,
                               partition_key: str | None, now: datetime) -> DagRunRow:
    """``asset_triggered__<now>_<suffix>`` (Airflow 3's id for a run without a logical
    date), ``triggered_by="asset"``, conf ``{}``."""
    for _ in range(5):
        try:
            return await runs.create_run(
                conn, dag_id=dag_id, dag_version_id=version_id,
                run_id=timetable.run_id(DagRunType.ASSET_TRIGGERED, now,
                                        suffix=timetable.random_suffix()),
                run_type=DagRunType.ASSET_TRIGGERED.value, run_after=now, logical_date=None,
                conf={}, triggered_by="asset", partition_key=partition_key, now=now)
        except DuplicateRunError:  # the random suffix collided: draw again
            continue
    raise RuntimeError(f"could not pick a free run id for an asset-triggered run of {dag_id}")


async def _spec(conn: AsyncConnection, version_id: str) -> DagSpec:
    spec = _specs.get(version_id)
    if spec is None:
        version = await dags.get_version(conn, version_id)
        if version is None:  # the DAG row points at it (foreign key)
            raise InvariantError(f"DAG version {version_id} is referenced but not stored")
        spec = DagSpec.from_json(version.spec)
        _specs[version_id] = spec
        if len(_specs) > SPEC_CACHE_SIZE:
            _specs.popitem(last=False)
    return spec


async def condition_status(conn: AsyncConnection, *, dag_id: str
                           ) -> list[tuple[Mapping[str, Any], bool]] | None:
    """Each leaf of a consumer's condition with whether an event for it is queued (the
    IDE's "``a`` seen, ``b`` not yet"); ``None`` for a DAG without an asset schedule."""
    dag = await dags.get_dag(conn, dag_id)
    if dag is None or dag.current_version_id is None:
        return None
    spec = await _spec(conn, dag.current_version_id)
    if not spec.schedule.assets:
        return None
    queued = {q.asset_id for q in await st.queued_events(conn, dag_ids=[dag_id])}
    resolver = await resolver_for(conn, tenant=dag.tenant, condition=spec.schedule.assets)
    return leaf_status(spec.schedule.assets, queued, resolver)
