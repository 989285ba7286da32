"""Airflow's "task instance dependencies" (``…/taskInstances/{task_id}/dependencies``): the
conditions that keep an instance from running now, each named as Airflow names its
dependency classes, with the scheduler's own reason as the text.

The reason is ``waiting_reasons.not_started_reason``'s (what the IDE's task panel shows),
so every face says the same thing; this module only puts Airflow's name on it. A running or
finished instance has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leoflow.engine.services import run_views
from leoflow.engine.store import Store


@dataclass(frozen=True)
class Dependency:
    name: str
    reason: str


def dependency_name(state: str | None, run_state: str, dag_paused: bool, reason: str) -> str:
    """The Airflow dependency (``BaseTIDep.NAME``) the reason belongs to."""
    if state == "up_for_retry":
        return "Not In Retry Period"
    if state == "up_for_reschedule":
        return "Ready To Reschedule"
    if state in ("deferred", "queued", "restarting"):
        return "Task Instance State"
    if state == "scheduled":
        lowered = reason.lower()
        if "pool" in lowered:
            return "Pool Slots Available"
        if "max_active_tasks" in lowered or "parallelism" in lowered:
            return "Task Concurrency"
        return "Task Instance State"
    if run_state == "queued":
        return "Dag Not Paused" if dag_paused else "Dagrun Running"
    if reason.startswith("upstream task"):
        return "Trigger Rule"
    return "Dagrun Running" if run_state in ("success", "failed") else "Task Instance State"


async def dependencies(store: Store, xcom: Any, dag_id: str, run_id: str, task_id: str,
                       map_index: int, *, tenant: str, spec_of: Any = None
                       ) -> list[Dependency] | None:
    """What keeps the instance from running (empty when it runs or has ended); None when
    the instance is not the tenant's or does not exist."""
    detail = await run_views.task_instance_detail(store, xcom, dag_id, run_id, task_id,
                                                  map_index, tenant=tenant, spec_of=spec_of)
    if detail is None or detail.instance.map_index != map_index:
        return None
    if detail.reason is None:
        return []
    paused = detail.reason.startswith("its run is queued and the DAG is paused")
    name = dependency_name(detail.instance.state, detail.run.state, paused, detail.reason)
    return [Dependency(name=name, reason=detail.reason)]
