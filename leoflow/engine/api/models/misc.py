"""The smaller ``/api/v2`` shapes: version, health, XCom, logs, DAG source, import errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from leoflow.engine.api.models.common import ApiModel


class VersionInfo(ApiModel):
    version: str
    git_version: str | None = None


class BaseInfoResponse(ApiModel):
    status: str | None = None


class SchedulerInfoResponse(ApiModel):
    status: str | None = None
    latest_scheduler_heartbeat: str | None = None


class TriggererInfoResponse(ApiModel):
    status: str | None = None
    latest_triggerer_heartbeat: str | None = None


class DagProcessorInfoResponse(ApiModel):
    status: str | None = None
    latest_dag_processor_heartbeat: str | None = None


class HealthInfoResponse(ApiModel):
    metadatabase: BaseInfoResponse
    scheduler: SchedulerInfoResponse
    triggerer: TriggererInfoResponse
    dag_processor: DagProcessorInfoResponse | None = None


class XComResponse(ApiModel):
    """An entry as listed: everything but the value."""

    key: str
    timestamp: datetime
    logical_date: datetime | None = None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: datetime


class XComResponseNative(XComResponse):
    value: Any = None


class XComResponseString(XComResponse):
    value: str | None = None


class XComCollectionResponse(ApiModel):
    xcom_entries: list[XComResponse]
    total_entries: int


class StructuredLogMessage(ApiModel):
    """One log line; Airflow allows extra keys (``level``, ``logger``...)."""

    model_config = ConfigDict(extra="allow")

    timestamp: datetime | None = None
    event: str


class TaskInstancesLogResponse(ApiModel):
    content: list[StructuredLogMessage]
    continuation_token: str | None = None


class DAGSourceResponse(ApiModel):
    content: str | None = None
    dag_id: str
    version_number: int | None = None
    dag_display_name: str


class ImportErrorResponse(ApiModel):
    import_error_id: int
    timestamp: datetime
    filename: str
    bundle_name: str | None = None
    stack_trace: str


class ImportErrorCollectionResponse(ApiModel):
    import_errors: list[ImportErrorResponse]
    total_entries: int
