"""The user-process task runner, driven through its channel in a real subprocess."""

from __future__ import annotations

from tests.unit.agent.runner_harness import run_task, write_dag

HEADER = """
from leoflow import DAG, task, PythonOperator, get_current_context
from leoflow import AirflowSkipException, AirflowFailException
"""


def test_args_kwargs_and_the_return_value(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def add(a, b, scale=1):
        print("adding", a, b)
        return {"sum": (a + b) * scale, "items": [a, b]}
    add(1, 2)
    PythonOperator(task_id="classic", python_callable=lambda x, y: f"{x}-{y}",
                   op_args=["p"], op_kwargs={"y": "q"})
""")
    result = run_task(project, "add", args=[1, 2], kwargs={"scale": 10})
    assert result.final == {"op": "result", "value": {"sum": 30, "items": [1, 2]}}
    assert result.stdout == "adding 1 2\n"
    assert result.returncode == 0
    classic = run_task(project, "classic", args=["p"], kwargs={"y": "q"})
    assert classic.final["value"] == "p-q"


def test_parameters_named_like_context_keys_receive_the_context(tmp_path):
    project = write_dag(tmp_path, HEADER + """
from datetime import datetime
with DAG("demo") as dag:
    @task
    def t(x, ds=None, params=None, ti=None, dag_run=None, logical_date=None, dag=None,
          task=None, run_id=None, try_number=None, conf=None, data_interval_end=None):
        assert isinstance(logical_date, datetime) and logical_date.tzinfo is not None
        assert isinstance(data_interval_end, datetime)
        return [x, ds, params["factor"], ti.task_id, dag_run.conf, dag_run.run_id,
                dag.dag_id, task.task_id, run_id, try_number, conf]
    t(1)
""")
    result = run_task(project, "t", args=[7])
    assert result.final["value"] == [7, "2024-03-05", 3, "t", {"who": "conf"},
                                     "manual__2024-03-05", "demo", "t", "manual__2024-03-05",
                                     1, {"who": "conf"}]


def test_an_argument_given_by_the_dag_wins_over_the_context(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t(ds):
        return ds
    t("explicit")
""")
    assert run_task(project, "t", args=["explicit"]).final["value"] == "explicit"
    assert run_task(project, "t", kwargs={"ds": "kw"}).final["value"] == "kw"


def test_star_star_kwargs_receives_the_whole_context(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t(x, **context):
        return sorted(k for k in context if k in {"ds", "ti", "params", "dag_run", "x",
                                                  "ts", "var", "conn", "macros"})
    t(1)
""")
    result = run_task(project, "t", args=[1])
    assert result.final["value"] == ["conn", "dag_run", "ds", "macros", "params", "ti", "ts",
                                     "var"]


def test_get_current_context_inside_the_task(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t():
        context = get_current_context()
        return [context["ds_nodash"], context["ti"].map_index, context["macros"].ds_add(
            context["ds"], 3)]
    t()
""")
    assert run_task(project, "t").final["value"] == ["20240305", -1, "2024-03-08"]


def test_xcom_pull_and_push_go_to_the_agent(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t(ti=None):
        ti.xcom_push(key="extra", value={"k": [1, 2]})
        return {
            "one": ti.xcom_pull(task_ids="up"),
            "many": ti.xcom_pull(task_ids=["up", "mapped", "none"]),
            "index": ti.xcom_pull(task_ids="mapped", map_indexes=1),
            "default": ti.xcom_pull(task_ids="none", default="fallback"),
            "key": ti.xcom_pull(task_ids="up", key="other"),
        }
    t()
""")
    result = run_task(project, "t", xcoms={"up": 42, "mapped": [10, 20]})
    assert result.final["value"] == {"one": 42, "many": [42, [10, 20], None], "index": [10, 20],
                                     "default": "fallback", "key": 42}
    assert result.pushed == {"extra": {"k": [1, 2]}}
    pulls = [r for r in result.requests if r["op"] == "xcom_pull"]
    assert pulls[2]["map_indexes"] == [1]
    assert pulls[0]["map_indexes"] is None
    assert pulls[4]["key"] == "other"


def test_an_xcom_request_refused_by_the_agent_fails_the_task(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t(ti=None):
        return ti.xcom_pull(task_ids="missing")
    t()
""")
    result = run_task(project, "t")
    assert result.final["op"] == "error"
    assert result.final["type"] == "RemoteError"
    assert "no such task" in result.final["message"]


