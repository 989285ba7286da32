"""Which consumer runs a set of queued asset events makes: the partition seam.

``plan_runs(partition, condition, queued, resolver, fired=...)`` is the function the
services call (pure, no I/O); ``ready_partitions`` is its list of runs alone.

Arguments:

* ``partition``: the consumer's ``schedule.partition`` (dag.json) or ``None``;
* ``condition``: its ``schedule.assets`` tree (``asset_conditions``);
* ``queued``: the consumer's queued events, oldest first, each with ``event_id``,
  ``asset_id`` and ``partition_key`` attributes (``store.assets.QueuedEvent``);
* ``resolver``: ``asset_conditions.Resolver`` for the consumer's tenant (it must know the
  names and uris of the condition's leaves and of the mapper config's references);
* ``fired``: for queued events that already started runs of this consumer, the keys of those
  runs (a fan-out event stays queued until every key it maps to has run).

``Plan.runs`` is a list of ``(downstream_key, consumed_event_ids)``, one per run to create,
in the order to create them: ``downstream_key`` is the run's ``partition_key`` (``None``
for a run that is not partitioned), ``consumed_event_ids`` the queued events the run takes
(its triggering events). ``Plan.settled`` are the events that leave the queue afterwards;
``Plan.problems`` what the services log (Airflow writes these to its audit log).

The rules, as Airflow 3.3's ``AssetManager._queue_partitioned_dags`` and the scheduler's
``_create_dagruns_for_partitioned_asset_dags``:

* not partitioned by assets (``partition`` is ``None`` or not ``{"kind": "assets"}``):
  events that carry a partition key are not for this consumer (Airflow queues keyed events
  only for partition-aware DAGs) and leave the queue; one run when the condition holds over
  the other events, consuming all of them;
* ``{"kind": "assets"}``: each event's key goes through the mapper of its asset (the
  ``mappers`` entry naming the asset by name, else by uri, else ``default_mapper``; identity
  when absent) to one or more downstream keys; an event without a key, whose key the mapper
  refuses, or that maps to more keys than ``max_downstream_keys`` (the mapper's, else
  ``MAX_DOWNSTREAM_KEYS`` as Airflow's ``[scheduler] partition_mapper_max_downstream_keys``)
  starts nothing and leaves the queue. A downstream key makes a run when the condition holds
  over the assets "received" for that key: an asset with a non-rollup mapper is received
  when one of its events mapped to the key; an asset with a rollup mapper when its wait
  policy holds for the upstream keys that arrived against the window's keys
  (``Mapper.to_upstream``). Keys are evaluated in the order they first arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeGuard
from zoneinfo import ZoneInfo

from leoflow.engine.scheduler.asset_conditions import Resolver, evaluate, leaf_assets, leaves
from leoflow.engine.scheduler.partition_mappers import Mapper, MapperError, mapper

log = logging.getLogger("leoflow.assets.partitions")

CRON_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"  # Airflow's CronPartitionTimetable key_format default
MAX_DOWNSTREAM_KEYS = 1000  # Airflow's [scheduler] partition_mapper_max_downstream_keys
IDENTITY: Mapping[str, Any] = {"kind": "identity", "kwargs": {}}


class Queued(Protocol):
    @property
    def event_id(self) -> int: ...

    @property
    def asset_id(self) -> int: ...

    @property
    def partition_key(self) -> str | None: ...


@dataclass
class Plan:
    """What a consumer's queue makes now (see the module docstring)."""

    runs: list[tuple[str | None, list[int]]] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_asset_partitioned(partition: Mapping[str, Any] | None
                         ) -> TypeGuard[Mapping[str, Any]]:
    """Whether runs are keyed by their upstream events' partitions."""
    return partition is not None and partition.get("kind") == "assets"


