"""Variables and connections reach the task that runs, through the real path, and only the
DAG's own tenant's."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leoflow.app.cmd_run import run_dag
from leoflow.engine.auth.cipher import SecretCipher
from leoflow.engine.auth.config import AuthConfig, fernet_keys
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.secrets import SecretsService
from leoflow.engine.store import Store

pytestmark = pytest.mark.slow

DAG = '''
from leoflow import DAG, task

with DAG("uses_secrets", schedule=None):
    @task
    def read() -> dict:
        from airflow.hooks.base import BaseHook
        from airflow.models import Variable
        conn = BaseHook.get_connection("warehouse")
        return {"region": Variable.get("region"), "host": conn.host, "port": conn.port,
                "password_seen": conn.password == "s3cret"}

    read()
'''


async def test_task_reads_its_tenants_variable_and_connection(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LEOFLOW_HOME", str(home))
    project = tmp_path / "uses_secrets"
    project.mkdir()
    (project / "dag.py").write_text(textwrap.dedent(DAG))
    (project / "leoflow.yaml").write_text("dag_id: uses_secrets\n")
    url = f"sqlite+aiosqlite:///{tmp_path / 'lf.db'}"
    from leoflow.app.settings import Settings

    settings = Settings.load(overrides={"database_url": url})
    store = await Store.open(url, auto_migrate=True)
    cipher = SecretCipher(fernet_keys(AuthConfig.from_settings(settings)))
    secrets = SecretsService(store, cipher, clock=lambda: datetime.now(UTC))
    admin = Principal("admin", "Admin", "default")
    await secrets.create_variable(admin, "region", "eu-west-1")
    await secrets.create_connection(admin, "warehouse", {
        "conn_type": "postgres", "host": "db.internal", "port": 5432, "login": "etl",
        "password": "s3cret"})
    await secrets.create_variable(Principal("b", "Admin", "other"), "region", "us-east-1")
    await store.close()

    lines: list[str] = []
    code = await run_dag(Path(project), conf={}, database_url=url, timeout=120,
                         as_json=True, out=lines.append)
    assert code == 0, "\n".join(lines)
    result = [line for line in lines if line.startswith("{")][-1]
    assert '"region": "eu-west-1"' in result
    assert '"host": "db.internal"' in result and '"port": 5432' in result
    assert '"password_seen": true' in result
    assert "s3cret" not in "\n".join(lines)


ENV_DAG = '''
import os
from leoflow import DAG, task

with DAG("task_env", schedule=None):
    @task
    def tuned() -> dict:
        return {k: os.environ.get(k) for k in ("STAGE", "THREADS")}

    @task
    def plain() -> dict:
        return {k: os.environ.get(k) for k in ("STAGE", "THREADS")}

    tuned()
    plain()
'''

ENV_YAML = '''dag_id: task_env
env: {STAGE: prod, THREADS: "1"}
kubernetes:
  env: {STAGE: pods}
tasks:
  tuned:
    kubernetes:
      env: {THREADS: "8"}
'''


async def test_a_tasks_env_from_leoflow_yaml_reaches_its_code(tmp_path, monkeypatch):
    """leoflow.yaml's pod env (kubernetes.env, tasks.<id>.kubernetes.env) reaches the task's
    own process, over the DAG's env, under the subprocess executor as in a pod."""
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path / "home"))
    project = tmp_path / "task_env"
    project.mkdir()
    (project / "dag.py").write_text(textwrap.dedent(ENV_DAG))
    (project / "leoflow.yaml").write_text(ENV_YAML)
    lines: list[str] = []
    code = await run_dag(Path(project), conf={},
                         database_url=f"sqlite+aiosqlite:///{tmp_path / 'lf.db'}",
                         timeout=120, as_json=True, out=lines.append)
    assert code == 0, "\n".join(lines)
    result = [line for line in lines if line.startswith("{")][-1]
    assert '"tuned": {"STAGE": "pods", "THREADS": "8"}' in result.replace("\n", ""), result
    assert '"plain": {"STAGE": "pods", "THREADS": "1"}' in result.replace("\n", ""), result
