"""Airflow import paths of assets, asset timetables, partition mappers and watcher triggers
(``leoflow.sdk.assets``, ``asset_decorators``, ``asset_timetables``, ``asset_partitions``,
``asset_triggers``)."""

from __future__ import annotations

from typing import Any

from leoflow.sdk import asset_partitions as partitions
from leoflow.sdk.asset_decorators import AssetDefinition, MultiAssetDefinition, asset
from leoflow.sdk.asset_timetables import (
    AssetOrTimeSchedule,
    CronPartitionTimetable,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
)
from leoflow.sdk.asset_triggers import (
    BaseEventTrigger,
    DirectoryFileDeleteTrigger,
    FileDeleteTrigger,
)
from leoflow.sdk.assets import (
    Asset,
    AssetAccessControl,
    AssetAlias,
    AssetAll,
    AssetAny,
    AssetNameRef,
    AssetRef,
    AssetUriRef,
    AssetWatcher,
    BaseAsset,
    Dataset,
    Metadata,
    Model,
)

_ASSET: dict[str, Any] = {
    "Asset": Asset, "AssetAlias": AssetAlias, "AssetAll": AssetAll, "AssetAny": AssetAny,
    "AssetAccessControl": AssetAccessControl, "AssetWatcher": AssetWatcher,
}
_WINDOWS: dict[str, Any] = {name: getattr(partitions, name) for name in (
    "Window", "HourWindow", "DayWindow", "WeekWindow", "MonthWindow", "QuarterWindow",
    "YearWindow", "SegmentWindow")}
_WAIT: dict[str, Any] = {"WaitPolicy": partitions.WaitPolicy,
                         "WaitForAll": partitions.WaitForAll,
                         "MinimumCount": partitions.MinimumCount}
_TEMPORAL: dict[str, Any] = {name: getattr(partitions, name) for name in (
    "StartOfHourMapper", "StartOfDayMapper", "StartOfWeekMapper", "StartOfMonthMapper",
    "StartOfQuarterMapper", "StartOfYearMapper", "FanOutMapper")}
_MAPPERS: dict[str, Any] = {
    **_TEMPORAL, "PartitionMapper": partitions.PartitionMapper,
    "RollupMapper": partitions.RollupMapper, "IdentityMapper": partitions.IdentityMapper,
    "AllowedKeyMapper": partitions.AllowedKeyMapper,
    "FixedKeyMapper": partitions.FixedKeyMapper, "ProductMapper": partitions.ProductMapper,
    "ChainMapper": partitions.ChainMapper,
}
_TIMETABLES: dict[str, Any] = {
    "AssetOrTimeSchedule": AssetOrTimeSchedule, "CronPartitionTimetable": CronPartitionTimetable,
    "PartitionedAssetTimetable": PartitionedAssetTimetable,
    "PartitionedAtRuntime": PartitionedAtRuntime,
}
_FILE_TRIGGERS: dict[str, Any] = {"FileDeleteTrigger": FileDeleteTrigger,
                                  "DirectoryFileDeleteTrigger": DirectoryFileDeleteTrigger}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.sdk": {**_ASSET, **_MAPPERS, **_WINDOWS, **_WAIT, **_TIMETABLES,
                    "Metadata": Metadata, "asset": asset},
    "airflow.sdk.definitions.asset": {
        **_ASSET, "Dataset": Dataset, "Model": Model, "BaseAsset": BaseAsset,
        "AssetRef": AssetRef, "AssetNameRef": AssetNameRef, "AssetUriRef": AssetUriRef},
    "airflow.sdk.definitions.asset.decorators": {
        "asset": asset, "AssetDefinition": AssetDefinition,
        "MultiAssetDefinition": MultiAssetDefinition},
    "airflow.sdk.definitions.asset.metadata": {"Metadata": Metadata},
    "airflow.sdk.definitions.asset.access_control": {"AssetAccessControl": AssetAccessControl},
    "airflow.sdk.definitions.timetables": {},
    "airflow.sdk.definitions.timetables.assets": {
        "AssetOrTimeSchedule": AssetOrTimeSchedule,
        "PartitionedAssetTimetable": PartitionedAssetTimetable,
        "PartitionedAtRuntime": PartitionedAtRuntime},
    "airflow.sdk.definitions.timetables.trigger": {
        "CronPartitionTimetable": CronPartitionTimetable},
    "airflow.sdk.definitions.partition_mappers": {},
    "airflow.sdk.definitions.partition_mappers.base": {
        "PartitionMapper": partitions.PartitionMapper,
        "RollupMapper": partitions.RollupMapper},
    "airflow.sdk.definitions.partition_mappers.identity": {
        "IdentityMapper": partitions.IdentityMapper},
    "airflow.sdk.definitions.partition_mappers.temporal": _TEMPORAL,
    "airflow.sdk.definitions.partition_mappers.allowed_key": {
        "AllowedKeyMapper": partitions.AllowedKeyMapper},
    "airflow.sdk.definitions.partition_mappers.fixed_key": {
        "FixedKeyMapper": partitions.FixedKeyMapper},
    "airflow.sdk.definitions.partition_mappers.product": {
        "ProductMapper": partitions.ProductMapper},
    "airflow.sdk.definitions.partition_mappers.chain": {"ChainMapper": partitions.ChainMapper},
    "airflow.sdk.definitions.partition_mappers.window": _WINDOWS,
    "airflow.sdk.definitions.partition_mappers.wait_policy": _WAIT,
    "airflow.timetables.assets": {"AssetOrTimeSchedule": AssetOrTimeSchedule},
    "airflow.providers.common.compat.assets": {**_ASSET, "Dataset": Dataset, "Model": Model},
    "airflow.providers.common.compat.sdk": {**_ASSET, "Metadata": Metadata, "asset": asset},
    # Airflow 2's names, still answered by Airflow 3
    "airflow.datasets": {"Dataset": Dataset, "DatasetAlias": AssetAlias,
                         "DatasetAll": AssetAll, "DatasetAny": AssetAny},
    "airflow.datasets.metadata": {"Metadata": Metadata},
    "airflow.triggers.base": {"BaseEventTrigger": BaseEventTrigger},
    "airflow.triggers.file": _FILE_TRIGGERS,
    "airflow.providers.standard.triggers.file": _FILE_TRIGGERS,
}
