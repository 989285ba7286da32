"""The real task runner's requests about other DAG runs, answered by the control plane.

``TriggerDagRunOperator`` ends its ``execute`` with a ``DagRunTriggerException``, which
Airflow's task runner turns into a ``TriggerDagRun`` request (then ``GetDagRunState`` polls
when it waits for completion); ``ExternalTaskSensor`` counts another DAG's task instances or
runs (``GetTICount``, ``GetTaskStates``, ``GetDRCount``); a task inside a mapped task group
asks how many instances it has (``GetTICount`` of its own run); ``fail_when_dag_is_paused``
reads the target DAG (``GetDag``). Each becomes a channel ``dag_runs`` request, which the
agent forwards to the control plane's ``DagRuns`` call: the control plane answers for the
DAG's own tenant only, where another tenant's DAG does not exist.

The answers are Airflow's result types, as its supervisor gives them: ``OKResponse`` for a
created (or, with ``reset_dag_run``, cleared) run, ``ErrorResponse(DAGRUN_ALREADY_EXISTS)``
for a run id in use, ``DagRunStateResult``, ``DRCount``, ``TICount``, ``TaskStatesResult``,
``DagResult``. What Airflow's API answers 404 (no such DAG, run or task group) raises
``AirflowRuntimeError(API_SERVER_ERROR)`` with the same detail, as its supervisor does.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leoflow.sdk.channel import Channel

OP_DAG_RUNS = "dag_runs"  # channel op; the request's own op travels as "action"


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instants(values: Iterable[datetime] | None) -> list[str] | None:
    return None if values is None else [v.isoformat() for v in values]


class CrossDagRequests:
    """Mixin of ``LeoflowComms``: the ``_on_<Request>`` handlers of other DAG runs."""

    _channel: Channel
    _comms: Any

    def _error(self, error: str, **detail: Any) -> Any:  # LeoflowComms's
        raise NotImplementedError

    def _dag_runs(self, action: str, **args: Any) -> dict[str, Any]:
        """The control plane's answer to ``action``; a "not found" raises as Airflow's
        supervisor raises an API error in the task."""
        answer = self._channel.request(OP_DAG_RUNS, action=action, args=args)
        answer = answer if isinstance(answer, dict) else {}
        error = answer.get("error")
        if isinstance(error, dict):
            exceptions = importlib.import_module("airflow.sdk.exceptions")
            raise exceptions.AirflowRuntimeError(self._comms.ErrorResponse(
                error=exceptions.ErrorType.API_SERVER_ERROR,
                detail={"status_code": error.get("status_code"),
                        "message": str(error.get("message") or ""),
                        "detail": {"reason": error.get("reason"),
                                   "message": error.get("message")}}))
        return answer

    def _on_TriggerDagRun(self, msg: Any) -> Any:
        answer = self._dag_runs(
            "trigger", dag_id=msg.dag_id, run_id=msg.run_id, conf=msg.conf,
            logical_date=_instant(msg.logical_date),
            run_after=_instant(getattr(msg, "run_after", None)),
            reset_dag_run=bool(msg.reset_dag_run), note=getattr(msg, "note", None))
        if answer.get("status") == "exists":
            return self._error("DAGRUN_ALREADY_EXISTS")
        return self._comms.OKResponse(ok=True)

    def _on_GetDagRunState(self, msg: Any) -> Any:
        answer = self._dag_runs("dag_run_state", dag_id=msg.dag_id, run_id=msg.run_id)
        return self._comms.DagRunStateResult(state=answer["state"])

    def _on_GetDRCount(self, msg: Any) -> Any:
        answer = self._dag_runs("dr_count", dag_id=msg.dag_id,
                                logical_dates=_instants(msg.logical_dates),
                                run_ids=msg.run_ids, states=msg.states)
        return self._comms.DRCount(count=int(answer.get("count") or 0))

    def _on_GetTICount(self, msg: Any) -> Any:
        answer = self._dag_runs("ti_count", dag_id=msg.dag_id, map_index=msg.map_index,
                                task_ids=msg.task_ids, task_group_id=msg.task_group_id,
                                logical_dates=_instants(msg.logical_dates),
                                run_ids=msg.run_ids, states=msg.states)
        return self._comms.TICount(count=int(answer.get("count") or 0))

    def _on_GetTaskStates(self, msg: Any) -> Any:
        answer = self._dag_runs("task_states", dag_id=msg.dag_id, map_index=msg.map_index,
                                task_ids=msg.task_ids, task_group_id=msg.task_group_id,
                                logical_dates=_instants(msg.logical_dates),
                                run_ids=msg.run_ids)
        return self._comms.TaskStatesResult(task_states=dict(answer.get("task_states") or {}))

    def _on_GetDag(self, msg: Any) -> Any:
        dag = dict(self._dag_runs("dag", dag_id=msg.dag_id).get("dag") or {})
        return self._comms.DagResult(
            dag_id=msg.dag_id, is_paused=bool(dag.get("is_paused")), bundle_name=None,
            bundle_version=None, relative_fileloc=None, owners=None,
            tags=[], next_dagrun=dag.get("next_dagrun"))
