"""Assets as ``/api/v2`` shows them: Airflow 3.3's asset, alias, event and queued-event
shapes, and the bodies of ``POST /assets/events`` and ``POST /assets/{id}/materialize``.

The official client 3.3.2 requires every non-optional field below present and non-null
(``StrictInt`` ids, ``StrictBool`` ``triggering``); its ``LastAssetEventResponse.id`` must be
a non-negative integer or null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictInt, field_validator

from leoflow.engine.api.models.common import ApiModel, BodyDateTime, BodyModel
from leoflow.engine.api.models.dag_runs import TriggerDAGRunPostBody

# Airflow's ID_LEN: the longest partition key an event or a run may carry.
PARTITION_KEY_LEN = 250


class DagScheduleAssetReference(ApiModel):
    dag_id: str
    created_at: datetime
    updated_at: datetime


class TaskInletAssetReference(ApiModel):
    dag_id: str
    task_id: str
    created_at: datetime
    updated_at: datetime


class TaskOutletAssetReference(ApiModel):
    dag_id: str
    task_id: str
    created_at: datetime
    updated_at: datetime


class LastAssetEventResponse(ApiModel):
    id: int | None = None
    timestamp: datetime | None = None


class AssetWatcherResponse(ApiModel):
    name: str
    trigger_id: int
    created_date: datetime


class AssetAliasResponse(ApiModel):
    id: int
    name: str
    group: str


class AssetAliasCollectionResponse(ApiModel):
    asset_aliases: list[AssetAliasResponse]
    total_entries: int


class AssetResponse(ApiModel):
    id: int
    name: str
    uri: str
    group: str
    extra: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    scheduled_dags: list[DagScheduleAssetReference]
    # client 3.0's name for scheduled_dags, which it requires (3.3 ignores it)
    consuming_dags: list[DagScheduleAssetReference]
    producing_tasks: list[TaskOutletAssetReference]
    consuming_tasks: list[TaskInletAssetReference]
    aliases: list[AssetAliasResponse]
    watchers: list[AssetWatcherResponse]
    last_asset_event: LastAssetEventResponse | None = None


class AssetCollectionResponse(ApiModel):
    assets: list[AssetResponse]
    total_entries: int


class DagRunAssetReference(ApiModel):
    """A run an event is linked to; ``triggering``: the event is the run's most recent one
    (Airflow 3.3: earlier consumed events are included in the run but did not trigger it)."""

    run_id: str
    dag_id: str
    logical_date: datetime | None = None
    start_date: datetime
    end_date: datetime | None = None
    state: str
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    partition_key: str | None = None
    triggering: bool


class AssetEventResponse(ApiModel):
    id: int
    asset_id: int
    uri: str | None = None
    name: str | None = None
    group: str | None = None
    extra: dict[str, Any] | None = None
    source_task_id: str | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int
    created_dagruns: list[DagRunAssetReference]
    timestamp: datetime
    partition_key: str | None = None


class AssetEventCollectionResponse(ApiModel):
    asset_events: list[AssetEventResponse]
    total_entries: int


class QueuedEventResponse(ApiModel):
    dag_id: str
    asset_id: int
    created_at: datetime
    dag_display_name: str


class QueuedEventCollectionResponse(ApiModel):
    queued_events: list[QueuedEventResponse]
    total_entries: int


class AssetEventAccessControl(BodyModel):
    """Airflow's multi-team consumer filter. Leoflow's tenants never share assets, so it is
    accepted (the client may send it) and has nothing to filter."""

    consumer_teams: list[str] | None = None
    allow_global: bool = True


class CreateAssetEventsBody(BodyModel):
    """``POST /assets/events``: Airflow marks the extra ``from_rest_api``."""

    asset_id: StrictInt = Field(ge=0, le=2**31 - 1)
    partition_key: str | None = Field(default=None, pattern=r"\S",
                                      max_length=PARTITION_KEY_LEN)
    extra: dict[str, Any] = Field(default_factory=dict)
    access_control: AssetEventAccessControl | None = None

    @field_validator("extra", mode="after")
    @classmethod
    def _from_rest_api(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {**value, "from_rest_api": True}


class MaterializeAssetBody(TriggerDAGRunPostBody):
    """The trigger body, with ``logical_date`` optional (Airflow's ``MaterializeAssetBody``)."""

    logical_date: BodyDateTime | None = None



class AssetStateStoreResponse(ApiModel):
    """One key of an asset's state store. Who wrote it last (``last_updated_by``) is not
    kept: null, as Airflow answers for entries without writer information."""

    key: str
    value: Any
    updated_at: datetime
    last_updated_by: dict[str, Any] | None = None


class AssetStateStoreCollectionResponse(ApiModel):
    asset_state_store: list[AssetStateStoreResponse]
    total_entries: int


class AssetStateStoreBody(BodyModel):
    value: Any
