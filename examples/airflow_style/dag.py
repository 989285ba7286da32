# airflow_style: an unchanged Airflow 3 DAG file: airflow.sdk plus the classic operators.
# Shows that existing Airflow code compiles as it is: Leoflow serves these imports with a shim.
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, chain, task
from airflow.utils.trigger_rule import TriggerRule

default_args = {
    "owner": "data-team",
    "retries": 1,
    "retry_delay": timedelta(seconds=30),
}


def _compute_total(numbers):
    # A classic python_callable: its return value is pushed as the task's XCom.
    return sum(numbers)


def _validate_total(ti):
    # Declaring `ti` (or **context) gets the run context, as in Airflow.
    total = ti.xcom_pull(task_ids="compute_total")
    if total <= 0:
        raise ValueError(f"expected a positive total, got {total}")
    return total


with DAG(
    dag_id="airflow_style",
    description="Classic operators, default_args, chain and a TaskFlow task mixed in.",
    default_args=default_args,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "airflow"],
) as dag:
    start = EmptyOperator(task_id="start")

    print_date = BashOperator(task_id="print_date", bash_command="echo run date {{ ds }}")

    compute_total = PythonOperator(
        task_id="compute_total",
        python_callable=_compute_total,
        op_kwargs={"numbers": [3, 5, 8, 13]},
    )

    validate_total = PythonOperator(task_id="validate_total", python_callable=_validate_total)

    report = BashOperator(
        task_id="report",
        bash_command="echo \"total={{ ti.xcom_pull(task_ids='validate_total') }}\"",
    )

    @task
    def double(total: int) -> int:
        return total * 2

    # all_done: `end` runs even if something before it failed, e.g. to release resources.
    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.ALL_DONE)

    chain(start, [print_date, compute_total])
    chain(compute_total, validate_total, report, end)
    print_date >> end
    double(compute_total.output) >> end
