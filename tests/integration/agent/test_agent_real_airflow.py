"""The agent runs tasks with the real Airflow's task runner (dag.json ``runtime: airflow``).

A real ``leoflow-agent`` process against the scripted control plane (a real gRPC server on
127.0.0.1), in a DAG environment holding the real apache-airflow 3.3.2 and its providers (the
session's ``real_airflow`` fixture, built with uv through Leoflow's environment code). What
the tests check is what the user's DAG would see: the provider's result as XCom, the
templated command, the connection and variable of the task's environment reaching Airflow's
hooks, a password masked in the log, retries and no-retry failures, and an unsupported
task SDK refused with its version named.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.agent.control_plane import ScriptedControlPlane, fetch, run_agent_process

pytestmark = pytest.mark.slow

DAG = """
import pendulum
from airflow.sdk import DAG, BaseHook, Variable, task
from airflow.exceptions import AirflowFailException
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

class MyHook(BaseHook):
    conn_name_attr = "my_conn_id"

    def __init__(self, my_conn_id):
        super().__init__()
        self.my_conn_id = my_conn_id

    def describe(self):
        conn = self.get_connection(self.my_conn_id)
        print("connecting with password", conn.password)
        return {"host": conn.host, "login": conn.login, "port": conn.port,
                "extra": conn.extra_dejson}

