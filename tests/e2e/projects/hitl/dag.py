"""Human-in-the-loop DAGs, written with Airflow's imports as a user would."""

from __future__ import annotations

import datetime

import pendulum
from airflow.providers.standard.operators.hitl import (
    ApprovalOperator,
    HITLBranchOperator,
    HITLEntryOperator,
    HITLOperator,
)
from airflow.sdk import DAG, Param, task
from airflow.sdk.bases.notifier import BaseNotifier

START = pendulum.datetime(2024, 1, 1, tz="UTC")


class PrintNotifier(BaseNotifier):
    template_fields = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def notify(self, context) -> None:
        print(f"NOTIFY {self.message}")


with DAG(dag_id="hitl_flow", start_date=START, schedule=None, catchup=False):
    entry = HITLEntryOperator(
        task_id="entry", subject="Your name?",
        params={"name": Param("nobody", type="string")},
        notifiers=[PrintNotifier("asked {{ task.subject }}")])
    pick = HITLOperator(task_id="pick", subject="Pick some", options=["a", "b", "c"],
                        multiple=True)
    approve = ApprovalOperator(
        task_id="approve", subject="Go on?",
        body="name={{ ti.xcom_pull(task_ids='entry')['params_input']['name'] }}",
        assigned_users=[{"id": "admin", "name": "admin"}])
    branch = HITLBranchOperator(task_id="branch", subject="Which way?",
                                options=["left way", "right way"],
                                options_mapping={"left way": "left", "right way": "right"})

    @task
    def left(answer=None) -> str:
        return "went left"

    @task
    def right() -> str:
        return "went right"

    [entry, pick] >> approve >> branch >> [left(), right()]


with DAG(dag_id="hitl_timeouts", start_date=START, schedule=None, catchup=False):
    HITLOperator(task_id="with_defaults", subject="Quick!", options=["x", "y"],
                 defaults=["y"], params={"n": Param(3, type="integer")},
                 response_timeout=datetime.timedelta(seconds=1))
    HITLOperator(task_id="without_defaults", subject="Quick!", options=["x", "y"],
                 execution_timeout=datetime.timedelta(seconds=1))


with DAG(dag_id="hitl_reject", start_date=START, schedule=None, catchup=False):
    gate = ApprovalOperator(task_id="gate", subject="Ship it?")

    @task
    def ship() -> str:
        return "shipped"

    @task
    def after_ship() -> str:
        return "after"

    gate >> ship() >> after_ship()
