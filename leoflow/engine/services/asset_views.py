"""What the IDE's asset views show: one read per view, always scoped to one tenant.

The Lite IDE (``leoflow.ide``) never reads tables; its asset pages call these functions on
a connection the control plane's store opened. Each returns frozen values made of plain
data, built in a handful of queries over the repositories and the rules the rest of the
engine uses (``services.asset_references`` for references and conditions, ``services.asset_queries``
for the materialize rule), so that the IDE and the API agree:

* ``asset_list``: the tenant's assets with their last event, producers and consumers;
* ``asset_page``: one asset with its events, the runs each event started, and whether
  "Materialize" has exactly one DAG to run;
* ``dag_assets``: what a DAG consumes (its condition, readable, with each leaf seen or
  waiting) and produces (its tasks' outlets);
* ``run_triggers``: the events that started an asset-triggered run.

Another tenant's asset or DAG reads exactly as an absent one (``None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.asset_conditions import Resolver, leaf_assets
from leoflow.engine.services import asset_queries
from leoflow.engine.services.asset_dependencies import asset_dependencies
from leoflow.engine.services.asset_references import resolver_for
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import asset_listings, dags, runs
from leoflow.engine.store import assets as st
from leoflow.engine.store.rows import AssetEventRow

EVENTS_SHOWN = 100


# -- values ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunLink:
    """A run an event started (or was consumed by); ``triggering``: its latest event."""

    dag_id: str
    run_id: str
    state: str
    run_type: str
    triggering: bool = True


@dataclass(frozen=True)
class EventView:
    """An asset event with where it came from and the runs it started."""

    id: int
    asset_id: int
    asset_name: str
    asset_uri: str
    extra: Mapping[str, Any]
    source_dag_id: str | None
    source_run_id: str | None
    source_task_id: str | None
    source_map_index: int | None
    source_alias: str | None
    partition_key: str | None
    timestamp: datetime
    runs: tuple[RunLink, ...] = ()

    @property
    def source(self) -> str:
        """``dag/run`` (``from_rest_api`` and watcher events have no source run)."""
        if self.source_dag_id and self.source_run_id:
            return f"{self.source_dag_id}/{self.source_run_id}"
        if self.extra.get("from_rest_api"):
            return "the REST API"
        return self.source_dag_id or "outside Leoflow"


@dataclass(frozen=True)
class AssetSummary:
    """One line of the Assets page."""

    id: int
    name: str
    uri: str
    group: str
    extra: Mapping[str, Any]
    last_event: EventView | None
    producers: tuple[tuple[str, str | None], ...]  # (dag_id, task_id)
    consumers: tuple[str, ...]  # DAGs scheduled on it
    readers: tuple[tuple[str, str | None], ...]  # (dag_id, task_id) with it as an inlet
    aliases: tuple[str, ...]
    waiting: tuple[str, ...]  # consumers with an event of it queued


@dataclass(frozen=True)
class AssetPage:
    """An asset's page: its summary, its latest events (newest first) and whether
    Materialize has exactly one DAG to run (``materialize_dag``) or why not."""

    asset: AssetSummary
    events: tuple[EventView, ...]
    total_events: int
    materialize_dag: str | None
    materialize_problem: str | None


@dataclass(frozen=True)
class AssetLabel:
    """A reference as a page shows it: ``label``, and the asset to link to when it names
    exactly one."""

    label: str
    kind: str  # asset | alias | asset_ref
    asset_id: int | None = None


@dataclass(frozen=True)
class LeafView:
    """One leaf of a consumer's condition: seen (its queued events) or waiting."""

    ref: AssetLabel
    seen: tuple[EventView, ...] = ()

    @property
    def waiting(self) -> bool:
        return not self.seen


@dataclass(frozen=True)
class TaskAssets:
    task_id: str
    outlets: tuple[AssetLabel, ...]
    inlets: tuple[AssetLabel, ...]


@dataclass(frozen=True)
class DagAssetsView:
    """What a DAG consumes and produces."""

    dag_id: str
    is_paused: bool
    expression: str | None  # its schedule's asset condition, ``a & (b | c)``
    also_timetable: bool  # AssetOrTimeSchedule: runs on a timetable too
    leaves: tuple[LeafView, ...]
    tasks: tuple[TaskAssets, ...]  # tasks with outlets or inlets, in the DAG's order

    @property
    def empty(self) -> bool:
        return self.expression is None and not self.tasks

    @property
    def produces(self) -> tuple[TaskAssets, ...]:
        return tuple(t for t in self.tasks if t.outlets)


