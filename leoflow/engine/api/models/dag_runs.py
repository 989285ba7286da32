"""DAG runs: responses and the trigger, patch and clear bodies (Airflow's strict shapes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from leoflow.engine.api.models.common import ApiModel, BodyDateTime, BodyModel
from leoflow.engine.api.models.dags import DagVersionResponse

# Values every supported client knows (3.0 lacks operator_triggered and
# asset_materialization; see AIRFLOW-COMPAT.md §1.3).
RunType = Literal["backfill", "scheduled", "manual", "asset_triggered"]
RunState = Literal["queued", "running", "success", "failed"]
TriggeredBy = Literal["cli", "operator", "rest_api", "ui", "test", "timetable", "asset",
                      "backfill"]


class DAGRunPatchStates(StrEnum):
    QUEUED = "queued"
    SUCCESS = "success"
    FAILED = "failed"


class DAGRunResponse(ApiModel):
    dag_run_id: str
    dag_id: str
    logical_date: datetime | None = None
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_after: datetime
    last_scheduling_decision: datetime | None = None
    run_type: RunType
    state: RunState
    triggered_by: TriggeredBy | None = None
    triggering_user_name: str | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None = None
    dag_display_name: str
    partition_key: str | None = None


class DAGRunCollectionResponse(ApiModel):
    dag_runs: list[DAGRunResponse]
    total_entries: int
    next_cursor: str | None = None  # with ``cursor`` (3.3's cursor pagination)
    previous_cursor: str | None = None


class TriggerDAGRunPostBody(BodyModel):
    """``logical_date`` must be present (it may be null) and timezone-aware."""

    dag_run_id: str | None = Field(default=None, min_length=1, max_length=250)
    data_interval_start: BodyDateTime | None = None
    data_interval_end: BodyDateTime | None = None
    logical_date: BodyDateTime | None
    run_after: BodyDateTime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=1000)
    partition_key: str | None = None

    @model_validator(mode="after")
    def check_data_intervals(self) -> TriggerDAGRunPostBody:
        if (self.data_interval_start is None) != (self.data_interval_end is None):
            raise ValueError("Either both data_interval_start and data_interval_end must be "
                             "provided or both must be None")
        return self


class DAGRunPatchBody(BodyModel):
    state: DAGRunPatchStates | None = None
    note: str | None = Field(default=None, max_length=1000)


class DAGRunClearBody(BodyModel):
    dry_run: bool = True
    only_failed: bool = False
    only_new: bool = False
    note: str | None = Field(default=None, max_length=1000)
    run_on_latest_version: bool | None = None
