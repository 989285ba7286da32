"""Which consumer runs a set of queued asset events makes: the partition seam.

``ready_partitions(partition, condition, queued, resolver)`` is the one function the
services call (pure, no I/O); the partition mappers extend it here without touching them.

Arguments:

* ``partition``: the consumer's ``schedule.partition`` (dag.json) or ``None``;
* ``condition``: its ``schedule.assets`` tree (``asset_conditions``);
* ``queued``: the consumer's queued events, oldest first, each with ``event_id``,
  ``asset_id`` and ``partition_key`` attributes (``store.assets.QueuedEvent``);
* ``resolver``: ``asset_conditions.Resolver`` for the consumer's tenant.

Returns a list of ``(downstream_key, consumed_event_ids)``, one per run to create, in the
order to create them: ``downstream_key`` is the run's ``partition_key`` (``None`` for a run
that is not partitioned), ``consumed_event_ids`` the queued events the run takes (they become
its triggering events and leave the queue).

Rules implemented now:

* not partitioned by assets (``partition`` is ``None`` or not ``{"kind": "assets"}``): one
  run when the condition holds over every queued event, consuming all of them (Airflow
  empties a DAG's queue when it creates the run);
* ``{"kind": "assets"}`` with identity mapping (the default mapper, and every mapper until
  the partitions engineer adds theirs): events are grouped by their partition key, the
  downstream key is the upstream key, and a key makes a run when the condition holds over
  that key's events alone (``a & b``: both assets have an event for that key). Events
  without a partition key wait (a partitioned consumer ignores them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from leoflow.engine.scheduler.asset_conditions import Resolver, evaluate

CRON_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"  # Airflow's CronPartitionTimetable key_format default


class Queued(Protocol):
    @property
    def event_id(self) -> int: ...

    @property
    def asset_id(self) -> int: ...

    @property
    def partition_key(self) -> str | None: ...


def is_asset_partitioned(partition: Mapping[str, Any] | None) -> bool:
    """Whether runs are keyed by their upstream events' partitions."""
    return bool(partition) and partition.get("kind") == "assets"  # type: ignore[union-attr]


def ready_partitions(partition: Mapping[str, Any] | None, condition: Any,
                     queued: Sequence[Queued],
                     resolver: Resolver) -> list[tuple[str | None, list[int]]]:
    """The runs the queued events make now; see the module docstring."""
    if not queued:
        return []
    if not is_asset_partitioned(partition):
        assets = {q.asset_id for q in queued}
        if evaluate(condition, assets, resolver):
            return [(None, [q.event_id for q in queued])]
        return []
    by_key: dict[str, list[Queued]] = {}
    for q in queued:
        if q.partition_key is not None:
            by_key.setdefault(q.partition_key, []).append(q)
    ready: list[tuple[str | None, list[int]]] = []
    for key, items in by_key.items():  # in the order each key first arrived
        if evaluate(condition, {q.asset_id for q in items}, resolver):
            ready.append((key, [q.event_id for q in items]))
    return ready


def cron_partition_key(schedule: Any, logical_date: datetime | None) -> str | None:
    """The ``partition_key`` of a scheduled run of a ``CronPartitionTimetable`` DAG
    (``schedule.partition == {"kind": "cron", ...}``), else ``None``.

    As Airflow 3.3 formats it: the cron tick in the timetable's timezone, through the
    timetable's ``key_format`` (default ``%Y-%m-%dT%H:%M:%S``). ``run_offset`` is not
    applied yet (a partitions extension).
    """
    partition = getattr(schedule, "partition", None)
    if not partition or partition.get("kind") != "cron" or logical_date is None:
        return None
    tz = ZoneInfo(getattr(schedule, "timezone", None) or "UTC")
    key_format = str(partition.get("key_format") or CRON_KEY_FORMAT)
    return logical_date.astimezone(tz).strftime(key_format)
