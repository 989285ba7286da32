"""The session's real-Airflow DAG environment (``tests/real_airflow.py``) is what a user's
``leoflow.yaml`` listing providers gets: the real Airflow 3.3.2, the providers, and
Leoflow's SDK beside them."""

from __future__ import annotations

import subprocess

import pytest

from tests.real_airflow import AIRFLOW_VERSION, RealAirflowEnv

pytestmark = pytest.mark.slow


def test_the_environment_holds_the_real_airflow_and_the_sdk(real_airflow: RealAirflowEnv
                                                            ) -> None:
    probe = ("import airflow, leoflow, airflow.providers.common.sql.operators.sql as s; "
             "from airflow.sdk import DAG; print(airflow.__version__, s.__name__)")
    done = subprocess.run([str(real_airflow.python), "-c", probe], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [AIRFLOW_VERSION, "airflow.providers.common.sql.operators.sql"]
    print(f"\nreal-Airflow environment ready in {real_airflow.seconds:.1f} s")
