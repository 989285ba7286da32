"""Shapes of the UI's DAG list and dashboard (``/ui/dags``, ``/ui/dashboard/*``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import computed_field

from leoflow.engine.api.models.common import ApiModel
from leoflow.engine.api.models.dags import DAGResponse


class DAGRunLightResponse(ApiModel):
    id: int
    dag_id: str
    run_id: str
    logical_date: datetime | None
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    state: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration(self) -> float | None:
        if self.start_date is None:
            return None
        end = self.end_date or datetime.now(UTC)
        return (end - self.start_date).total_seconds()


class DAGWithLatestDagRunsResponse(DAGResponse):
    asset_expression: dict[str, Any] | None = None
    latest_dag_runs: list[DAGRunLightResponse]
    pending_actions: list[dict[str, Any]] = []
    is_favorite: bool = False


class DAGWithLatestDagRunsCollectionResponse(ApiModel):
    total_entries: int
    dags: list[DAGWithLatestDagRunsResponse]


class DashboardDagStatsResponse(ApiModel):
    active_dag_count: int
    failed_dag_count: int
    running_dag_count: int
    queued_dag_count: int


class DAGRunStates(ApiModel):
    queued: int = 0
    running: int = 0
    success: int = 0
    failed: int = 0


TI_STATES = ("no_status", "removed", "scheduled", "queued", "running", "success",
             "restarting", "failed", "up_for_retry", "up_for_reschedule", "upstream_failed",
             "skipped", "deferred", "awaiting_input")


class HistoricalMetricDataResponse(ApiModel):
    dag_run_states: DAGRunStates
    task_instance_states: dict[str, int]
    dag_run_counts_are_lower_bounds: bool = False
    task_instance_counts_are_lower_bounds: bool = False
