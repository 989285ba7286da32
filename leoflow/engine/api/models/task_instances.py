"""Task instances and their tries; the patch and clear bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from leoflow.engine.api.models.common import ApiModel, BodyDateTime, BodyModel, Int32
from leoflow.engine.api.models.dags import DagVersionResponse

# Airflow 3.3's task instance states (clients before 3.3 lack awaiting_input: it is shown
# to them as deferred, see convert.api_ti_state).
TIState = Literal["removed", "scheduled", "queued", "running", "success", "restarting",
                  "failed", "up_for_retry", "up_for_reschedule", "upstream_failed", "skipped",
                  "deferred", "awaiting_input"]
TI_STATES: frozenset[str] = frozenset(TIState.__args__)  # type: ignore[attr-defined]
MARKABLE_STATES = ("success", "failed", "skipped")


class _TaskInstanceFields(ApiModel):
    """What a task instance and one of its tries have in common (Airflow's
    ``TaskInstanceResponse`` and ``TaskInstanceHistoryResponse``)."""

    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    state: TIState | None = None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None = None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None = None
    operator_name: str | None = None
    queued_when: datetime | None = None
    scheduled_when: datetime | None = None
    pid: int | None = None
    executor: str | None = None
    executor_config: str = "{}"
    dag_version: DagVersionResponse | None = None


class TaskInstanceResponse(_TaskInstanceFields):
    id: str  # a UUID
    logical_date: datetime | None = None
    run_after: datetime
    note: str | None = None
    rendered_map_index: str | None = None
    rendered_fields: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] | None = None
    triggerer_job: dict[str, Any] | None = None


class TaskInstanceCollectionResponse(ApiModel):
    task_instances: list[TaskInstanceResponse]
    total_entries: int
    next_cursor: str | None = None  # with ``cursor`` (3.3's cursor pagination)
    previous_cursor: str | None = None


class TaskInstanceHistoryResponse(_TaskInstanceFields):
    pass


class TaskInstanceHistoryCollectionResponse(ApiModel):
    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


class PatchTaskInstanceBody(BodyModel):
    new_state: TIState | None = None
    note: str | None = Field(default=None, max_length=1000)
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False

    @field_validator("new_state")
    @classmethod
    def markable(cls, value: str | None) -> str | None:
        if value is not None and value not in MARKABLE_STATES:
            raise ValueError(f"'{value}' must be one of: {', '.join(MARKABLE_STATES)}")
        return value


class ClearTaskInstancesBody(BodyModel):
    """Airflow's defaults: a dry run of only the failed instances."""

    dry_run: bool = True
    start_date: BodyDateTime | None = None
    end_date: BodyDateTime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    task_ids: list[str | tuple[str, Int32]] | None = Field(default=None, min_length=1)
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    run_on_latest_version: bool | None = None
    prevent_running_task: bool = False
    note: str | None = Field(default=None, max_length=1000)
