"""The schedules of asset-aware DAGs (Airflow 3.3's timetables of the same names).

- ``AssetOrTimeSchedule(timetable=..., assets=...)``: runs on the timetable *and* whenever
  the asset condition holds;
- ``CronPartitionTimetable(cron, timezone=...)``: a cron schedule whose every run has a
  partition key (the run's date written with ``key_format``, ``run_offset`` ticks away);
- ``PartitionedAtRuntime()``: no timer; a run's tasks choose partition keys while they run
  (``outlet_events[asset].add_partitions(...)``);
- ``PartitionedAssetTimetable(assets=..., ...)``: runs on the asset condition, one run per
  partition key the mappers (``leoflow.sdk.asset_partitions``) derive from the events.

``leoflow.sdk.asset_serialize`` writes them into dag.json's ``schedule``. Standard library
only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leoflow.sdk.asset_partitions import IdentityMapper, PartitionMapper
from leoflow.sdk.assets import (
    AssetAll,
    AssetBooleanCondition,
    AssetTypeError,
    AssetValueError,
    BaseAsset,
    located,
)
from leoflow.sdk.timetables import CronTriggerTimetable

DEFAULT_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"


def coerce_condition(owner: str, value: Any) -> BaseAsset:
    """An asset condition from an asset-like object or a list of them (a list is "all")."""
    if isinstance(value, BaseAsset):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        for i, item in enumerate(items):
            if not isinstance(item, BaseAsset):
                raise located(AssetTypeError, f"{owner} assets[{i}] is {item!r}, not an Asset, "
                                              "an AssetAlias or Asset.ref(...)")
        if not items:
            raise located(AssetValueError, f"{owner} assets is empty: name at least one asset")
        return AssetAll(*items)
    raise located(AssetTypeError, f"{owner} assets must be an asset, a list of assets or a "
                                  f"condition (a & b, a | b), got {value!r}")


class AssetOrTimeSchedule:
    """Runs on ``timetable`` (a cron string's timetable, a delta...) and on ``assets``."""

    def __init__(self, *, timetable: Any, assets: Any) -> None:
        if timetable is None:
            raise located(AssetTypeError, "AssetOrTimeSchedule needs a timetable (e.g. "
                                          "CronTriggerTimetable('0 1 * * *', timezone='UTC'))")
        self.timetable = timetable
        self.asset_condition = coerce_condition("AssetOrTimeSchedule", assets)

    def __repr__(self) -> str:
        return (f"AssetOrTimeSchedule(timetable={self.timetable!r}, "
                f"assets={self.asset_condition!r})")


class CronPartitionTimetable(CronTriggerTimetable):
    """A cron timetable whose runs carry a partition key (Airflow 3.2+)."""

    def __init__(self, cron: str, *, timezone: Any, run_offset: int | None = None,
                 run_immediately: Any = False, key_format: str = DEFAULT_KEY_FORMAT) -> None:
        if run_offset is not None and (isinstance(run_offset, bool)
                                       or not isinstance(run_offset, int)):
            raise located(AssetValueError, "Run offset other than integer not supported yet "
                                           f"(got {run_offset!r}).")
        if not isinstance(key_format, str) or not key_format:
            raise located(AssetTypeError, "CronPartitionTimetable key_format must be a "
                                          f"strftime format string, got {key_format!r}")
        super().__init__(cron, timezone=timezone)
        self.run_offset = run_offset
        self.run_immediately = run_immediately
        self.key_format = key_format

    def __repr__(self) -> str:
        return f"CronPartitionTimetable({self.cron!r}, timezone={self.timezone!r})"


class PartitionedAtRuntime:
    """No timer: partition keys come from ``add_partitions`` while the tasks run."""

    can_be_scheduled = False
    partitioned_at_runtime = True

    def __repr__(self) -> str:
        return "PartitionedAtRuntime()"


class PartitionedAssetTimetable:
    """Asset-triggered runs, one per partition key; ``partition_mapper_config`` gives an
    asset its own mapper, the others use ``default_partition_mapper`` (identity)."""

    def __init__(self, assets: Any = None, partition_mapper_config: Mapping[Any, Any] | None = None,
                 default_partition_mapper: PartitionMapper | None = None) -> None:
        if assets is None:
            raise located(AssetTypeError, "PartitionedAssetTimetable needs assets=...")
        self.asset_condition = coerce_condition("PartitionedAssetTimetable", assets)
        config = dict(partition_mapper_config or {})
        for key, mapper in config.items():
            is_ref = isinstance(key, BaseAsset) and not isinstance(key, AssetBooleanCondition)
            if not is_ref or not isinstance(mapper, PartitionMapper):
                raise located(AssetTypeError,
                              "PartitionedAssetTimetable partition_mapper_config maps an asset "
                              "(or Asset.ref) to a partition mapper, got "
                              f"{key!r}: {mapper!r}")
        self.partition_mapper_config: dict[Any, PartitionMapper] = config
        if default_partition_mapper is None:
            default_partition_mapper = IdentityMapper()
        if not isinstance(default_partition_mapper, PartitionMapper):
            raise located(AssetTypeError, "PartitionedAssetTimetable default_partition_mapper "
                                          "must be a partition mapper, got "
                                          f"{default_partition_mapper!r}")
        self.default_partition_mapper = default_partition_mapper
        for mapper in (default_partition_mapper, *config.values()):
            mapper.to_json()  # a user's mapper or window subclass fails here, at its line

    def __repr__(self) -> str:
        return f"PartitionedAssetTimetable(assets={self.asset_condition!r})"
