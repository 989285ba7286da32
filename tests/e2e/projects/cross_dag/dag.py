"""Cross-DAG DAGs for tests/e2e/test_cross_dag.py, written against Airflow's import paths.

Several DAGs in one file: a controller and its target, a parent that triggers a child and
waits for it two ways (as Airflow's example_external_task does), triggers that must fail or
skip, and a chain of ExternalTaskMarkers (parent -> child -> grandchild).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.standard.sensors.external_task import (
    ExternalTaskMarker,
    ExternalTaskSensor,
)
from airflow.sdk import DAG, TaskGroup, task

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("xd_controller", start_date=START, schedule=None, catchup=False):
    TriggerDagRunOperator(
        task_id="trigger",
        trigger_dag_id="xd_target",
        conf={"message": "{{ dag_run.conf.get('greeting', 'Hello') }} World"},
    )


@task(task_id="run_this")
def run_this_func(dag_run=None):
    print(f"Remotely received value of {dag_run.conf.get('message')} for key=message")
    return dag_run.conf.get("message")


with DAG("xd_target", start_date=START, schedule=None, catchup=False):
    run_this_func()
    BashOperator(task_id="bash_task", bash_command='echo "Here is the message: $message"',
                 env={"message": '{{ dag_run.conf.get("message") }}'})


with DAG("xd_parent", start_date=START, schedule="@once", catchup=False):
    start = EmptyOperator(task_id="start")
    sensor = ExternalTaskSensor(task_id="parent_task_sensor", external_task_id="child_task",
                                external_dag_id="xd_child", deferrable=True, poke_interval=0.5)
    trigger_child = TriggerDagRunOperator(
        task_id="trigger_child_task", trigger_dag_id="xd_child",
        allowed_states=["success", "failed"], logical_date="{{ logical_date }}",
        poke_interval=0.5, reset_dag_run=True, wait_for_completion=True)
    end = EmptyOperator(task_id="end")
    start >> [trigger_child, sensor] >> end

with DAG("xd_child", start_date=START, schedule="@once", catchup=False):
    BashOperator(task_id="child_task", bash_command="echo 1; sleep 0.2; echo 2")


with DAG("xd_failing", start_date=START, schedule=None, catchup=False):
    BashOperator(task_id="boom", bash_command="exit 3")

with DAG("xd_wait_failed", start_date=START, schedule=None, catchup=False):
    TriggerDagRunOperator(task_id="wait_deferred", trigger_dag_id="xd_failing",
                          wait_for_completion=True, deferrable=True, poke_interval=0.5)

with DAG("xd_fixed_id", start_date=START, schedule=None, catchup=False):
    first = TriggerDagRunOperator(task_id="first", trigger_dag_id="xd_child",
                                  trigger_run_id="fixed__{{ run_id }}")
    again_skips = TriggerDagRunOperator(task_id="again_skips", trigger_dag_id="xd_child",
                                        trigger_run_id="fixed__{{ run_id }}",
                                        skip_when_already_exists=True)
    again_fails = TriggerDagRunOperator(task_id="again_fails", trigger_dag_id="xd_child",
                                        trigger_run_id="fixed__{{ run_id }}",
                                        trigger_rule="all_done")
    first >> again_skips >> again_fails

with DAG("xd_elsewhere", start_date=START, schedule=None, catchup=False):
    TriggerDagRunOperator(task_id="other_tenant", trigger_dag_id="xd_foreign")

with DAG("xd_foreign", start_date=START, schedule=None, catchup=False):
    EmptyOperator(task_id="nothing")


with DAG("xd_marker_parent", start_date=START, schedule=timedelta(minutes=30),
         catchup=False):
    ExternalTaskMarker(task_id="parent_task", external_dag_id="xd_marker_child",
                       external_task_id="child_task1")

with DAG("xd_marker_child", start_date=START, schedule=timedelta(minutes=30), catchup=False):
    child1 = BashOperator(task_id="child_task1", bash_command="echo child1")
    marker = ExternalTaskMarker(task_id="child_marker", external_dag_id="xd_marker_grandchild",
                                external_task_id="grandchild_task")
    child1 >> marker

with DAG("xd_marker_grandchild", start_date=START, schedule=timedelta(minutes=30),
         catchup=False):
    BashOperator(task_id="grandchild_task", bash_command="echo grandchild")

with DAG("xd_marker_shallow", start_date=START, schedule=timedelta(minutes=30),
         catchup=False):
    ExternalTaskMarker(task_id="shallow", external_dag_id="xd_marker_child",
                       external_task_id="child_task1", recursion_depth=1)


with DAG("xd_group_parent", start_date=START, schedule=timedelta(minutes=30),
         catchup=False), TaskGroup("grp"):
    BashOperator(task_id="one", bash_command="echo one")
    BashOperator(task_id="two", bash_command="sleep 0.3; echo two")

with DAG("xd_group_waiter", start_date=START, schedule=timedelta(minutes=30), catchup=False):
    ExternalTaskSensor(task_id="wait_group", external_dag_id="xd_group_parent",
                       external_task_group_id="grp", poke_interval=0.3, mode="reschedule")
