"""The real Airflow's cross-DAG operators on a real control plane (issue 19): Airflow's own
``TriggerDagRunOperator`` and ``ExternalTaskSensor`` run by its task runner under a real
agent, their requests (``TriggerDagRun``, ``GetDagRunState``, ``GetTICount``...) answered by
the control plane through the agent's ``DagRuns`` call.

What a user would check, and what the test asserts:

* the operator checks the target is not paused (``GetDag``), creates the target run with
  its conf, at the logical date it was given, under the run id it chose, pushes that id as
  the XCom ``trigger_run_id``, and with ``wait_for_completion`` succeeds once the target
  run did;
* a second operator asking for the same run id fails ("already exists"), or is skipped with
  ``skip_when_already_exists``;
* ``ExternalTaskSensor`` in poke and in reschedule mode waits for the target's task, then
  succeeds;
* the attack: a DAG of another tenant (with a successful run at the same logical date) can be
  neither triggered nor seen: the trigger fails with "not found", a sensor on it times out,
  counts are 0 and a run state is "not found" exactly as for a DAG that does not exist;
* a task in a mapped task group pulling its upstream in the group gets its own instance's
  value (``GetTICount`` of its own run says how many instances there are).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leoflow.engine.store import runs
from tests.e2e.harness import Harness, Prepared, Projects, RunResult, open_plane

pytestmark = pytest.mark.slow

LOGICAL_DATE = datetime(2026, 3, 5, tzinfo=UTC)

DAGS = '''
import time

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG, task, task_group

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("xd_target", schedule=None, start_date=START):
    @task
    def work():
        time.sleep(2)
        return "worked"

    work()

with DAG("xd_secret", schedule=None, start_date=START):
    EmptyOperator(task_id="hidden")

with DAG("xd_controller", schedule=None, start_date=START):
    trigger = TriggerDagRunOperator(
        task_id="trigger", trigger_dag_id="xd_target", trigger_run_id="fixed-run",
        logical_date="{{ logical_date }}", conf={"message": "Hello World"},
        wait_for_completion=True, poke_interval=1, fail_when_dag_is_paused=True)
    again = TriggerDagRunOperator(task_id="again", trigger_dag_id="xd_target",
                                  trigger_run_id="fixed-run")
    skip = TriggerDagRunOperator(task_id="skip", trigger_dag_id="xd_target",
                                 trigger_run_id="fixed-run", skip_when_already_exists=True)
    foreign = TriggerDagRunOperator(task_id="foreign", trigger_dag_id="xd_secret",
                                    trigger_run_id="stolen")
    sense = ExternalTaskSensor(task_id="sense", external_dag_id="xd_target",
                               external_task_id="work", poke_interval=1, timeout=300)
    sense_later = ExternalTaskSensor(task_id="sense_later", external_dag_id="xd_target",
                                     external_task_id="work", poke_interval=2, timeout=300,
                                     mode="reschedule")
    sense_secret = ExternalTaskSensor(task_id="sense_secret", external_dag_id="xd_secret",
                                      external_task_id="hidden", poke_interval=1, timeout=4,
                                      soft_fail=True)

    @task
    def look(logical_date=None):
        from airflow.sdk.exceptions import AirflowRuntimeError
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance as ti

        seen = {"target_runs": ti.get_dr_count("xd_target", logical_dates=[logical_date]),
                "target_state": ti.get_dagrun_state("xd_target", "fixed-run"),
                "secret_runs": ti.get_dr_count("xd_secret"),
                "secret_tis": ti.get_ti_count("xd_secret", task_ids=["hidden"]),
                "secret_states": ti.get_task_states("xd_secret")}
        for dag_id in ("xd_secret", "xd_absent"):
            try:
                ti.get_dagrun_state(dag_id, "secret-run")
            except AirflowRuntimeError as exc:
                seen[dag_id] = str(exc).replace(dag_id, "X")
        return seen

    trigger >> [again, skip, look()]

with DAG("xd_group_map", schedule=None, start_date=START):
    @task
    def offset():
        return 10

    @task
    def add(x, off):
        return x + off

    @task
    def double(value):
        return 2 * value

    @task_group
    def op(x, off):
        return double(add(x, off))

    op.partial(off=offset()).expand(x=[1, 2])
'''


def _failures(result: RunResult) -> str:
    return "\n".join(f"{name}: {task.state} {task.error}\n" + "\n".join(result.lines(name)[-20:])
                     for name, task in result.tasks.items())


async def test_trigger_and_sensors_of_the_real_airflow_cross_dags_in_one_tenant(
        real_airflow, projects: Projects, e2e_home: Path, sqlite_url: str,
        tmp_path: Path) -> None:
    folder = real_airflow.project(tmp_path / "xd_real", "xd_controller", DAGS)
    prepared = await projects.prepare(folder)
    async with open_plane(e2e_home, sqlite_url) as harness:
        for dag_id in ("xd_target", "xd_controller", "xd_group_map"):
            await harness.register(prepared, dag_id)
        await _register_other_tenant(harness, prepared)
        secret = await harness.plane.operations.trigger_run(
            "xd_secret", run_id="secret-run", logical_date=LOGICAL_DATE, triggered_by="cli")
        assert await harness.wait(secret, 60.0) == "success"
        controller = await harness.trigger("xd_controller", logical_date=LOGICAL_DATE)
        grouped = await harness.trigger("xd_group_map")
        await asyncio.gather(harness.wait(controller, 300.0), harness.wait(grouped, 300.0))
        result = await harness.result(controller)
        mapped = await harness.result(grouped)
        async with harness.plane.store.connect() as conn:
            target = await runs.get_run(conn, "xd_target", "fixed-run")
            stolen = await runs.get_run(conn, "xd_secret", "stolen")
            secret_runs = await runs.count_runs(conn, "xd_secret")

    assert result.states() == {
        "trigger": "success", "again": "failed", "skip": "skipped", "foreign": "failed",
        "sense": "success", "sense_later": "success", "sense_secret": "skipped",
        "look": "success"}, _failures(result)
    # the target run: its conf, the controller's logical date, the chosen run id, done
    assert target is not None and target.state == "success"
    assert (target.conf, target.logical_date, target.triggered_by) == (
        {"message": "Hello World"}, LOGICAL_DATE, "operator")
    assert result.keys[("trigger", "trigger_run_id")] == "fixed-run"
    assert "Dag Run already exists" in "\n".join(result.lines("again"))
    # both sensors poked before the target's task was done, and waited for it
    assert sum("Poking for tasks ['work'] in dag xd_target" in line
               for line in result.lines("sense")) >= 2
    assert any(kind == "ti.rescheduled" and data["task_id"] == "sense_later"
               for _t, kind, data in result.events)
    # another tenant's DAG: not created, not seen
    assert stolen is None and secret_runs == 1
    assert "not found" in "\n".join(result.lines("foreign"))
    seen = result.xcom["look"]
    assert seen["target_runs"] == 1 and seen["target_state"] == "success"
    assert (seen["secret_runs"], seen["secret_tis"], seen["secret_states"]) == (0, 0, {})
    assert seen["xd_secret"] == seen["xd_absent"] and "not found" in seen["xd_secret"]
    # a mapped task group: each instance pulled its own upstream instance
    assert mapped.state == "success", _failures(mapped)
    assert {k: v for k, v in mapped.xcom.items() if "double" in k} == {
        "op.double[0]": 22, "op.double[1]": 24}


async def _register_other_tenant(harness: Harness, prepared: Prepared) -> None:
    document = prepared.document("xd_secret")
    await harness.plane.operations.register_dag(
        document, source_code=prepared.compiled.source,
        fileloc=str(prepared.compiled.dag_file), paused_on_create=False, tenant="other")
