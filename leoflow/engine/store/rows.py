"""What the repositories return: frozen dataclasses, one per table, and ``Page``.

Callers never see SQLAlchemy ``Row`` objects, so the store's internals can change without
touching the scheduler, the API or the IDE. Field names are the column names. Every
timestamp is an aware UTC ``datetime``.

Watch the two run identifiers: ``dag_run_id`` is the integer ``dag_run.id``, ``run_id``
the string the user sees (``manual__2026-...``), as in Airflow's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the number of rows matching the filters in all pages."""

    items: tuple[T, ...]
    total: int


@dataclass(frozen=True)
class DagRow:
    dag_id: str
    tenant: str
    is_paused: bool
    is_stale: bool
    fileloc: str | None
    current_version_id: str | None
    next_dagrun_logical_date: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_after: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DagVersionRow:
    id: str
    dag_id: str
    version_number: int
    content_hash: str
    spec: dict[str, Any]
    source_code: str | None
    created_at: datetime
    is_draft: bool = False  # a save's version no run pinned: the next save replaces it


@dataclass(frozen=True)
class DagRunRow:
    id: int
    dag_id: str
    run_id: str
    run_type: str
    logical_date: datetime | None
    run_after: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    state: str
    conf: dict[str, Any] | None
    dag_version_id: str
    triggered_by: str | None
    triggering_user_name: str | None
    note: str | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    last_scheduling_decision: datetime | None
    partition_key: str | None = None


@dataclass(frozen=True)
class TaskInstanceRow:
    id: str
    dag_run_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    rendered_map_index: str | None
    state: str | None
    try_number: int
    max_tries: int
    operator: str | None
    pool: str
    pool_slots: int
    priority_weight: int
    scheduled_at: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    next_retry_at: datetime | None
    last_heartbeat_at: datetime | None
    executor: str | None
    external_executor_id: str | None
    hostname: str | None
    pid: int | None
    waiting_reason: str | None
    note: str | None
    trigger_id: int | None = None
    next_method: str | None = None
    next_kwargs: dict[str, Any] | None = None
    trigger_timeout: datetime | None = None
    first_poke_at: datetime | None = None


@dataclass(frozen=True)
class TriggerRow:
    """What a deferred try waits for (``classpath`` is the trigger kind)."""

    id: int
    classpath: str
    kwargs: dict[str, Any]
    created_date: datetime
    triggerer_id: str | None
    task_instance_id: str
    try_number: int
    due_at: datetime | None
    timeout_at: datetime | None
    timeout_kind: str | None


@dataclass(frozen=True)
class TaskInstanceHistoryRow:
    id: int
    task_instance_id: str
    dag_run_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    state: str | None
    operator: str | None
    pool: str
    executor: str | None
    external_executor_id: str | None
    hostname: str | None
    pid: int | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    error: str | None


@dataclass(frozen=True)
class ImportErrorRow:
    id: int
    filename: str
    dag_id: str | None
    message: str
    stack_trace: str
    timestamp: datetime


@dataclass(frozen=True)
class AuditLogRow:
    id: int
    occurred_at: datetime
    username: str | None
    event: str
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None
    try_number: int | None
    extra: dict[str, Any] | None


@dataclass(frozen=True)
class XComRow:
    """An XCom value; ``dag_id`` and ``run_id`` come from the run it belongs to."""

    dag_run_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class PoolRow:
    name: str
    slots: int
    description: str | None


@dataclass(frozen=True)
class AssetRow:
    """An asset of a tenant (``name`` unique per tenant, as Airflow's within a deployment)."""

    id: int
    tenant: str
    name: str
    uri: str
    group: str
    extra: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AssetAliasRow:
    id: int
    tenant: str
    name: str
    group: str


@dataclass(frozen=True)
class AssetEventRow:
    """An asset event with its asset's identity joined in (every reader needs it)."""

    id: int
    asset_id: int
    extra: dict[str, Any]
    source_dag_id: str | None
    source_run_id: str | None
    source_task_id: str | None
    source_map_index: int | None
    source_alias: str | None
    partition_key: str | None
    timestamp: datetime
    asset_name: str
    asset_uri: str
    asset_group: str
    asset_extra: dict[str, Any]