with DAG("demo", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    create = SQLExecuteQueryOperator(
        task_id="create", conn_id="my_sqlite",
        sql="CREATE TABLE IF NOT EXISTS t (x INT, name TEXT)")
    fill = SQLExecuteQueryOperator(
        task_id="fill", conn_id="my_sqlite",
        sql="INSERT INTO t VALUES (1, 'a'), (2, '{{ ds }}')")
    count = SQLExecuteQueryOperator(
        task_id="count", conn_id="my_sqlite", sql="SELECT COUNT(*), MIN(name) FROM t")
    shell = BashOperator(task_id="shell",
                         bash_command="echo run {{ run_id }} of $AIRFLOW_CTX_DAG_ID on {{ ds }}")

    @task
    def use(rows, who=None):
        hook = MyHook("api")
        return {"rows": rows, "api": hook.describe(), "var": Variable.get("greeting"),
                "json": Variable.get("settings", deserialize_json=True), "who": who}

    @task(retries=2)
    def flaky():
        raise ValueError("bad row 7")

    @task
    def fatal():
        raise AirflowFailException("no point retrying")

    @task.branch
    def pick():
        return "left"

    soon = DateTimeSensorAsync(
        task_id="soon",
        target_time="{{ (macros.datetime.now(macros.dateutil.tz.UTC)"
                    " + macros.timedelta(seconds=2)).isoformat() }}")

    create >> fill >> count
    pick() >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
    use(count.output, who="{{ params.get('who', 'nobody') }}")
    flaky()
    fatal()
"""

API_CONN = {"conn_type": "http", "host": "api.internal", "login": "svc",
            "password": "pw-Zq81-very-secret", "port": 8443, "extra": {"timeout": 3}}


def _env(db: Path) -> dict[str, str]:
    """What the control plane hands a try of this tenant (AIRFLOW_CONN_*/AIRFLOW_VAR_*)."""
    return {"AIRFLOW_CONN_MY_SQLITE": json.dumps({"conn_type": "sqlite", "host": str(db)}),
            "AIRFLOW_CONN_API": json.dumps(API_CONN),
            "AIRFLOW_VAR_GREETING": "hello", "AIRFLOW_VAR_SETTINGS": '{"limit": 5}'}


def _fetch(folder: Path, task_id: str, python: Path, db: Path, *, max_tries: int = 0,
           **kwargs):
    answer = fetch(str(folder), task_id, spec={"runtime": "airflow"}, env=_env(db),
                   python=str(python), **kwargs)
    answer.max_tries = max_tries  # the control plane's: the task's retries on a first try
    return answer


def airflow_value(python: Path, db: Path, sql: str) -> object:
    """What Airflow itself stores as the XCom of ``SQLExecuteQueryOperator(sql=...)``: its
    hook's ``run`` with the operator's default handler (``fetch_all_handler``), the rows made
    common data structures, serialized by ``XCom.serialize_value``, computed in the same
    environment with Airflow's own code (no Leoflow involved)."""
    code = textwrap.dedent(f"""
        import json, os
        from airflow.providers.common.sql.hooks.handlers import fetch_all_handler
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook
        from airflow.sdk.bases.xcom import BaseXCom
        hook = SqliteHook(sqlite_conn_id="my_sqlite")
        rows = hook.run({sql!r}, handler=fetch_all_handler)
        rows = hook._make_common_data_structure(rows)
        print(json.dumps(BaseXCom.serialize_value(rows)))
    """)
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                         env={"AIRFLOW_HOME": str(db.parent / "af-home"), **_env(db)},
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def _run(servicer: ScriptedControlPlane, serve) -> ScriptedControlPlane:
    run = await run_agent_process(await serve(servicer), timeout=120)
    assert run.returncode == 0, run.stderr
    return servicer


async def test_sql_operators_bash_and_a_task_with_hooks(project, serve, real_airflow,
                                                        tmp_path):
    folder = project(DAG)
    db = tmp_path / "data.sqlite"
    python = real_airflow.python
    for task_id in ("create", "fill"):
        done = await _run(ScriptedControlPlane(_fetch(folder, task_id, python, db)), serve)
        assert done.recorded.report.state == "success", done.recorded.lines[-30:]
    count = await _run(ScriptedControlPlane(_fetch(folder, "count", python, db)), serve)
    assert count.recorded.report.state == "success"
    # the same value Airflow stores (a list of one row, its tuple in serde's form)
    expected = airflow_value(python, db, "SELECT COUNT(*), MIN(name) FROM t")
    assert count.recorded.pushed == {"return_value": expected}
    assert expected == [{"__classname__": "builtins.tuple", "__version__": 1,
                         "__data__": [2, "2024-03-05"]}]

    use = await _run(ScriptedControlPlane(
        _fetch(folder, "use", python, db, context={"params": {"who": "ann"}}),
        xcoms={("count", "return_value"): expected}), serve)
    report = use.recorded.report
    assert report.state == "success", use.recorded.lines[-30:]
    value = use.recorded.pushed["return_value"]
    # Airflow deserialized the upstream's rows (a tuple again) and resolved count.output
    assert value["rows"] == expected
    assert value["api"] == {"host": "api.internal", "login": "svc", "port": 8443,
                            "extra": {"timeout": 3}}
    assert (value["var"], value["json"]) == ("hello", {"limit": 5})
    log = "\n".join(use.recorded.text())
    assert "connecting with password ***" in log
    assert API_CONN["password"] not in log

    shell = await _run(ScriptedControlPlane(_fetch(folder, "shell", python, db)), serve)
    assert shell.recorded.report.state == "success"
    assert shell.recorded.pushed == {"return_value": "run manual__2024-03-05 of demo on 2024-03-05"}
    assert any("run manual__2024-03-05 of demo" in line for line in shell.recorded.text())


async def test_failures_keep_airflows_retry_decision(project, serve, real_airflow, tmp_path):
    folder = project(DAG)
    db = tmp_path / "data.sqlite"
    flaky = await _run(ScriptedControlPlane(
        _fetch(folder, "flaky", real_airflow.python, db, max_tries=2)), serve)
    report = flaky.recorded.report
    assert (report.state, report.error_type, report.error_message, report.no_retry) == (
        "failed", "ValueError", "bad row 7", False)
    assert "in flaky" in report.traceback
    fatal = await _run(ScriptedControlPlane(_fetch(folder, "fatal", real_airflow.python, db)),
                       serve)
    report = fatal.recorded.report
    assert (report.state, report.error_type, report.no_retry) == (
        "failed", "AirflowFailException", True)
    missing = await _run(ScriptedControlPlane(_fetch(folder, "gone", real_airflow.python, db)),
                         serve)
    report = missing.recorded.report
    assert (report.state, report.error_type) == ("failed", "TaskLookupError")
    assert "has no task 'gone'" in report.error_message


async def test_a_branch_and_a_deferral(project, serve, real_airflow, tmp_path):
    folder = project(DAG)
    db = tmp_path / "data.sqlite"
    branch = await _run(ScriptedControlPlane(
        _fetch(folder, "pick", real_airflow.python, db, operator="branch")), serve)
    report = branch.recorded.report
    assert report.state == "success"
    assert json.loads(report.follow_task_ids_json) == ["left"]
    # what Airflow's SkipMixin records; a branch that skipped pushes no return_value
    assert branch.recorded.pushed == {"skipmixin_key": {"followed": ["left"]}}
    # a deferrable sensor: its DateTimeTrigger is one the control plane runs (kind time), so
    # the process ends with the deferral (test_agent_real_airflow_deferral.py resumes one)
    deferred = await _run(ScriptedControlPlane(
        _fetch(folder, "soon", real_airflow.python, db, operator="sensor")), serve)
    report = deferred.recorded.report
    assert report.state == "deferred", deferred.recorded.lines[-20:]
    assert json.loads(report.trigger_json)["kind"] == "time"
    assert "Pausing task as DEFERRED" in "\n".join(deferred.recorded.text())


def _older_task_sdk(base: Path, tmp_path: Path) -> Path:
    """An environment whose apache-airflow-task-sdk is a real, older release (1.1.0, from the
    registry through uv), placed ahead of the session environment's packages."""
    from leoflow.engine.environments.uv import find_uv

    venv = tmp_path / "old-sdk"
    uv = find_uv()
    subprocess.run([uv, "venv", "-q", "-p", str(base), str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "-p", str(python), "--no-deps",
                    "apache-airflow-task-sdk==1.1.0"], check=True, timeout=300)
    site = subprocess.run([str(base), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    mine = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    Path(mine.stdout.strip(), "zz_real_airflow.pth").write_text(site.stdout.strip() + "\n")
    return python


async def test_an_unsupported_task_sdk_is_refused_naming_its_version(project, serve,
                                                                     real_airflow, tmp_path):
    python = _older_task_sdk(real_airflow.python, tmp_path)
    folder = project(DAG)
    servicer = await _run(ScriptedControlPlane(
        _fetch(folder, "shell", python, tmp_path / "data.sqlite")), serve)
    report = servicer.recorded.report
    assert (report.state, report.error_type, report.no_retry) == (
        "failed", "UnsupportedTaskSdk", True)
    assert "apache-airflow-task-sdk 1.1.0" in report.error_message
    assert "supported: 1.3.2 (apache-airflow 3.3.2)" in report.error_message
    assert servicer.recorded.pushed == {}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
