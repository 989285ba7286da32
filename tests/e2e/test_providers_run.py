"""Airflow providers run unchanged (issue 19, the run half): DAGs whose environment holds the
real apache-airflow 3.3.2 and its providers, compiled and run on a real control plane.

The path is a user's: the project lists the providers in leoflow.yaml, Leoflow builds its
environment with uv (from the session's warm cache), compiles it with that interpreter (the
real DAG objects, ``runtime: airflow``), registers it, and the scheduler's subprocess
executor starts a real ``leoflow-agent`` per try, which runs the task with Airflow's own task
runner. Connections and variables are created through Leoflow's secrets service (what the
API, the CLI and the IDE call) for the DAG's tenant; one more belongs to another tenant.
An HTTP server and a PostgreSQL server (pgserver) are started by the tests on 127.0.0.1 /
a Unix socket.

What a user would check, and what the tests assert:

* ``SQLExecuteQueryOperator`` on SQLite and on PostgreSQL pushes what Airflow pushes (its
  default handler ``fetch_all_handler``: a list of row tuples, stored as
  ``XCom.serialize_value`` makes it), and a downstream ``@task`` receives the tuples back;
* ``PostgresHook`` in a ``@task``; ``HttpOperator`` against the local server, templated
  endpoint and ``response_filter``; ``BashOperator`` with a template pulling an XCom;
* a user-written ``BaseHook`` subclass reads a Leoflow connection; ``Variable.get`` a
  Leoflow variable; ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` from leoflow.yaml's ``env`` work;
* another tenant's connection does not exist for the task; the password the task printed is
  ``***`` in the stored log.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from leoflow.app.settings import Settings
from leoflow.engine.auth.cipher import SecretCipher
from leoflow.engine.auth.config import AuthConfig, fernet_keys
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.secrets import SecretsService
from tests.conftest import create_database
from tests.e2e.harness import Harness, Projects, RunResult, open_plane

pytestmark = pytest.mark.slow

PASSWORD = "pw-7Yq2-only-in-leoflow"
LOGICAL_DATE = datetime(2026, 3, 5, tzinfo=UTC)

DAG = '''
import pendulum
from airflow.sdk import DAG, BaseHook, Variable, task
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.standard.operators.bash import BashOperator


class ApiHook(BaseHook):
    """A hook of the user's own, reading a Leoflow connection."""

    conn_name_attr = "api_conn_id"
    default_conn_name = "my_api"
    conn_type = "http"
    hook_name = "My API"

    def __init__(self, api_conn_id=default_conn_name):
        super().__init__()
        self.api_conn_id = api_conn_id

    def settings(self):
        conn = self.get_connection(self.api_conn_id)
        print(f"logging in to {conn.host} as {conn.login} with {conn.password}")
        return {"host": conn.host, "login": conn.login, "port": conn.port,
                "extra": conn.extra_dejson}


with DAG("providers_run", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         params={"table": "sales"}):
    create = SQLExecuteQueryOperator(
        task_id="create", conn_id="local_sqlite",
        sql="CREATE TABLE {{ params.table }} (x INT, day TEXT)")
    fill = SQLExecuteQueryOperator(
        task_id="fill", conn_id="local_sqlite",
        sql=["INSERT INTO sales VALUES (1, '{{ ds }}')", "INSERT INTO sales VALUES (2, 'b')"])
    count = SQLExecuteQueryOperator(
        task_id="count", conn_id="local_sqlite", sql="SELECT COUNT(*), SUM(x) FROM sales")
    call = HttpOperator(task_id="call", http_conn_id="local_http", method="GET",
                        endpoint="items/{{ ds }}", response_filter=lambda r: r.json())
    shell = BashOperator(
        task_id="shell",
        bash_command="echo rows={{ ti.xcom_pull(task_ids='count')[0][0] }} of $AIRFLOW_CTX_DAG_ID")

    @task
    def report(rows, item):
        try:
            BaseHook.get_connection("other_db")
            other = "readable"
        except Exception as exc:
            other = f"{type(exc).__name__}: {exc}"
        return {"rows": [[type(r).__name__, *r] for r in rows], "item": item,
                "api": ApiHook().settings(), "greeting": Variable.get("greeting"),
                "other": other, "env_conn": BaseHook.get_connection("from_env").host,
                "env_var": Variable.get("from_env")}

    create >> fill >> count >> shell
    report(count.output, call.output)
'''

PG_DAG = '''
import pendulum
from airflow.sdk import DAG, task
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