@dataclass(frozen=True)
class RunTriggers:
    """An asset-triggered run with the events that started it (oldest first)."""

    dag_id: str
    run_id: str
    run_type: str
    events: tuple[EventView, ...]


# -- rendering conditions -------------------------------------------------------------------

def reference_label(ref: Mapping[str, Any]) -> str:
    """A reference as a person reads it: an asset by its name, ``alias(name)``,
    ``ref(name)`` or ``ref(uri=...)``."""
    ((kind, body),) = ref.items()
    if kind == "alias":
        return f"alias({body.get('name', '')})"
    if kind == "asset_ref":
        if body.get("name") is not None:
            return f"ref({body['name']})"
        return f"ref(uri={body.get('uri', '')})"
    return str(body.get("name") or body.get("uri") or "")


def condition_text(condition: Mapping[str, Any] | None) -> str | None:
    """A condition as Airflow's operators write it: ``a & (b | c)``; a nested ``&`` or
    ``|`` with several members is put in parentheses, a node of one member is that member,
    an empty node reads ``nothing`` (it never holds)."""
    if not condition:
        return None

    def render(node: Mapping[str, Any], nested: bool) -> str:
        ((kind, body),) = node.items()
        if kind not in ("all", "any"):
            return reference_label(node)
        members = list(body)
        if not members:
            return "nothing"
        if len(members) == 1:
            return render(members[0], nested)
        text = (" & " if kind == "all" else " | ").join(render(m, True) for m in members)
        return f"({text})" if nested else text

    return render(condition, False)


