"""A DAG's tasks, versions, tags, run statistics and warnings as ``/api/v2`` shows them
(``TaskResponse``, ``DagVersionCollectionResponse``, ``DAGTagCollectionResponse``,
``DagStatsCollectionResponse``, ``DAGWarningCollectionResponse``).

Tasks come from the compiled spec: Leoflow never imports the DAG file to answer, so what
Airflow reads from the operator object (template fields, colours) has its defaults here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from leoflow.engine.api.models.common import ApiModel
from leoflow.engine.api.models.convert import (
    KNOWS_AWAITING_INPUT,
    _parse_date,
    task_display_name,
)
from leoflow.engine.api.models.dags import DagVersionResponse
from leoflow.engine.spec.model import DagSpec, TaskSpec

DEFAULT_QUEUE = "default"


def time_delta(seconds: float | None) -> dict[str, Any] | None:
    """Airflow's serialized ``timedelta``: ``{"__type": "TimeDelta", days, seconds, µs}``."""
    if seconds is None:
        return None
    whole = int(seconds)
    return {"__type": "TimeDelta", "days": whole // 86400, "seconds": whole % 86400,
            "microseconds": round((seconds - whole) * 1_000_000)}


class TaskResponse(ApiModel):
    task_id: str
    task_display_name: str
    owner: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    trigger_rule: str
    depends_on_past: bool
    wait_for_downstream: bool
    retries: float
    queue: str
    pool: str
    pool_slots: float
    execution_timeout: dict[str, Any] | None = None
    retry_delay: dict[str, Any] | None = None
    # a number (the multiplier) for client 3.3 and browsers, a bool for clients before 3.3
    retry_exponential_backoff: float | bool
    priority_weight: float
    weight_rule: str = "downstream"
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    template_fields: list[str]
    downstream_task_ids: list[str]
    doc_md: str | None = None
    operator_name: str
    params: dict[str, Any]
    class_ref: dict[str, Any]
    is_mapped: bool
    extra_links: list[str]


class TaskCollectionResponse(ApiModel):
    tasks: list[TaskResponse]
    total_entries: int


def _class_ref(task: TaskSpec) -> dict[str, Any]:
    name = task.operator_class or task.operator
    module, _, short = name.rpartition(".")
    return {"module_path": module or f"leoflow.operators.{task.operator}",
            "class_name": short or name}


def task_response(task: TaskSpec, spec: DagSpec) -> TaskResponse:
    """One task of the compiled DAG, with its downstream ids from the graph."""
    downstream = sorted(t.task_id for t in spec.tasks if task.task_id in t.upstream)
    backoff: float | bool = float(task.retry_exponential_backoff)
    if not KNOWS_AWAITING_INPUT.get():  # clients before 3.3 type it as a bool
        backoff = task.retry_exponential_backoff
    options = task.options
    return TaskResponse(
        task_id=task.task_id, task_display_name=task_display_name(task.task_id, task, spec),
        owner=task.owner, start_date=_parse_date(options.get("start_date") or spec.start_date),
        end_date=_parse_date(options.get("end_date") or spec.end_date),
        trigger_rule=task.trigger_rule,
        depends_on_past=bool(options.get("depends_on_past", False)),
        wait_for_downstream=bool(options.get("wait_for_downstream", False)),
        retries=float(task.retries), queue=str(options.get("queue") or DEFAULT_QUEUE),
        pool=task.pool, pool_slots=float(task.pool_slots),
        execution_timeout=time_delta(task.execution_timeout),
        retry_delay=time_delta(task.retry_delay), retry_exponential_backoff=backoff,
        priority_weight=float(task.priority_weight),
        template_fields=[str(f) for f in options.get("template_fields") or ()],
        downstream_task_ids=downstream, doc_md=task.doc,
        operator_name=(task.operator_class or task.operator).rpartition(".")[2],
        params=dict(spec.params), class_ref=_class_ref(task), is_mapped=task.is_mapped,
        extra_links=[])


class DagVersionCollectionResponse(ApiModel):
    dag_versions: list[DagVersionResponse]
    total_entries: int


class DAGTagCollectionResponse(ApiModel):
    tags: list[str]
    total_entries: int


class DagStatsStateResponse(ApiModel):
    state: Literal["queued", "running", "success", "failed"]
    count: int


class DagStatsResponse(ApiModel):
    dag_id: str
    dag_display_name: str
    stats: list[DagStatsStateResponse]


class DagStatsCollectionResponse(ApiModel):
    dags: list[DagStatsResponse]
    total_entries: int


class DAGWarningResponse(ApiModel):
    dag_id: str
    dag_display_name: str
    warning_type: Literal["non-existent pool"]
    message: str
    timestamp: datetime


class DAGWarningCollectionResponse(ApiModel):
    dag_warnings: list[DAGWarningResponse]
    total_entries: int
