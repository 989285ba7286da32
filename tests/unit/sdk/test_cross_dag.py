"""TriggerDagRunOperator and ExternalTaskMarker as the compiler describes them, the request
the operator hands the control plane, how it resumes, and the errors a DAG author gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leoflow import DAG
from leoflow.sdk import airflow_shim
from leoflow.sdk.cross_dag import (
    NOTSET,
    XCOM_RUN_ID,
    DagRunTrigger,
    ExternalTaskMarker,
    TriggerDagRunOperator,
)
from leoflow.sdk.errors import (
    AirflowException,
    AirflowSkipException,
    DagDefinitionError,
    TaskDeferred,
)
from tests.unit.sdk.conftest import by_id

START = datetime(2024, 1, 1, tzinfo=UTC)


class RecordingTI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_trigger_dag_run_compiles_to_a_python_task_with_templated_inputs(describe):
    with DAG("c", start_date=START) as d:
        TriggerDagRunOperator(task_id="t", trigger_dag_id="target",
                              conf={"message": "{{ ds }}"}, logical_date="{{ logical_date }}",
                              wait_for_completion=True, poke_interval=5)
        TriggerDagRunOperator(task_id="dated", trigger_dag_id="target",
                              logical_date=datetime(2024, 2, 3, 4, 5, tzinfo=UTC))
    tasks = by_id(describe(d))
    t = tasks["t"]
    assert (t["operator"], t["operator_class"]) == ("python", "TriggerDagRunOperator")
    assert t["inputs"]["kwargs"] == {
        "trigger_dag_id": {"literal": "target"}, "trigger_run_id": {"literal": None},
        "conf": {"literal": {"message": "{{ ds }}"}},
        "logical_date": {"literal": "{{ logical_date }}"},
        "wait_for_completion": {"literal": True},
        "skip_when_already_exists": {"literal": False}}
    # a datetime is stored as ISO text; "not given" is an absent key (the date is "now")
    assert tasks["dated"]["inputs"]["kwargs"]["logical_date"] == {
        "literal": "2024-02-03T04:05:00+00:00"}


def test_the_request_follows_airflows_execute_rules():
    with DAG("c", start_date=START):
        op = TriggerDagRunOperator(task_id="t", trigger_dag_id="target", conf='{"a": 1}',
                                   reset_dag_run=True, allowed_states=["success", "failed"],
                                   failed_states=[], poke_interval=2)
    op.apply_inputs([], {"trigger_dag_id": " target ", "trigger_run_id": None,
                         "conf": '{"a": 1}', "wait_for_completion": "True",
                         "skip_when_already_exists": False,
                         "logical_date": "2024-05-06 07:08:09+00:00"})
    kwargs = op.request().trigger_kwargs()
    assert kwargs == {
        "trigger_dag_id": "target", "run_id": "manual__2024-05-06T07:08:09+00:00",
        "logical_date": "2024-05-06T07:08:09+00:00", "conf": {"a": 1}, "reset_dag_run": True,
        "skip_when_already_exists": False, "wait_for_completion": True,
        "allowed_states": ["success", "failed"], "failed_states": [], "poke_interval": 2.0,
        "fail_when_dag_is_paused": False, "note": None}
    # not given: the logical date is now (Airflow 3); None: a run without a logical date
    op.apply_inputs([], {"trigger_dag_id": "target", "trigger_run_id": "mine"})
    assert op.logical_date is NOTSET
    before = datetime.now(UTC)
    now_request = op.request().trigger_kwargs()
    assert before <= datetime.fromisoformat(now_request["logical_date"]) <= datetime.now(UTC)
    assert now_request["run_id"] == "mine"
    op.apply_inputs([], {"trigger_dag_id": "target", "logical_date": None})
    assert op.request().trigger_kwargs()["logical_date"] is None


def test_execute_defers_to_the_dag_run_request_and_resumes_with_its_event():
    with DAG("c", start_date=START):
        op = TriggerDagRunOperator(task_id="t", trigger_dag_id="target",
                                   wait_for_completion=True, trigger_run_id="r1")
    op.apply_inputs([], {"trigger_dag_id": "target", "trigger_run_id": "r1",
                         "conf": None, "wait_for_completion": True,
                         "skip_when_already_exists": False})
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert deferred.value.trigger["kind"] == "dag_run"
    assert deferred.value.trigger["kwargs"]["run_id"] == "r1"
    assert deferred.value.method_name == "execute_complete"
    ti = RecordingTI()
    op.execute_complete({"ti": ti}, event={"status": "triggered", "run_id": "r1",
                                           "logical_date": "2024-01-01T00:00:00+00:00",
                                           "state": "success"})
    assert ti.pushed[XCOM_RUN_ID] == "r1"
    with pytest.raises(AirflowException, match="failed with failed state failed"):
        op.execute_complete({"ti": ti}, event={"status": "triggered", "run_id": "r1",
                                               "state": "failed"})
    with pytest.raises(AirflowSkipException):
        op.execute_complete({"ti": ti}, event={"status": "skipped", "reason": "exists"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "needs trigger_dag_id"),
    ({"trigger_dag_id": "x", "conf": [1]}, "conf must be a dict"),
    ({"trigger_dag_id": "x", "allowed_states": ["done"]}, "not DAG run states"),
    ({"trigger_dag_id": "x", "poke_interval": -1}, "poke_interval"),
    ({"trigger_dag_id": "x", "logical_date": 5}, "logical_date must be a datetime"),
])
def test_bad_trigger_arguments_name_the_argument_and_line(kwargs, message):
    with DAG("c", start_date=START), pytest.raises(DagDefinitionError, match=message) as bad:
        TriggerDagRunOperator(task_id="t", **kwargs)
    assert bad.value.file == __file__ and bad.value.line is not None


def test_bad_rendered_values_fail_the_task_with_a_clear_message():
    with DAG("c", start_date=START):
        op = TriggerDagRunOperator(task_id="t", trigger_dag_id="x")
    op.apply_inputs([], {"trigger_dag_id": "x", "conf": "{not json"})
    with pytest.raises(ValueError, match="conf parameter should be JSON Serializable"):
        op.request()
    op.apply_inputs([], {"trigger_dag_id": "x", "logical_date": "yesterday"})
    with pytest.raises(ValueError, match="logical_date must be an ISO 8601"):
        op.request()


def test_marker_is_an_empty_task_that_names_its_child(describe):
    with DAG("p", start_date=START) as d:
        ExternalTaskMarker(task_id="m", external_dag_id="child", external_task_id="c1")
        ExternalTaskMarker(task_id="fixed", external_dag_id="child", external_task_id="c1",
                           logical_date=datetime(2024, 3, 1, tzinfo=UTC), recursion_depth=3)
    tasks = by_id(describe(d))
    assert tasks["m"]["operator"] == "empty"
    assert tasks["m"]["options"]["external_task_marker"] == {
        "external_dag_id": "child", "external_task_id": "c1", "logical_date": None,
        "recursion_depth": 10}
    assert tasks["fixed"]["options"]["external_task_marker"]["logical_date"] == \
        "2024-03-01T00:00:00+00:00"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"external_task_id": "c"}, "needs external_dag_id"),
    ({"external_dag_id": "{{ params.d }}", "external_task_id": "c"}, "is a template"),
    ({"external_dag_id": "d", "external_task_id": "c", "recursion_depth": 0},
     "recursion_depth should be a positive integer"),
    ({"external_dag_id": "d", "external_task_id": "c", "logical_date": "{{ ds }}"},
     "renders no other template"),
])
def test_bad_marker_arguments(kwargs, message):
    with DAG("p", start_date=START), pytest.raises(DagDefinitionError, match=message) as bad:
        ExternalTaskMarker(task_id="m", **kwargs)
    assert bad.value.line is not None


def test_airflow_import_paths(tmp_path: Path):
    airflow_shim.install()
    from airflow.operators.trigger_dagrun import TriggerDagRunOperator as Old
    from airflow.providers.standard.operators.trigger_dagrun import (
        TriggerDagRunOperator as New,
    )
    from airflow.providers.standard.sensors.external_task import (
        ExternalTaskMarker as Marker,
    )
    from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
    assert Old is New is TriggerDagRunOperator
    assert Marker is ExternalTaskMarker
    assert ExternalTaskSensor.__name__ == "ExternalTaskSensor"  # still there beside it


def test_dag_run_trigger_defaults():
    assert DagRunTrigger(trigger_dag_id="d", run_id="r", logical_date=None,
                         conf={}).serialize_spec()["kwargs"]["failed_states"] == ["failed"]


def test_external_task_sensor_accepts_a_task_group(describe):
    from leoflow import ExternalTaskSensor

    with DAG("c", start_date=START) as d:
        ExternalTaskSensor(task_id="s", external_dag_id="p", external_task_group_id="grp")
    with DAG("bad", start_date=START), pytest.raises(DagDefinitionError, match="not both"):
        ExternalTaskSensor(task_id="both", external_dag_id="p", external_task_id="t",
                           external_task_group_id="grp")
    trigger = by_id(describe(d))["s"]["sensor"]["trigger"]
    assert trigger["kind"] == "external_task"
    assert trigger["kwargs"]["external_task_group_id"] == "grp"
    assert trigger["kwargs"]["external_task_ids"] is None
