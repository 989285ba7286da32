"""The external task sensor: wait for a task, a group or the whole run of another DAG.

Only the control plane knows other runs' states, so this sensor always waits there, through
an ``external_task`` trigger. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from leoflow.sdk.errors import AirflowException, DagDefinitionError
from leoflow.sdk.sensors.base import BaseSensorOperator
from leoflow.sdk.triggers import BaseTrigger, ExternalTaskTrigger


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for a task (or tasks, or the whole run) of another DAG's run to succeed.

    The watched run is the one whose logical date equals this run's minus
    ``execution_delta``. Only the control plane knows other runs' states, so this sensor
    always waits there (a deviation from Airflow, where poke mode holds a worker slot).
    """

    runs_user_code = False

    def __init__(self, task_id: str, *, external_dag_id: str | None = None,
                 external_task_id: str | None = None,
                 external_task_ids: Sequence[str] | None = None,
                 external_task_group_id: str | None = None,
                 allowed_states: Sequence[str] | None = None,
                 failed_states: Sequence[str] | None = None,
                 skipped_states: Sequence[str] | None = None,
                 execution_delta: timedelta | float | None = None,
                 execution_date_fn: Any = None, check_existence: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        where = f"ExternalTaskSensor({task_id!r})"
        if not isinstance(external_dag_id, str) or not external_dag_id:
            raise DagDefinitionError(f"{where} needs external_dag_id (a DAG id)",
                                     file=self.fileloc, line=self.line)
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(
                f"{where}: give external_task_id or external_task_ids, not both",
                file=self.fileloc, line=self.line)
        if execution_date_fn is not None:
            raise DagDefinitionError(
                f"{where}: execution_date_fn is not supported (the control plane cannot run "
                "user code); use execution_delta", file=self.fileloc, line=self.line)
        if external_task_group_id is not None and (external_task_id is not None
                                                   or external_task_ids is not None):
            raise DagDefinitionError(
                f"{where}: give external_task_group_id or external task ids, not both",
                file=self.fileloc, line=self.line)
        ids = ([external_task_id] if external_task_id is not None else
               None if external_task_ids is None else list(external_task_ids))
        if ids is not None and (not ids or not all(isinstance(i, str) and i for i in ids)):
            raise DagDefinitionError(f"{where}: external_task_ids must be non-empty task ids, "
                                     f"got {ids!r}", file=self.fileloc, line=self.line)
        states = {"allowed_states": list(allowed_states or ["success"]),
                  "failed_states": list(failed_states or []),
                  "skipped_states": list(skipped_states or [])}
        known = {"success", "failed", "skipped", "upstream_failed", "removed", "running",
                 "queued", "scheduled", "up_for_retry", "up_for_reschedule", "deferred",
                 "none", "restarting"}
        for name, values in states.items():
            bad = [s for s in values if str(getattr(s, "value", s)) not in known]
            if bad:
                raise DagDefinitionError(f"{where}: {name} has unknown state(s) {bad!r}",
                                         file=self.fileloc, line=self.line)
            states[name] = [str(getattr(s, "value", s)) for s in values]
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = ids
        self.external_task_group_id = external_task_group_id
        self.allowed_states = states["allowed_states"]
        self.failed_states = states["failed_states"]
        self.skipped_states = states["skipped_states"]
        self.execution_delta = (None if execution_delta is None else
                                self._sensor_seconds("execution_delta", execution_delta))
        self.check_existence = bool(check_existence)

    def start_from_trigger(self) -> bool:
        return True

    def _trigger_is_static(self) -> bool:
        return not self.is_mapped

    def static_trigger(self) -> BaseTrigger:
        return ExternalTaskTrigger(
            external_dag_id=self.external_dag_id, external_task_ids=self.external_task_ids,
            allowed_states=self.allowed_states, failed_states=self.failed_states,
            skipped_states=self.skipped_states, execution_delta=self.execution_delta,
            poke_interval=self.poke_interval, external_task_group_id=self.external_task_group_id)

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        return self.static_trigger()

    def poke(self, context: dict[str, Any]) -> bool:
        raise AirflowException("ExternalTaskSensor waits in the control plane; it has no poke")
