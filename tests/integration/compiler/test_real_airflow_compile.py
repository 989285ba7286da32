"""DAG files compiled in an environment that holds the real Airflow (issue "Airflow
providers run unchanged"): the compile child reads Airflow's own DAG objects and writes the
dag.json a shim-compiled file gives, each task marked ``runtime: airflow``.

The environment is the session's (``tests/real_airflow.py``): the real apache-airflow 3.3.2
and providers, installed by uv through Leoflow's environment code.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from leoflow.engine.compiler.compile import compile_project
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.spec.model import DagSpec
from tests.real_airflow import AIRFLOW_VERSION, RealAirflowEnv

pytestmark = pytest.mark.slow

P1 = '''\
import pendulum
from airflow.sdk import DAG
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
with DAG("p1", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    create = SQLExecuteQueryOperator(task_id="create", conn_id="my_sqlite",
                                     sql="CREATE TABLE IF NOT EXISTS t (x INT)")
    count = SQLExecuteQueryOperator(task_id="count", conn_id="my_sqlite",
                                    sql="SELECT COUNT(*) FROM t")
    create >> count
'''


def test_the_issue_p1_dag_compiles_in_its_own_environment(real_airflow: RealAirflowEnv,
                                                          tmp_path: Path) -> None:
    """The issue's DAG, as its user runs it: leoflow.yaml lists the providers, the DAG's
    own environment is made (from uv's warm cache) and the compiler finds its interpreter
    under the home, as ``leoflow run`` does."""
    home = tmp_path / "home"
    project = real_airflow.project(tmp_path / "p1", "p1", P1)
    env = asyncio.run(RealAirflowEnv.ensure(home, "p1"))
    compiled = compile_project(project, home=home)
    (doc,) = compiled.documents
    assert (doc["dag_id"], doc["runtime"], doc["schedule"]["kind"]) == ("p1", "airflow", "none")
    assert doc["airflow_versions"]["apache-airflow"] == AIRFLOW_VERSION
    assert doc["start_date"] == "2026-01-01T00:00:00+00:00"
    assert sorted(doc["dependencies"]) == list(env.dependencies)
    tasks = {t["task_id"]: t for t in doc["tasks"]}
    assert list(tasks) == ["create", "count"]
    for task_id, sql, line in (("create", "CREATE TABLE IF NOT EXISTS t (x INT)", 5),
                               ("count", "SELECT COUNT(*) FROM t", 7)):
        task = tasks[task_id]
        assert task["runtime"] == "airflow"
        assert task["operator"] == "python"  # its execute runs in the user process
        assert task["operator_class"] == "SQLExecuteQueryOperator"
        assert task["operator_module"] == "airflow.providers.common.sql.operators.sql"
        assert task["inputs"]["kwargs"]["sql"] == {"literal": sql}
        assert task["inputs"]["kwargs"]["conn_id"] == {"literal": "my_sqlite"}
        assert (task["trigger_rule"], task["retries"], task["line"]) == ("all_success", 0, line)
    assert tasks["create"]["upstream"] == [] and tasks["count"]["upstream"] == ["create"]
    spec = DagSpec.from_json(doc)  # what the scheduler and the runtime read
    assert spec.runtime == "airflow" and spec.task("count").runtime == "airflow"
    assert spec.task("count").operator_module == "airflow.providers.common.sql.operators.sql"


def test_an_airflow_sdk_dag_compiles_in_an_environment_holding_a_provider(
        real_airflow: RealAirflowEnv, tmp_path: Path) -> None:
    """The issue's second report: a one-task ``airflow.sdk`` DAG gave 'defines no DAG' as
    soon as the environment held a provider. Beside it, a ``from leoflow import`` DAG in
    the same environment still compiles with Leoflow's own SDK."""
    one = tmp_path / "one"
    one.mkdir()
    (one / "dag.py").write_text(textwrap.dedent('''\
        from airflow.sdk import DAG, task

        with DAG("one", schedule="@daily", tags=["x"]) as dag:
            @task(retries=2)
            def hello(name: str = "world") -> str:
                """Say hello."""
                return f"hello {name}"

            hello()
        '''), "utf-8")
    (one / "leoflow.yaml").write_text("dag_id: one\n", "utf-8")
    (doc,) = compile_project(one, python=str(real_airflow.python)).documents
    (task,) = doc["tasks"]
    assert doc["runtime"] == "airflow" and task["runtime"] == "airflow"
    assert doc["schedule"] == {"kind": "cron", "expression": "@daily", "cron": "0 0 * * *",
                               "timezone": "UTC", "data_interval": False}
    assert (task["task_id"], task["operator"], task["callable"]) == ("hello", "python", "hello")
    assert (task["retries"], task["doc"], task["line"]) == (2, "Say hello.", 9)  # hello()
    assert task["operator_module"] == "airflow.providers.standard.decorators.python"

    native = tmp_path / "native"
    native.mkdir()
    (native / "dag.py").write_text(textwrap.dedent('''\
        from leoflow import DAG, task

        with DAG("native", schedule=None):
            @task
            def hello() -> str:
                return "hello"

            hello()
        '''), "utf-8")
    (native / "leoflow.yaml").write_text("dag_id: native\n", "utf-8")
    (doc,) = compile_project(native, python=str(real_airflow.python)).documents
    assert "runtime" not in doc and "runtime" not in doc["tasks"][0]
    assert doc["tasks"][0]["operator_class"] == "PythonDecoratedOperator"


def test_what_leoflow_cannot_schedule_is_named_with_file_and_line(
        real_airflow: RealAirflowEnv, tmp_path: Path) -> None:
    """A real Airflow timetable Leoflow's scheduler has no equivalent for fails the compile
    with the DAG, the timetable and the line; a file with no DAG says so."""
    project = tmp_path / "events"
    project.mkdir()
    (project / "dag.py").write_text(textwrap.dedent('''\
        import pendulum
        from airflow.sdk import DAG
        from airflow.timetables.events import EventsTimetable
        from airflow.providers.standard.operators.empty import EmptyOperator

        with DAG("events", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
                 schedule=EventsTimetable([pendulum.datetime(2026, 2, 1, tz="UTC")])):
            EmptyOperator(task_id="e")
        '''), "utf-8")
    (project / "leoflow.yaml").write_text("dag_id: events\n", "utf-8")
    with pytest.raises(CompileError) as caught:
        compile_project(project, python=str(real_airflow.python))
    assert caught.value.kind == "definition" and caught.value.line == 6
    assert "EventsTimetable" in caught.value.message
    assert "is not supported by Leoflow's scheduler" in caught.value.message

    (project / "dag.py").write_text("import airflow.sdk\nx = 1\n", "utf-8")
    with pytest.raises(CompileError) as caught:
        compile_project(project, python=str(real_airflow.python))
    assert caught.value.kind == "no_dag"


def test_a_folder_of_real_airflow_files_keeps_each_dag_to_its_file(
        real_airflow: RealAirflowEnv, tmp_path: Path) -> None:
    """A DAG file importing another's DAG does not claim it (Airflow would find it in both
    files and refuse the second as a duplicate; the shim path keeps it to its file too), a
    DAG made by a helper's factory function belongs to the file that called it, and
    Airflow's own DuplicateTaskIdFound is reported as a duplicate task id at its line."""
    root = tmp_path / "dags"
    root.mkdir()
    header = ("import pendulum\nfrom airflow.sdk import DAG\n"
              "from airflow.providers.standard.operators.empty import EmptyOperator\n")
    start = 'start_date=pendulum.datetime(2026, 1, 1, tz="UTC")'
    (root / "a.py").write_text(header + f'with DAG("a", schedule=None, {start}) as dag_a:\n'
                               '    EmptyOperator(task_id="x")\n', "utf-8")
    (root / "b.py").write_text(header + "from a import dag_a\nfrom factory import make\n"
                               f'with DAG("b", schedule=None, {start}):\n'
                               '    EmptyOperator(task_id="y", doc=dag_a.dag_id)\n'
                               'made = make("c")\n', "utf-8")
    (root / "factory.py").write_text(header + "def make(dag_id):\n"
                                     f"    with DAG(dag_id, schedule=None, {start}) as dag:\n"
                                     '        EmptyOperator(task_id="z")\n'
                                     "    return dag\n", "utf-8")
    (root / "dup.py").write_text(header + f'with DAG("dup", schedule=None, {start}):\n'
                                 '    EmptyOperator(task_id="t")\n'
                                 '    EmptyOperator(task_id="t")\n', "utf-8")
    project = compile_project(root, keep_going=True, python=str(real_airflow.python))
    found = {d["dag_id"]: (d["fileloc"], [t["task_id"] for t in d["tasks"]])
             for d in project.documents}
    assert found == {"a": ("a.py", ["x"]), "b": ("b.py", ["y"]), "c": ("b.py", ["z"])}
    (error,) = project.errors
    assert (Path(error.file or "").name, error.kind, error.line) == (
        "dup.py", "duplicate_task_id", 6)
    assert "Task id 't' has already been added" in error.message
