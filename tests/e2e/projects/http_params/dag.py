"""An HttpOperator fed DAG params: ``base_url`` and ``city`` are parameters of the ``@dag``
function, so the request's url and JSON body are the run's params (defaults, or the
trigger's conf), resolved by the control plane's inline HTTP executor."""

from __future__ import annotations

import os

import pendulum
from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import dag, task

# where the test's server listens, fixed at compile time by the test
BASE_URL = os.environ.get("LEOFLOW_E2E_HTTP_URL", "http://127.0.0.1:9/echo")


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def http_params(base_url: str = BASE_URL, city: str = "paris") -> None:
    ask = HttpOperator(task_id="ask", method="POST", url=base_url,
                       data={"city": city, "fixed": 1})

    @task
    def answer(body: dict) -> str:
        return f"{body['path']}:{body['received']['city']}"

    answer(ask.output)


http_params()
