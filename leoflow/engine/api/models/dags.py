"""DAGs as ``/api/v2`` shows them: ``DAGResponse``, ``DAGDetailsResponse`` and friends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import StrictBool

from leoflow.engine.api.models.common import ApiModel, BodyModel


class DagTagResponse(ApiModel):
    name: str
    dag_id: str
    dag_display_name: str


class DagVersionResponse(ApiModel):
    id: str  # a UUID, as Airflow's dag_version.id
    version_number: int
    dag_id: str
    bundle_name: str | None = None
    bundle_version: str | None = None
    bundle_url: str | None = None
    created_at: datetime
    dag_display_name: str


class DAGResponse(ApiModel):
    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: datetime | None = None
    last_parse_duration: float | None = None
    last_expired: datetime | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    relative_fileloc: str | None = None
    fileloc: str
    description: str | None = None
    timetable_summary: str | None = None
    timetable_description: str | None = None
    timetable_partitioned: bool = False
    # None: every run type (Airflow's default); [] for a caller whose role may not trigger,
    # so that Airflow's UI disables its Trigger button.
    allowed_run_types: list[str] | None = None
    timetable_periodic: bool = False
    is_backfillable: bool = False
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None = None
    max_consecutive_failed_dag_runs: int = 0
    has_task_concurrency_limits: bool = False
    has_import_errors: bool
    next_dagrun_logical_date: datetime | None = None
    next_dagrun_data_interval_start: datetime | None = None
    next_dagrun_data_interval_end: datetime | None = None
    next_dagrun_run_after: datetime | None = None
    owners: list[str]
    file_token: str


class DAGDetailsResponse(DAGResponse):
    catchup: bool
    dag_run_timeout: str | None = None
    asset_expression: dict[str, Any] | None = None
    doc_md: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    is_paused_upon_creation: bool | None = None
    params: dict[str, Any] | None = None
    render_template_as_native_obj: bool = False
    template_search_path: list[str] | None = None
    timezone: str | None = None
    last_parsed: datetime | None = None
    default_args: dict[str, Any] | None = None
    owner_links: dict[str, str] | None = None
    is_favorite: bool = False
    active_runs_count: int = 0
    latest_dag_version: DagVersionResponse | None = None
    concurrency: int


class DAGCollectionResponse(ApiModel):
    dags: list[DAGResponse]
    total_entries: int


class DAGPatchBody(BodyModel):
    is_paused: StrictBool