with DAG("providers_pg", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    load = SQLExecuteQueryOperator(
        task_id="load", conn_id="pg",
        sql="CREATE TABLE items (id INT, name TEXT); INSERT INTO items VALUES (1, 'a'), (2, 'b')")
    select = SQLExecuteQueryOperator(task_id="select", conn_id="pg",
                                     sql="SELECT id, name FROM items ORDER BY id")

    @task
    def total():
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        hook = PostgresHook(postgres_conn_id="pg")
        return {"sum": hook.get_first("SELECT SUM(id) FROM items")[0],
                "names": [r[0] for r in hook.get_records("SELECT name FROM items ORDER BY id")]}

    load >> select >> total()
'''


def _tuple(*values: Any) -> dict[str, Any]:
    """A tuple as Airflow's XCom.serialize_value stores it (airflow.sdk.serde)."""
    return {"__classname__": "builtins.tuple", "__version__": 1, "__data__": list(values)}


class _Items(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "n": 3}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Items)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _project(real_airflow: Any, folder: Path, dag_id: str, source: str,
             env: dict[str, str] | None = None) -> Path:
    real_airflow.project(folder, dag_id, source)
    if env:
        lines = "".join(f"  {k}: '{v}'\n" for k, v in env.items())
        with open(folder / "leoflow.yaml", "a", encoding="utf-8") as handle:
            handle.write("env:\n" + lines)
    return folder


def _secrets(home: Path, harness: Harness) -> SecretsService:
    """The service the API, the CLI and the IDE create connections and variables with."""
    settings = Settings(home=home, database_url="sqlite://")
    cipher = SecretCipher(fernet_keys(AuthConfig.from_settings(settings)))
    return SecretsService(harness.plane.store, cipher, clock=lambda: datetime.now(UTC))


async def _run(harness: Harness, prepared: Any) -> RunResult:
    name = await harness.register(prepared)
    run = await harness.trigger(name, logical_date=LOGICAL_DATE)
    await harness.wait(run, 180.0)
    return await harness.result(run)


def _failures(result: RunResult) -> str:
    return "\n".join(f"{name}: {task.state} {task.error}\n" + "\n".join(result.lines(name)[-25:])
                     for name, task in result.tasks.items() if task.state != "success")


async def test_sqlite_http_bash_and_hooks_run_with_airflows_code(
        real_airflow, projects: Projects, e2e_home: Path, sqlite_url: str, tmp_path: Path,
        http_server: int) -> None:
    folder = _project(real_airflow, tmp_path / "providers_run", "providers_run", DAG,
                      env={"AIRFLOW_CONN_FROM_ENV": "http://env-host:8080",
                           "AIRFLOW_VAR_FROM_ENV": "from leoflow.yaml"})
    prepared = await projects.prepare(folder)
    document = prepared.document()
    assert {t["task_id"]: t.get("runtime") for t in document["tasks"]} == {
        t: "airflow" for t in ("create", "fill", "count", "call", "shell", "report")}
    data = tmp_path / "warehouse.sqlite"
    async with open_plane(e2e_home, sqlite_url) as harness:
        secrets = _secrets(e2e_home, harness)
        admin = Principal("admin", "Admin", "default")
        await secrets.create_connection(admin, "local_sqlite",
                                        {"conn_type": "sqlite", "host": str(data)})
        await secrets.create_connection(admin, "local_http", {
            "conn_type": "http", "host": "127.0.0.1", "port": http_server, "schema": "http"})
        await secrets.create_connection(admin, "my_api", {
            "conn_type": "http", "host": "api.internal", "login": "svc", "port": 8443,
            "password": PASSWORD, "extra": json.dumps({"timeout": 3})})
        await secrets.create_variable(admin, "greeting", "hello")
        await secrets.create_connection(Principal("eve", "Admin", "other"), "other_db", {
            "conn_type": "postgres", "host": "other.internal", "password": "not-yours"})
        result = await _run(harness, prepared)

    assert result.state == "success", _failures(result)
    assert result.states() == {t: "success" for t in
                               ("create", "fill", "count", "call", "shell", "report")}
    # SQLExecuteQueryOperator: fetch_all_handler's rows, stored as Airflow stores them
    assert result.xcom["count"] == [_tuple(2, 3)]
    assert result.xcom["call"] == {"path": "/items/2026-03-05", "n": 3}
    assert result.xcom["shell"] == "rows=2 of providers_run"
    report = result.xcom["report"]
    assert report["rows"] == [["tuple", 2, 3]]  # Airflow gave the task its tuples back
    assert report["item"] == {"path": "/items/2026-03-05", "n": 3}
    assert report["api"] == {"host": "api.internal", "login": "svc", "port": 8443,
                             "extra": {"timeout": 3}}
    assert report["greeting"] == "hello"
    assert report["other"] == "AirflowNotFoundException: The conn_id `other_db` isn't defined"
    assert (report["env_conn"], report["env_var"]) == ("env-host", "from leoflow.yaml")
    log = "\n".join(result.lines("report"))
    assert "logging in to api.internal as svc with ***" in log
    assert PASSWORD not in "\n".join(line for name in result.tasks
                                     for line in result.lines(name))


@pytest.mark.postgres
async def test_postgres_operator_and_hook(real_airflow, projects: Projects, e2e_home: Path,
                                          sqlite_url: str, tmp_path: Path,
                                          postgres_server: Any) -> None:
    database = f"warehouse_{uuid.uuid4().hex[:8]}"
    create_database(postgres_server, database)
    info = postgres_server.get_postmaster_info()
    folder = _project(real_airflow, tmp_path / "providers_pg", "providers_pg", PG_DAG)
    prepared = await projects.prepare(folder)
    async with open_plane(e2e_home, sqlite_url) as harness:
        await _secrets(e2e_home, harness).create_connection(
            Principal("admin", "Admin", "default"), "pg", {
                "conn_type": "postgres", "host": str(info.socket_dir or info.hostname),
                "port": int(info.port), "login": "postgres", "schema": database})
        result = await _run(harness, prepared)
    assert result.state == "success", _failures(result)
    assert result.xcom["select"] == [_tuple(1, "a"), _tuple(2, "b")]
    assert result.xcom["total"] == {"sum": 3, "names": ["a", "b"]}