def mapper_refs(partition: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The asset references of a partitioned consumer's mapper config (the services add them
    to what the resolver must know)."""
    if not is_asset_partitioned(partition):
        return []
    return [entry["ref"] for entry in (partition or {}).get("mappers") or ()
            if isinstance(entry, Mapping) and isinstance(entry.get("ref"), Mapping)]


class Mappers:
    """The mapper of each asset of a ``PartitionedAssetTimetable`` (Airflow's
    ``get_partition_mapper``: by name, then by uri, then the default)."""

    def __init__(self, partition: Mapping[str, Any], resolver: Resolver) -> None:
        self.default = mapper(partition.get("default_mapper") or IDENTITY,
                              "schedule.partition.default_mapper")
        self._by_name: list[tuple[frozenset[int], Mapper]] = []
        self._by_uri: list[tuple[frozenset[int], Mapper]] = []
        for i, entry in enumerate(partition.get("mappers") or ()):
            path = f"schedule.partition.mappers[{i}]"
            built = mapper(entry.get("mapper"), f"{path}.mapper")
            ((tag, body),) = entry["ref"].items()
            if tag == "alias":
                continue  # Airflow: "Partitioned Asset Alias is not supported"
            if body.get("name"):
                self._by_name.append((leaf_assets({"asset_ref": {"name": body["name"]}},
                                                  resolver), built))
            if body.get("uri"):
                self._by_uri.append((resolver.by_uri.get(body["uri"], frozenset()), built))

    def of(self, asset_id: int) -> Mapper:
        for table in (self._by_name, self._by_uri):
            for ids, found in table:
                if asset_id in ids:
                    return found
        return self.default


def ready_partitions(partition: Mapping[str, Any] | None, condition: Any,
                     queued: Sequence[Queued],
                     resolver: Resolver) -> list[tuple[str | None, list[int]]]:
    """The runs the queued events make now; see the module docstring."""
    return plan_runs(partition, condition, queued, resolver).runs


def plan_runs(partition: Mapping[str, Any] | None, condition: Any, queued: Sequence[Queued],
              resolver: Resolver, *, fired: Mapping[int, Collection[str]] | None = None,
              max_downstream_keys: int = MAX_DOWNSTREAM_KEYS) -> Plan:
    """The runs, settled events and problems of a consumer's queue; see the docstring."""
    plan = Plan()
    if not queued:
        return plan
    if not is_asset_partitioned(partition):
        keyless = [q for q in queued if q.partition_key is None]
        plan.settled = [q.event_id for q in queued if q.partition_key is not None]
        if keyless and evaluate(condition, {q.asset_id for q in keyless}, resolver):
            plan.runs.append((None, [q.event_id for q in keyless]))
            plan.settled = [q.event_id for q in queued]
        return plan
    try:
        mappers = Mappers(partition, resolver)
    except MapperError as exc:  # the compiler checks these; an old dag.json may not be
        plan.problems.append(f"partition mappers cannot be used: {exc}")
        return plan
    fired = fired or {}
    targets: dict[int, list[str]] = {}  # event -> its downstream keys
    by_key: dict[str, list[Queued]] = {}
    for q in queued:
        if q.partition_key is None:
            plan.problems.append(f"event {q.event_id} has no partition key: a "
                                 "partition-aware consumer ignores it")
            plan.settled.append(q.event_id)
            continue
        chosen = mappers.of(q.asset_id)
        try:
            keys = list(dict.fromkeys(chosen.to_downstream(q.partition_key)))
        except (ValueError, TypeError, OverflowError) as exc:
            plan.problems.append(f"could not map partition_key {q.partition_key!r} of event "
                                 f"{q.event_id} with {chosen.kind}: {exc}")
            plan.settled.append(q.event_id)
            continue
        cap = chosen.max_downstream_keys or max_downstream_keys
        if len(keys) > cap:
            plan.problems.append(f"partition_key {q.partition_key!r} of event {q.event_id} "
                                 f"maps to {len(keys)} keys, more than max_downstream_keys="
                                 f"{cap}: no run for it")
            plan.settled.append(q.event_id)
            continue
        targets[q.event_id] = keys
        done = set(fired.get(q.event_id, ()))
        for key in keys:
            if key not in done:
                by_key.setdefault(key, []).append(q)
    ran: dict[int, set[str]] = {}
    for key, items in by_key.items():  # in the order each key first arrived
        received: set[int] = set()
        for asset_id in {q.asset_id for q in items}:
            chosen = mappers.of(asset_id)
            if _received(chosen, key, [q for q in items if q.asset_id == asset_id], plan):
                received.add(asset_id)
        if received and evaluate(condition, received, resolver):
            plan.runs.append((key, [q.event_id for q in items]))
            for q in items:
                ran.setdefault(q.event_id, set()).add(key)
    for event_id, keys in targets.items():
        if set(keys) <= set(fired.get(event_id, ())) | ran.get(event_id, set()):
            plan.settled.append(event_id)
    return plan


