"""The asset services' objects → Airflow's asset response models.

Extras are masked as Airflow's ``redact`` does (a key naming a secret shows ``***``). An
event stored without a map index (the API's, a watcher's) shows Airflow's ``-1``; a run not
started yet shows its queue time as ``start_date``, which the client requires.
"""

from __future__ import annotations

from leoflow.engine.api.models.assets import (
    AssetAliasResponse,
    AssetEventResponse,
    AssetResponse,
    AssetWatcherResponse,
    DagRunAssetReference,
    DagScheduleAssetReference,
    LastAssetEventResponse,
    QueuedEventResponse,
    TaskInletAssetReference,
    TaskOutletAssetReference,
)
from leoflow.engine.masking.keys import mask_structure
from leoflow.engine.services.asset_queries import AssetDetail, EventDetail
from leoflow.engine.services.rows import AssetAliasRow, AssetReference, LinkedRun, QueuedAsset


def alias_response(row: AssetAliasRow) -> AssetAliasResponse:
    return AssetAliasResponse(id=row.id, name=row.name, group=row.group)


def _watcher_id(asset_id: int, name: str) -> int:
    """Watchers are not trigger rows in Leoflow (the trigger runner keys them by asset and
    name): a stable positive number stands for Airflow's ``trigger_id``."""
    import zlib

    return zlib.crc32(f"{asset_id}:{name}".encode()) & 0x7FFFFFFF


def asset_response(detail: AssetDetail) -> AssetResponse:
    row = detail.asset
    last_id, last_at = detail.last_event or (None, None)

    def unique(kind: str) -> list[AssetReference]:
        """One reference per DAG (schedule) or per task (outlet, inlet), as Airflow's
        reference tables hold them."""
        found: dict[tuple[str, str | None], AssetReference] = {}
        for ref in detail.of_kind(kind):
            found.setdefault((ref.dag_id, None if kind == "schedule" else ref.task_id), ref)
        return list(found.values())

    scheduled = [DagScheduleAssetReference(dag_id=r.dag_id, created_at=r.created_at,
                                           updated_at=r.updated_at)
                 for r in unique("schedule")]
    return AssetResponse(
        id=row.id, name=row.name, uri=row.uri, group=row.group,
        extra=mask_structure(dict(row.extra or {})),
        created_at=row.created_at, updated_at=row.updated_at,
        scheduled_dags=scheduled, consuming_dags=scheduled,
        producing_tasks=[TaskOutletAssetReference(dag_id=r.dag_id, task_id=r.task_id or "",
                                                  created_at=r.created_at,
                                                  updated_at=r.updated_at)
                         for r in unique("outlet")],
        consuming_tasks=[TaskInletAssetReference(dag_id=r.dag_id, task_id=r.task_id or "",
                                                 created_at=r.created_at,
                                                 updated_at=r.updated_at)
                         for r in unique("inlet")],
        aliases=[alias_response(a) for a in detail.aliases],
        watchers=[AssetWatcherResponse(name=name, trigger_id=_watcher_id(row.id, name),
                                       created_date=created)
                  for name, created in detail.watchers],
        last_asset_event=LastAssetEventResponse(id=last_id, timestamp=last_at),
    )


def _run_reference(link: LinkedRun) -> DagRunAssetReference:
    run = link.run
    return DagRunAssetReference(
        run_id=run.run_id, dag_id=run.dag_id, logical_date=run.logical_date,
        start_date=run.start_date or run.queued_at or run.run_after, end_date=run.end_date,
        state=run.state, data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end, partition_key=run.partition_key,
        triggering=link.triggering)


def event_response(detail: EventDetail) -> AssetEventResponse:
    event = detail.event
    return AssetEventResponse(
        id=event.id, asset_id=event.asset_id, uri=event.asset_uri, name=event.asset_name,
        group=event.asset_group, extra=mask_structure(dict(event.extra or {})),
        source_task_id=event.source_task_id, source_dag_id=event.source_dag_id,
        source_run_id=event.source_run_id,
        source_map_index=event.source_map_index if event.source_map_index is not None else -1,
        created_dagruns=[_run_reference(link) for link in detail.runs],
        timestamp=event.timestamp, partition_key=event.partition_key)


def queued_response(row: QueuedAsset, dag_display_name: str) -> QueuedEventResponse:
    return QueuedEventResponse(dag_id=row.dag_id, asset_id=row.asset_id,
                               created_at=row.created_at, dag_display_name=dag_display_name)
