"""Which real-Airflow deferrals the control plane can wait for (``handoff``'s conversions).

Pure conversions of a trigger's deserialized kwargs, no Airflow needed; the whole path (the
``DeferTask``, serde, the resumed try) runs in
tests/integration/agent/test_agent_real_airflow_deferral.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leoflow.sdk.real_airflow_runtime import handoff

HERE = {"cwd": "/project", "logical_date": "2026-03-05T00:00:00+00:00"}
DAY_BEFORE = datetime(2026, 3, 4, tzinfo=UTC)


def _workflow(**kwargs: object) -> object:
    return handoff.MAPPED[handoff.WORKFLOW]({"external_dag_id": "other", **kwargs}, HERE)


def test_a_moment_or_an_iso_target_time_is_a_time_trigger() -> None:
    convert = handoff.MAPPED[handoff.DATE_TIME]
    moment = datetime(2026, 3, 5, 12, tzinfo=UTC) + timedelta(hours=1)
    assert convert({"moment": moment}, HERE) == {
        "kind": "time", "kwargs": {"moment": "2026-03-05T13:00:00+00:00"}}
    assert convert({"target_time": "2026-03-05T12:00:00Z"}, HERE)["kwargs"]["moment"] == (
        "2026-03-05T12:00:00+00:00")
    # an unrendered template is left to Airflow's own trigger (in the task's process)
    assert convert({"target_time": "{{ ds }}"}, HERE) is None


def test_a_relative_file_path_is_made_absolute_from_the_tasks_directory() -> None:
    convert = handoff.MAPPED[handoff.FILE]
    assert convert({"filepath": "in/*.csv", "recursive": True}, HERE)["kwargs"] == {
        "filepath": "/project/in/*.csv", "recursive": True, "poke_interval": 5.0}
    assert convert({"filepath": "/abs/x"}, HERE)["kwargs"]["filepath"] == "/abs/x"
    assert convert({"filepath": ""}, HERE) is None


def test_a_workflow_trigger_on_one_date_maps_and_other_forms_stay_in_the_task() -> None:
    spec = _workflow(logical_dates=[DAY_BEFORE], external_task_ids=["load"],
                     allowed_states=["success"], failed_states=["failed"], poke_interval=3)
    assert spec == {"kind": "external_task", "kwargs": {
        "external_dag_id": "other", "external_task_ids": ["load"],
        "allowed_states": ["success"], "failed_states": ["failed"], "skipped_states": [],
        "execution_delta": 86400.0, "poke_interval": 3.0}}
    grouped = _workflow(logical_dates=[DAY_BEFORE], external_task_group_id="g", soft_fail=True,
                        failed_states=["failed"], skipped_states=["skipped"])
    assert grouped["kwargs"]["external_task_group_id"] == "g"
    assert (grouped["kwargs"]["failed_states"], grouped["kwargs"]["skipped_states"]) == (
        [], ["skipped", "failed"])
    assert _workflow(logical_dates=[DAY_BEFORE, DAY_BEFORE]) is None  # several runs
    assert _workflow(run_ids=["r1"], logical_dates=[DAY_BEFORE]) is None  # by run id
    assert handoff.MAPPED[handoff.WORKFLOW](
        {"external_dag_id": "other", "logical_dates": [DAY_BEFORE]},
        {"cwd": "/project", "logical_date": None}) is None  # this run has no logical date


def test_next_kwargs_of_a_deferral_not_handed_over_pass_unchanged() -> None:
    assert handoff.resume("execute_complete", {"event": 1, "x": 2}) == (
        "execute_complete", {"event": 1, "x": 2})