def _leaves(condition: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ((kind, body),) = condition.items()
    if kind in ("all", "any"):
        return [leaf for child in body for leaf in _leaves(child)]
    return [condition]


def _label(ref: Mapping[str, Any], resolver: Resolver) -> AssetLabel:
    ((kind, _body),) = ref.items()
    ids = leaf_assets(ref, resolver)
    return AssetLabel(reference_label(ref), kind, next(iter(ids)) if len(ids) == 1 else None)


# -- events ---------------------------------------------------------------------------------

async def _event_views(conn: AsyncConnection, rows: Sequence[AssetEventRow]) -> list[EventView]:
    linked = await asset_listings.linked_runs(conn, (r.id for r in rows))
    return [EventView(
        id=r.id, asset_id=r.asset_id, asset_name=r.asset_name, asset_uri=r.asset_uri,
        extra=dict(r.extra or {}), source_dag_id=r.source_dag_id,
        source_run_id=r.source_run_id, source_task_id=r.source_task_id,
        source_map_index=r.source_map_index, source_alias=r.source_alias,
        partition_key=r.partition_key, timestamp=r.timestamp,
        runs=tuple(RunLink(x.run.dag_id, x.run.run_id, x.run.state, x.run.run_type,
                           x.triggering) for x in linked.get(r.id, ())))
        for r in rows]


async def _events_by_id(conn: AsyncConnection, tenant: str,
                        ids: Iterable[int]) -> dict[int, EventView]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows, _ = await st.list_events(conn, tenant=tenant, event_ids=wanted)
    return {e.id: e for e in await _event_views(conn, rows)}


# -- the Assets page and an asset's page ----------------------------------------------------

async def _summaries(conn: AsyncConnection, tenant: str,
                     details: Sequence[asset_queries.AssetDetail]) -> list[AssetSummary]:
    ids = [d.asset.id for d in details]
    deps = await asset_dependencies(conn, tenant=tenant, asset_ids=ids)
    last = await _events_by_id(conn, tenant, (d.last_event[0] for d in details
                                              if d.last_event is not None))
    waiting: dict[int, set[str]] = {}
    for queued in await st.queued_events(conn, tenant=tenant):
        waiting.setdefault(queued.asset_id, set()).add(queued.dag_id)
    out = []
    for detail in details:
        row, dep = detail.asset, deps.get(detail.asset.id, {})
        out.append(AssetSummary(
            id=row.id, name=row.name, uri=row.uri, group=row.group, extra=dict(row.extra),
            last_event=last.get(detail.last_event[0]) if detail.last_event else None,
            producers=tuple(dep.get("producing_tasks", ())),
            consumers=tuple(dep.get("consuming_dags", ())),
            readers=tuple(dep.get("reading_tasks", ())),
            aliases=tuple(dep.get("aliases", ())),
            waiting=tuple(sorted(waiting.get(row.id, ())))))
    return out


async def asset_list(conn: AsyncConnection, *, tenant: str) -> list[AssetSummary]:
    """The tenant's assets that a present DAG names (Airflow's active assets), by name."""
    details, _ = await asset_queries.list_assets(conn, tenant=tenant, only_active=True,
                                                 order=("name",))
    return await _summaries(conn, tenant, details)


async def asset_page(conn: AsyncConnection, *, tenant: str, asset_id: int,
                     limit: int = EVENTS_SHOWN) -> AssetPage | None:
    """One asset with its ``limit`` latest events; ``None`` when the tenant has no such
    asset. Materialize's DAG comes from the API's own rule (exactly one producing DAG)."""
    try:
        detail = await asset_queries.get_asset(conn, tenant=tenant, asset_id=asset_id)
    except asset_queries.AssetNotFound:
        return None
    (summary,) = await _summaries(conn, tenant, [detail])
    rows, total = await st.list_events(conn, tenant=tenant, asset_ids=[asset_id],
                                       ascending=False, limit=limit)
    dag_id, problem = await materialize_target(conn, tenant=tenant, asset_id=asset_id)
    return AssetPage(summary, tuple(await _event_views(conn, rows)), total, dag_id, problem)


async def materialize_target(conn: AsyncConnection, *, tenant: str,
                             asset_id: int) -> tuple[str | None, str | None]:
    """``(dag_id, None)`` when one DAG produces the asset, else ``(None, why not)``: the
    API's rule (``asset_queries.producing_dag``: none is 404, several 409), said for a
    person."""
    try:
        return await asset_queries.producing_dag(conn, tenant=tenant, asset_id=asset_id), None
    except asset_queries.SeveralProducers:
        found = await asset_listings.producing_dags(conn, tenant=tenant, asset_id=asset_id,
                                                    limit=10)
        return None, (f"Several DAGs produce this asset ({', '.join(found)}): Materialize "
                      "runs an asset's one producing DAG, so there is nothing to choose.")
    except asset_queries.NoProducer:
        return None, ("No DAG produces this asset (no task has it as an outlet), so "
                      "Materialize has nothing to run.")


# -- a DAG's page ---------------------------------------------------------------------------

async def dag_assets(conn: AsyncConnection, *, tenant: str, dag_id: str) -> DagAssetsView | None:
    """What the DAG's current version consumes and produces; ``None`` for a DAG the tenant
    does not have or that has no version yet."""
    dag = await dags.get_dag(conn, dag_id)
    if dag is None or dag.tenant != tenant:
        return None
    version = await dags.current_version(conn, dag_id)
    if version is None:
        return None
    spec = DagSpec.from_json(version.spec)
    condition = spec.schedule.assets
    refs: list[Mapping[str, Any]] = []
    if condition:
        refs.extend(_leaves(condition))
    for task in spec.tasks:
        refs.extend(task.outlets)
        refs.extend(task.inlets)
    resolver = await resolver_for(conn, tenant=tenant, condition={"all": refs}) if refs \
        else Resolver()
    leaves: list[LeafView] = []
    if condition:
        queued = await st.queued_events(conn, dag_ids=[dag_id], tenant=tenant)
        events = await _events_by_id(conn, tenant, (q.event_id for q in queued))
        for leaf in _leaves(condition):
            ids = leaf_assets(leaf, resolver)
            seen = tuple(events[q.event_id] for q in queued
                         if q.asset_id in ids and q.event_id in events)
            leaves.append(LeafView(_label(leaf, resolver), seen))
    tasks = tuple(TaskAssets(task.task_id, tuple(_label(r, resolver) for r in task.outlets),
                             tuple(_label(r, resolver) for r in task.inlets))
                  for task in spec.tasks if task.outlets or task.inlets)
    return DagAssetsView(dag_id=dag_id, is_paused=dag.is_paused,
                         expression=condition_text(condition),
                         also_timetable=bool(condition) and spec.schedule.kind != "assets",
                         leaves=tuple(leaves), tasks=tasks)


async def run_triggers(conn: AsyncConnection, *, tenant: str, dag_id: str,
                       run_id: str | None) -> RunTriggers | None:
    """The events that started the run (``run_id`` None: the DAG's latest run, the one its
    page shows when none is selected); an empty tuple for a run no event started; ``None``
    when the tenant has no such run."""
    dag = await dags.get_dag(conn, dag_id)
    if dag is None or dag.tenant != tenant:
        return None
    if run_id is None:
        latest = (await runs.list_runs(conn, dag_id=dag_id, limit=1, order="-id")).items
        run = latest[0] if latest else None
    else:
        run = await runs.get_run(conn, dag_id, run_id)
    if run is None:
        return None
    events = await _event_views(conn, await st.run_events(conn, run.id))
    return RunTriggers(dag_id, run.run_id, run.run_type, tuple(events))
