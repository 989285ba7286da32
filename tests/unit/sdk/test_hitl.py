"""Human-in-the-loop operators in the SDK: authoring checks (with file and line), dag.json,
Airflow's import paths, the deferral ``execute`` makes, and what ``execute_complete`` makes
of an answer (XCom, branches, Reject, timeout)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from leoflow import DAG
from leoflow.sdk import airflow_shim
from leoflow.sdk.context_objects import TaskInstance, build_context
from leoflow.sdk.errors import DagDefinitionError, TaskDeferred
from leoflow.sdk.hitl import (
    ApprovalOperator,
    HITLBranchOperator,
    HITLEntryOperator,
    HITLOperator,
    HITLRejectException,
    HITLTimeoutError,
)
from leoflow.sdk.notifier import BaseNotifier, render_placeholders
from leoflow.sdk.operators import EmptyOperator
from leoflow.sdk.params import Param
from leoflow.sdk.task_runner import deferral_message
from tests.unit.sdk.conftest import by_id

ANSWER = {"chosen_options": ["b"], "params_input": {}, "responded_at": "2026-11-24T01:00:00+00:00",
          "responded_by_user": {"id": "admin", "name": "admin"}, "timedout": False}


class NoXCom:
    def pull(self, task_ids, key, map_indexes):
        return [None for _ in task_ids]

    def push(self, key, value):
        raise AssertionError("not expected")


def context_of(dag, task) -> dict:
    ti = TaskInstance(dag_id=dag.dag_id, task_id=task.task_id, run_id="manual__1",
                      task=task, transport=NoXCom())
    return build_context({}, dag=dag, task=task, ti=ti)


def test_airflow_import_paths() -> None:
    airflow_shim.install()
    try:
        hitl = importlib.import_module("airflow.providers.standard.operators.hitl")
        notifier = importlib.import_module("airflow.sdk.bases.notifier")
        exceptions = importlib.import_module("airflow.providers.standard.exceptions")
    finally:
        airflow_shim.uninstall()
    assert hitl.HITLOperator is HITLOperator and hitl.ApprovalOperator is ApprovalOperator
    assert notifier.BaseNotifier is BaseNotifier
    assert exceptions.HITLTimeoutError is HITLTimeoutError


def test_dag_json_kinds_and_template_fields(describe) -> None:
    with DAG("h", schedule=None) as dag:
        ask = HITLOperator(task_id="ask", subject="Hi {{ ds }}", body="b", options=["a", "b"])
        ok = ApprovalOperator(task_id="ok", subject="Go?", ignore_downstream_trigger_rules=True)
        way = HITLBranchOperator(task_id="way", subject="Where?", options=["x", "y"])
        entry = HITLEntryOperator(task_id="entry", subject="Name?",
                                  params={"name": Param("n", type="string")})
        ask >> ok >> way >> [EmptyOperator(task_id="x"), EmptyOperator(task_id="y")]
    tasks = by_id(describe(dag))
    assert (tasks["ask"]["operator"], tasks["ok"]["operator"], tasks["way"]["operator"]) == (
        "python", "short_circuit", "branch")
    assert tasks["ok"]["options"] == {"ignore_downstream_trigger_rules": True}
    assert tasks["ask"]["options"] == {}
    assert tasks["ask"]["inputs"]["kwargs"]["subject"] == {"literal": "Hi {{ ds }}"}
    assert ask.options == ["a", "b"] and list(ok.options) == ["Approve", "Reject"]
    assert entry.options == ["OK"] and entry.defaults == ["OK"]
    assert HITLEntryOperator(task_id="e2", subject="s", options=["a"], dag=dag).defaults is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"options": []}, '"options" cannot be empty'),
    ({"options": ["a"], "defaults": ["z"]}, "should be a subset of options"),
    ({"options": ["a", "b"], "defaults": ["a", "b"]}, "More than one defaults"),
    ({"options": ["a"], "params": {"_options": 1}}, '"_options" is not allowed'),
    ({"options": ["a"], "assigned_users": [{"id": 1}]}, "assigned_users"),
    ({"options": ["a"], "response_timeout": "soon"}, "response_timeout"),
])
def test_bad_arguments_name_the_file_and_line(kwargs, message) -> None:
    with DAG("h", schedule=None), pytest.raises(DagDefinitionError, match=message) as caught:
        HITLOperator(task_id="t", subject="s", **kwargs)
    assert caught.value.file == __file__ and caught.value.line


def test_approval_refuses_fixed_arguments_and_branch_checks_its_mapping() -> None:
    with DAG("h", schedule=None):
        with pytest.raises(DagDefinitionError, match="Passing options"):
            ApprovalOperator(task_id="a", subject="s", options=["x"])
        with pytest.raises(DagDefinitionError, match="not in `options`"):
            HITLBranchOperator(task_id="b", subject="s", options=["x"],
                               options_mapping={"z": "t"})


def test_execute_notifies_and_defers_to_a_hitl_trigger(capsys) -> None:
    class Shout(BaseNotifier):
        template_fields = ("message",)

        def __init__(self, message: str) -> None:
            self.message = message

        def notify(self, context) -> None:
            print("SHOUT", self.message)

    with DAG("h", schedule=None) as dag:
        ask = HITLOperator(task_id="ask", subject="Pick", options=["a", "b"], defaults="a",
                           params={"n": Param(2, type="integer", description="how many")},
                           assigned_users={"id": "u1", "name": "Ursula"},
                           notifiers=Shout("{{ task.subject }} from {{ task.options }}"),
                           response_timeout=timedelta(minutes=5))
    with pytest.raises(TaskDeferred) as deferred:
        ask.execute(context_of(dag, ask))
    assert "SHOUT Pick from ['a', 'b']" in capsys.readouterr().out
    message = deferral_message(deferred.value)
    assert message["next_method"] == "execute_complete" and message["timeout"] == 300.0
    trigger = message["trigger"]
    assert trigger["kind"] == "hitl"
    kwargs = trigger["kwargs"]
    assert (kwargs["subject"], kwargs["options"], kwargs["defaults"]) == ("Pick", ["a", "b"],
                                                                          ["a"])
    assert kwargs["params"] == {"n": {"value": 2, "description": "how many",
                                      "schema": {"type": "integer"}, "source": "task"}}
    assert kwargs["assigned_users"] == [{"id": "u1", "name": "Ursula"}]
    assert kwargs["timeout_datetime"] is not None


def test_execution_timeout_becomes_the_response_timeout() -> None:
    with DAG("h", schedule=None), pytest.warns(DeprecationWarning):
        ask = HITLOperator(task_id="ask", subject="s", options=["a"],
                           execution_timeout=timedelta(seconds=9))
    assert ask.response_timeout == 9.0 and ask.execution_timeout is None


def test_execute_complete_returns_the_answer_and_checks_it() -> None:
    with DAG("h", schedule=None) as dag:
        ask = HITLOperator(task_id="ask", subject="s", options=["a", "b"],
                           params={"n": Param(1)})
    context = context_of(dag, ask)
    assert ask.execute_complete(context, {**ANSWER, "params_input": {"n": 4}}) == {
        "chosen_options": ["b"], "params_input": {"n": 4},
        "responded_at": ANSWER["responded_at"], "responded_by_user": ANSWER["responded_by_user"]}
    with pytest.raises(ValueError, match="not in"):
        ask.execute_complete(context, {**ANSWER, "chosen_options": ["z"]})
    with pytest.raises(ValueError, match="does not match params"):
        ask.execute_complete(context, {**ANSWER, "params_input": {"m": 1}})
    with pytest.raises(HITLTimeoutError):
        ask.execute_complete(context, {"error": "late", "error_type": "timeout"})


def test_approval_and_branch_decisions() -> None:
    with DAG("h", schedule=None) as dag:
        ok = ApprovalOperator(task_id="ok", subject="Go?")
        strict = ApprovalOperator(task_id="strict", subject="Go?", fail_on_reject=True)
        way = HITLBranchOperator(task_id="way", subject="Where?", options=["Left", "Right"],
                                 options_mapping={"Left": "go_left"})
    ok.execute_complete(context_of(dag, ok), {**ANSWER, "chosen_options": ["Approve"]})
    assert ok.short_circuit_decision is True
    ret = ok.execute_complete(context_of(dag, ok), {**ANSWER, "chosen_options": ["Reject"]})
    assert ok.short_circuit_decision is False and ret["chosen_options"] == ["Reject"]
    with pytest.raises(HITLRejectException):
        strict.execute_complete(context_of(dag, strict), {**ANSWER, "chosen_options": ["Reject"]})
    chosen = way.execute_complete(context_of(dag, way),
                                  {**ANSWER, "chosen_options": ["Left", "Right"]})
    assert chosen == ["go_left", "Right"]


def test_link_to_the_required_actions_page() -> None:
    with DAG("h", schedule=None) as dag:
        ask = HITLOperator(task_id="ask", subject="s", options=["a", "b"])
    url = HITLOperator.generate_link_to_ui_from_context(
        context=context_of(dag, ask), base_url="http://localhost:28080", options=["a"])
    assert url == ("http://localhost:28080/dags/h/runs/manual__1/tasks/ask/required_actions"
                   "?_options=a&map_index=-1")


def test_placeholders_render_known_names_only() -> None:
    assert render_placeholders("{{ a.b }} {{ nope }} {% x %}", {"a": {"b": 1}}) == \
        "1 {{ nope }} {% x %}"
