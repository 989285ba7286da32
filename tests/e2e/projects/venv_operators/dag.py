"""Tasks whose function runs in another interpreter, written as Airflow DAG files write them.

``colorama`` is installed in the tasks' own environments only: the DAG's environment does
not have it, and the functions' environment has neither Leoflow nor this file's imports.
"""

import sys

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import (
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from airflow.sdk import DAG, task

START = pendulum.datetime(2021, 1, 1, tz="UTC")


def in_venv(base, ds=None):
    """Runs in a virtual environment with colorama; says where it ran and what it sees."""
    import importlib.util
    import sys

    import colorama

    print(f"colorama {colorama.__version__} in {sys.prefix}", flush=True)
    return {"base": base * 2, "colorama": colorama.__version__, "prefix": sys.prefix,
            "sees_leoflow": importlib.util.find_spec("leoflow") is not None,
            "sees_airflow": importlib.util.find_spec("airflow") is not None, "ds": ds}


def pick(choices):
    import colorama  # the branch's environment is the same cached one

    return f"after_{choices[colorama.__version__ == '0.4.0']}"


with DAG("venv_ops", schedule=None, start_date=START, catchup=False) as dag:
    @task
    def seed():
        return 21

    venv = PythonVirtualenvOperator(
        task_id="venv", python_callable=in_venv, op_args=[seed()],
        requirements=["colorama==0.4.0"], system_site_packages=False)

    @task.virtualenv(requirements=["colorama==0.4.0"], system_site_packages=False,
                     venv_cache_path="/tmp")
    def decorated(data: dict) -> dict:
        import colorama

        return {"doubled": data["base"], "same": colorama.__version__ == data["colorama"]}

    @task.external_python(python=sys.executable)
    def external(values):
        import sys

        print(f"external python {sys.executable}")
        return [values["doubled"] + 1, sys.executable]

    branch = BranchPythonVirtualenvOperator(
        task_id="branch", python_callable=pick, op_args=[["no", "yes"]],
        requirements=["colorama==0.4.0"], system_site_packages=False)
    after_yes = EmptyOperator(task_id="after_yes")
    after_no = EmptyOperator(task_id="after_no")

    external(decorated(venv.output)) >> branch >> [after_yes, after_no]


with DAG("venv_failures", schedule=None, start_date=START, catchup=False) as failures:
    def never_runs():
        return 1

    bad_requirement = PythonVirtualenvOperator(
        task_id="bad_requirement", python_callable=never_runs,
        requirements=["this is not a requirement!!"], system_site_packages=False)
    missing_python = ExternalPythonOperator(
        task_id="missing_python", python_callable=never_runs,
        python="/nonexistent/leoflow-e2e/bin/python")
    bad_requirement >> EmptyOperator(task_id="after_bad")