def _received(chosen: Mapper, key: str, items: Sequence[Queued], plan: Plan) -> bool:
    if not chosen.is_rollup:
        return True
    try:
        expected = chosen.to_upstream(key)
    except (ValueError, TypeError, OverflowError) as exc:
        plan.problems.append(f"rollup of key {key!r}: {exc}")
        return False
    if chosen.wait_policy.unreachable(expected):
        plan.problems.append(f"wait policy MinimumCount({chosen.wait_policy.n}) can never be "
                             f"satisfied given the window's cardinality {len(expected)}")
        return False
    return chosen.wait_policy.satisfied({q.partition_key or "" for q in items}, expected)


def partition_date(partition: Mapping[str, Any] | None, condition: Any,
                   key: str | None) -> datetime | None:
    """``dag_run.partition_date`` of an asset-triggered run keyed ``key``: the period start
    the condition's mappers agree on (Airflow's ``_resolve_partition_date``), ``None`` for
    keys without a time meaning or when mappers disagree."""
    if key is None or not is_asset_partitioned(partition) or not condition:
        return None
    try:
        default = mapper(partition.get("default_mapper") or IDENTITY)
        config = [(entry["ref"], mapper(entry.get("mapper")))
                  for entry in partition.get("mappers") or ()]
    except (MapperError, KeyError):
        return None
    dates: set[datetime] = set()
    for leaf in leaves(condition):
        ((_, body),) = leaf.items()
        chosen = default
        for ref, built in config:
            ((_, rbody),) = ref.items()
            if (rbody.get("name") and rbody.get("name") == body.get("name")) or (
                    rbody.get("uri") and rbody.get("uri") == body.get("uri")):
                chosen = built
                break
        try:
            found = chosen.to_partition_date(key)
        except (ValueError, TypeError, OverflowError):
            found = None
        if found is not None:
            dates.add(found)
    return dates.pop() if len(dates) == 1 else None


def cron_partition_key(schedule: Any, logical_date: datetime | None) -> str | None:
    """The ``partition_key`` of a scheduled run of a ``CronPartitionTimetable`` DAG
    (``schedule.partition == {"kind": "cron", ...}``), else ``None``.

    As Airflow 3.3 formats it: the cron tick moved by ``run_offset`` cron ticks (``1``: the
    next tick's partition, ``-1``: the previous one's), in the timetable's timezone, through
    the timetable's ``key_format`` (default ``%Y-%m-%dT%H:%M:%S``).
    """
    partition = getattr(schedule, "partition", None)
    if not partition or partition.get("kind") != "cron" or logical_date is None:
        return None
    tz = ZoneInfo(getattr(schedule, "timezone", None) or "UTC")
    key_format = str(partition.get("key_format") or CRON_KEY_FORMAT)
    offset = partition.get("run_offset") or 0
    when = logical_date
    if offset:
        from leoflow.engine.scheduler import timetable  # the cron clock of the schedule

        expression = getattr(schedule, "cron", None) or getattr(schedule, "expression", None)
        if not isinstance(expression, str):  # the compiler pairs a cron partition with one
            raise timetable.InvalidSchedule(
                "a cron partition's run_offset needs the schedule's cron expression",
                field="schedule.partition.run_offset")
        clock = timetable._Cron(timetable.CRON_PRESETS.get(expression, expression),
                                tz)
        step = clock.get_next if offset > 0 else clock.get_prev
        for _ in range(abs(int(offset))):
            when = step(when)
    return when.astimezone(tz).strftime(key_format)
