"""A DAG file of tenant B outside any leoflow.yaml project (the workspace's plain Airflow
folder compiles it): it reads the control plane's JWT secret at import. targets.json is
beside it."""

import json
from pathlib import Path

from airflow.sdk import DAG, task

TARGETS = json.loads((Path(__file__).resolve().parent / "targets.json").read_text())
with open(TARGETS["read"]["jwt_secret"]) as handle:  # the import error, when refused
    SECRET = handle.read()

with DAG("iso_compile_loose", schedule=None, description=SECRET):
    @task
    def nothing() -> None:
        return None

    nothing()