def test_skip_and_fail_exceptions(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def skipper():
        raise AirflowSkipException("nothing to do today")
    @task
    def failer():
        raise AirflowFailException("bad input, retrying will not help")
    skipper(); failer()
""")
    skip = run_task(project, "skipper")
    assert skip.final == {"op": "skip", "message": "nothing to do today"}
    assert skip.returncode == 0
    fail = run_task(project, "failer")
    assert fail.final["op"] == "error"
    assert fail.final["no_retry"] is True
    assert fail.final["type"] == "AirflowFailException"


def test_an_exception_reports_type_message_and_the_users_traceback(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t():
        helper()
    def helper():
        raise ValueError("the data is wrong")
    t()
""")
    result = run_task(project, "t")
    final = result.final
    assert final["op"] == "error"
    assert (final["type"], final["message"], final["no_retry"]) == (
        "ValueError", "the data is wrong", False)
    assert "dag.py\", line 10, in helper" in final["traceback"]
    assert "dag.py\", line 8, in t" in final["traceback"]
    assert "task_runner" not in final["traceback"]
    assert final["traceback"].endswith("ValueError: the data is wrong")
    assert "ValueError: the data is wrong" in result.stderr  # the log shows it too
    assert result.returncode == 1


def test_a_non_json_return_value_is_a_clear_type_error(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t():
        return {1, 2}
    t()
""")
    final = run_task(project, "t").final
    assert final["op"] == "error" and final["type"] == "TypeError"
    assert final["message"].startswith(
        "task returned a value of type set, which is not JSON-serializable")


def test_multiple_outputs_needs_a_dict(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task(multiple_outputs=True)
    def good():
        return {"a": 1, "b": [2]}
    @task(multiple_outputs=True)
    def bad():
        return [1, 2]
    good(); bad()
""")
    assert run_task(project, "good", multiple_outputs=True).final["value"] == {"a": 1, "b": [2]}
    final = run_task(project, "bad", multiple_outputs=True).final
    assert final["type"] == "TypeError"
    assert "expected a dict for multiple_outputs" in final["message"]


def test_task_bash_returns_the_command_and_branch_results_are_checked(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task.bash
    def cmd(name):
        return f"echo hello {name}"
    @task.bash
    def empty():
        return ""
    @task.branch
    def pick():
        return 3
    cmd("x"); empty(); pick()
""")
    assert run_task(project, "cmd", args=["bob"], operator="bash").final == {
        "op": "result", "value": "echo hello bob"}
    assert "non-empty string" in run_task(project, "empty", operator="bash").final["message"]
    assert "task id" in run_task(project, "pick", operator="branch").final["message"]


def test_variables_and_connections_from_the_environment(tmp_path):
    project = write_dag(tmp_path, HEADER + """
from airflow.models import Variable
from airflow.sdk import Variable as SdkVariable
from airflow.hooks.base import BaseHook
from airflow.exceptions import AirflowNotFoundException
with DAG("demo") as dag:
    @task
    def t():
        db = BaseHook.get_connection("my_db")
        api = BaseHook.get_connection("api")
        try:
            BaseHook.get_connection("nope")
        except AirflowNotFoundException as exc:
            missing_conn = str(exc)
        try:
            Variable.get("absent")
        except KeyError as exc:
            missing_var = str(exc)
        return {
            "plain": Variable.get("greeting"),
            "json": Variable.get("settings", deserialize_json=True),
            "default": Variable.get("absent", default_var="dflt"),
            "sdk_default": SdkVariable.get("absent", default="d2"),
            "db": [db.conn_type, db.host, db.port, db.login, db.password, db.schema,
                   db.extra_dejson],
            "uri": db.get_uri(),
            "api": [api.conn_type, api.host, api.extra_dejson],
            "missing_conn": missing_conn, "missing_var": missing_var,
        }
    t()
""")
    env = {"AIRFLOW_VAR_GREETING": "hi", "AIRFLOW_VAR_SETTINGS": '{"n": 2}',
           "AIRFLOW_CONN_MY_DB": "postgres://u%40x:p%2Fw@db.local:5433/sales?sslmode=require",
           "AIRFLOW_CONN_API": '{"conn_type": "http", "host": "api.local", '
                               '"extra": {"token": "t"}}'}
    value = run_task(project, "t", env=env).final["value"]
    assert value["plain"] == "hi" and value["json"] == {"n": 2}
    assert value["default"] == "dflt" and value["sdk_default"] == "d2"
    assert value["db"] == ["postgres", "db.local", 5433, "u@x", "p/w", "sales",
                           {"sslmode": "require"}]
    assert value["uri"] == "postgres://u%40x:p%2Fw@db.local:5433/sales?sslmode=require"
    assert value["api"] == ["http", "api.local", {"token": "t"}]
    assert "The conn_id `nope` isn't defined" in value["missing_conn"]
    assert "Variable absent does not exist" in value["missing_var"]


def test_unknown_dag_or_task_and_a_broken_dag_file(tmp_path):
    project = write_dag(tmp_path, HEADER + """
with DAG("demo") as dag:
    @task
    def t():
        return 1
    t()
""")
    final = run_task(project, "nope").final
    assert final["type"] == "TaskLookupError"
    assert "has no task 'nope' (it has: t)" in final["message"]
    final = run_task(project, "t", dag_id="other").final
    assert "defines no DAG 'other' (it defines: demo)" in final["message"]
    (project / "dag.py").write_text("import not_installed_pkg\n")
    final = run_task(project, "t").final
    assert final["type"] == "ModuleNotFoundError"
    assert "not_installed_pkg" in final["message"]
