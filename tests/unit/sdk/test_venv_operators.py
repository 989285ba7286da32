"""PythonVirtualenvOperator, ExternalPythonOperator, their branch forms and decorators:
authoring, dag.json, the Airflow import paths, and the call in another interpreter (a real
subprocess of this machine's Python, as the task runner makes it)."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leoflow import DAG, task
from leoflow.sdk import airflow_shim
from leoflow.sdk.compile_child import compile_file
from leoflow.sdk.context_objects import TaskInstance, build_context
from leoflow.sdk.errors import AirflowException, AirflowSkipException, DagDefinitionError
from leoflow.sdk.task_runner import _check_result, execute_task
from leoflow.sdk.venv_operators import (
    VENV_PYTHON_ENV,
    BranchExternalPythonOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    function_source,
)
from tests.unit.sdk.conftest import by_id

START = datetime(2021, 1, 1, tzinfo=UTC)


class NoXCom:
    def pull(self, task_ids, key, map_indexes):
        return [None for _ in task_ids]

    def push(self, key, value):
        raise AssertionError("not expected")


def run(op, args=(), kwargs=None):
    """What the task runner does with the task: its value, checked as the runner checks it."""
    raw = {"run_id": "manual__x", "run_type": "manual",
           "logical_date": "2026-11-24T00:00:00+00:00", "params": {"who": "p"}}
    ti = TaskInstance(dag_id=op.dag_id, task_id=op.task_id, run_id="manual__x", task=op,
                      transport=NoXCom())
    context = build_context(raw, dag=op.dag, task=op, ti=ti)
    value = execute_task(op, {"operator": op.operator_kind}, list(args), dict(kwargs or {}),
                         context)
    _check_result({"operator": op.operator_kind}, value)
    return value


# -- functions that run in the other interpreter ---------------------------------------------
def add(a, b, ds=None):
    import sys

    print(f"adding in {sys.executable}")
    return {"sum": a + b, "ds": ds}


def uses_string_args():
    return virtualenv_string_args  # noqa: F821  (a global the script defines)


def wants_templates(templates_dict, **kwargs):
    return [templates_dict, sorted(kwargs)]


def ignores_templates(x):
    return x


def fails():
    raise ValueError("bad input 42")


def exits(code):
    import sys

    sys.exit(code)


def returns_a_set():
    return {1, 2}


def choose(options):
    return f"go_{options[-1]}"


# -- authoring and dag.json -------------------------------------------------------------------
def test_virtualenv_operator_describes_its_environment(describe):
    with DAG("v", start_date=START, schedule=None) as dag:
        PythonVirtualenvOperator(task_id="plain", python_callable=add, op_args=[1, 2],
                                 requirements=["colorama==0.4.0", "funcsigs"],
                                 system_site_packages=False, serializer="dill",
                                 pip_install_options=["--no-deps"], index_urls="http://i/simple",
                                 venv_cache_path="/tmp")
        PythonVirtualenvOperator(task_id="defaults", python_callable=add, requirements="six")
    tasks = by_id(describe(dag))
    plain = tasks["plain"]
    assert plain["operator"] == "python"
    assert plain["operator_class"] == "PythonVirtualenvOperator"
    assert plain["inputs"]["args"] == [{"literal": 1}, {"literal": 2}]
    assert plain["options"]["virtualenv"] == {
        # dill is added, as Airflow adds the serializer to an isolated environment
        "requirements": ["colorama==0.4.0", "dill", "funcsigs"],
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "system_site_packages": False, "pip_install_options": ["--no-deps"],
        "index_urls": ["http://i/simple"]}
    assert plain["options"]["serializer"] == "dill"
    defaults = tasks["defaults"]["options"]["virtualenv"]
    assert defaults["requirements"] == ["six"] and defaults["system_site_packages"] is True


def test_requirements_file_is_read_next_to_the_dag_file(tmp_path):
    (tmp_path / "reqs.txt").write_text("# pinned\ncolorama==0.4.0  # colours\n\nsix\n")
    (tmp_path / "dag.py").write_text(textwrap.dedent("""
        from airflow.providers.standard.operators.python import PythonVirtualenvOperator
        from airflow.sdk import DAG

        def f():
            return 1

        with DAG("r", schedule=None):
            PythonVirtualenvOperator(task_id="t", python_callable=f, requirements="reqs.txt")
            PythonVirtualenvOperator(task_id="missing", python_callable=f,
                                     requirements="nope.txt")
    """))
    try:
        result = compile_file(str(tmp_path / "dag.py"), str(tmp_path))
    finally:
        airflow_shim.uninstall()
    assert not result["ok"]
    error = result["error"]
    assert "PythonVirtualenvOperator('missing')" in error["message"]
    assert "nope.txt" in error["message"] and error["line"] == 10
    (tmp_path / "dag.py").write_text(
        (tmp_path / "dag.py").read_text().replace('requirements="nope.txt"', "requirements=[]"))
    try:
        result = compile_file(str(tmp_path / "dag.py"), str(tmp_path))
    finally:
        airflow_shim.uninstall()
    assert result["ok"], result
    task_spec = next(t for t in result["dags"][0]["tasks"] if t["task_id"] == "t")
    assert task_spec["options"]["virtualenv"]["requirements"] == ["colorama==0.4.0", "six"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"python_callable": lambda: 1}, "not lambdas"),
    ({"python_callable": "add"}, "needs a function defined with def"),
    ({"python_callable": add, "serializer": "json"}, "unsupported serializer 'json'"),
    ({"python_callable": add, "python_version": 3.11}, "python_version must be a string"),
    ({"python_callable": add, "python_version": "2.7", "op_args": [1]},
     "not supported across Python major versions"),
    ({"python_callable": add, "use_airflow_context": True}, "use_airflow_context"),
    ({"python_callable": add, "requirements": [1]}, "requirements must be strings"),
])
def test_bad_arguments_name_the_task_and_line(kwargs, message):
    with DAG("bad", start_date=START, schedule=None), pytest.raises(DagDefinitionError) as err:
        PythonVirtualenvOperator(task_id="t", **kwargs)
    assert message in str(err.value)
    assert err.value.line is not None and err.value.file == __file__


def test_external_python_needs_its_interpreter(describe):
    with DAG("e", start_date=START, schedule=None) as dag:
        with pytest.raises(DagDefinitionError, match="needs python="):
            ExternalPythonOperator(task_id="none", python_callable=add)
        BranchExternalPythonOperator(task_id="b", python=sys.executable,
                                     python_callable=choose, op_args=[["a"]])
    spec = by_id(describe(dag))["b"]
    assert spec["operator"] == "branch"
    assert spec["options"]["python"] == sys.executable
    assert "virtualenv" not in spec["options"]


def test_decorators_make_the_same_tasks(describe):
    with DAG("d", start_date=START, schedule=None) as dag:
        @task.virtualenv(requirements=["numpy~=1.26.0"], system_site_packages=False,
                         venv_cache_path="/tmp")
        def crunch(n):
            return n

        @task.branch_virtualenv(requirements=["numpy~=1.26.0"])
        def pick(choices) -> str:
            return choices[0]

        @task.external_python(task_id="ext", python=sys.executable)
        def ext(value):
            return value

        @task.branch_external_python(python=sys.executable)
        def pick_ext():
            return "ext"

        ext(crunch(3)) >> pick(choices=["a"]) >> pick_ext()
    tasks = by_id(describe(dag))
    assert {t: s["operator"] for t, s in tasks.items()} == {
        "crunch": "python", "pick": "branch", "ext": "python", "pick_ext": "branch"}
    assert tasks["crunch"]["options"]["virtualenv"]["requirements"] == ["numpy~=1.26.0"]
    assert tasks["ext"]["inputs"]["args"] == [{"xcom": {"task_id": "crunch",
                                                        "key": "return_value"}}]
    assert tasks["pick_ext"]["options"]["python"] == sys.executable
    assert tasks["pick"]["multiple_outputs"] is False


def test_airflow_import_paths(tmp_path):
    (tmp_path / "dag.py").write_text(textwrap.dedent("""
        import sys
        from airflow.providers.standard.operators.python import (
            BranchExternalPythonOperator, BranchPythonVirtualenvOperator,
            ExternalPythonOperator, PythonOperator, PythonVirtualenvOperator)
        from airflow.operators.python import PythonVirtualenvOperator as Old
        from airflow.sdk import DAG, task

        def f():
            return 1

        with DAG("paths", schedule=None):
            PythonOperator(task_id="plain", python_callable=f)
            Old(task_id="old", python_callable=f)
            ExternalPythonOperator(task_id="ext", python=sys.executable, python_callable=f)
            task.external_python(python=sys.executable)(f)()
    """))
    try:
        result = compile_file(str(tmp_path / "dag.py"), str(tmp_path))
    finally:
        airflow_shim.uninstall()
    assert result["ok"], result
    classes = {t["task_id"]: t["operator_class"] for t in result["dags"][0]["tasks"]}
    assert classes == {"plain": "PythonOperator", "old": "PythonVirtualenvOperator",
                       "ext": "ExternalPythonOperator", "f": "ExternalPythonDecoratedOperator"}


def test_function_source_drops_decorators():
    def outer():
        @task.virtualenv(
            requirements=["x"],
        )
        def inner(a):
            return a  # body kept

        return inner

    source = function_source(outer().function)
    assert source.startswith("def inner(a):\n")
    assert "body kept" in source and "@task" not in source


# -- the call in another interpreter ------------------------------------------------------------
def test_external_python_runs_the_function_with_its_arguments_and_context(capfd):
    with DAG("x", start_date=START, schedule=None):
        op = ExternalPythonOperator(task_id="t", python=sys.executable, python_callable=add)
    assert run(op, [2], {"b": 3}) == {"sum": 5, "ds": "2026-11-24"}
    assert f"adding in {sys.executable}" in capfd.readouterr().out


def test_string_args_and_templates_dict_reach_the_function():
    with DAG("x", start_date=START, schedule=None):
        op = ExternalPythonOperator(task_id="s", python=sys.executable,
                                    python_callable=uses_string_args, string_args=["a", "b"])
    assert run(op) == ["a", "b"]
    with DAG("y", start_date=START, schedule=None):
        wants = ExternalPythonOperator(task_id="w", python=sys.executable,
                                       python_callable=wants_templates,
                                       templates_dict={"query": "select 1"})
        ignores = ExternalPythonOperator(task_id="i", python=sys.executable,
                                         python_callable=ignores_templates, op_args=[7],
                                         templates_dict={"query": "select 1"})
    assert wants.op_kwargs == {"templates_dict": {"query": "select 1"}}  # rendered as input
    templates, context_keys = run(wants, [], wants.op_kwargs)
    assert templates == {"query": "select 1"}
    assert {"ds", "run_id", "params", "ts"} <= set(context_keys)
    assert "ti" not in context_keys  # only what can cross to another interpreter
    assert run(ignores, [7], ignores.op_kwargs) == 7


def test_a_failing_function_fails_the_task_with_its_error():
    with DAG("x", start_date=START, schedule=None):
        op = ExternalPythonOperator(task_id="f", python=sys.executable, python_callable=fails)
        odd = ExternalPythonOperator(task_id="o", python=sys.executable,
                                     python_callable=returns_a_set)
    with pytest.raises(AirflowException, match="ValueError: bad input 42"):
        run(op)
    with pytest.raises(AirflowException, match="type set, which is not JSON-serializable"):
        run(odd)


def test_skip_on_exit_code():
    with DAG("x", start_date=START, schedule=None):
        skip = ExternalPythonOperator(task_id="s", python=sys.executable, python_callable=exits,
                                      op_args=[3], skip_on_exit_code=3)
        fail = ExternalPythonOperator(task_id="f", python=sys.executable, python_callable=exits,
                                      op_args=[4], skip_on_exit_code=[3])
    with pytest.raises(AirflowSkipException, match="code 3"):
        run(skip, [3])
    with pytest.raises(AirflowException, match="non-zero exit status 4"):
        run(fail, [4])


def test_a_missing_interpreter_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "nope" / "bin" / "python")
    with DAG("x", start_date=START, schedule=None):
        op = ExternalPythonOperator(task_id="m", python=missing, python_callable=add)
        rel = ExternalPythonOperator(task_id="r", python="python3", python_callable=add)
    with pytest.raises(AirflowException, match=f"the interpreter '{missing}' does not exist"):
        run(op, [1, 2])
    with pytest.raises(AirflowException, match="must be an absolute path"):
        run(rel, [1, 2])


def test_branch_result_is_checked_like_a_branch():
    with DAG("x", start_date=START, schedule=None):
        op = BranchExternalPythonOperator(task_id="b", python=sys.executable,
                                          python_callable=choose)
    assert run(op, [["a", "c"]]) == "go_c"


def test_virtualenv_operator_uses_the_prepared_interpreter(monkeypatch):
    with DAG("x", start_date=START, schedule=None):
        op = PythonVirtualenvOperator(task_id="v", python_callable=add, requirements=["six"])
    monkeypatch.delenv(VENV_PYTHON_ENV, raising=False)
    with pytest.raises(AirflowException, match="was not prepared"):
        run(op, [1, 1])
    monkeypatch.setenv(VENV_PYTHON_ENV, sys.executable)
    assert run(op, [1, 1])["sum"] == 2
    monkeypatch.setenv(VENV_PYTHON_ENV, str(Path("/nonexistent/bin/python")))
    with pytest.raises(AirflowException, match="does not exist"):
        run(op, [1, 1])


def test_mapped_over_op_args_and_op_kwargs(describe):
    with DAG("m", start_date=START, schedule=None) as dag:
        by_args = ExternalPythonOperator.partial(
            task_id="by_args", python=sys.executable, python_callable=add,
        ).expand(op_args=[[1, 2], [3, 4]])
        by_kwargs = ExternalPythonOperator.partial(
            task_id="by_kwargs", python=sys.executable, python_callable=add, op_args=[10],
        ).expand(op_kwargs=[{"b": 1}])
    spec = by_id(describe(dag))["by_args"]
    assert spec["expand"]["values"] == {"op_args": {"literal": [[1, 2], [3, 4]]}}
    # the task runner gives a mapped instance its element under the field's name
    assert run(by_args, [], {"op_args": [3, 4]})["sum"] == 7
    assert run(by_kwargs, [10], {"op_kwargs": {"b": 1}})["sum"] == 11
