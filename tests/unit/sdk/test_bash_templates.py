"""Authoring of BashOperator's extras, the templating surface, Param keys and
ObjectStoragePath: what a DAG file builds and how dag.json describes it."""

from __future__ import annotations

import os

import pytest

from leoflow import DAG, Param
from leoflow.sdk.objectstorage import ObjectStorageNotSupported, ObjectStoragePath


def test_values_display_with_int_keys_is_stored_as_json_writes_them(describe):
    with DAG("labels", params={
        "pick": Param(3, type=["number", "null"], enum=[1, 2, 3, None],
                      values_display={1: "One", 2: "Two", 3: "Three"}),
        "flags": Param(True, type="boolean", values_display={True: "Yes", False: "No",
                                                             None: "-", 1.5: "x"}),
    }) as d:
        pass
    params = describe(d)["params"]
    assert params["pick"]["schema"]["values_display"] == {"1": "One", "2": "Two",
                                                          "3": "Three"}
    assert params["pick"]["schema"]["enum"] == [1, 2, 3, None]  # values are not touched
    assert params["pick"]["default"] == 3
    assert params["flags"]["schema"]["values_display"] == {"true": "Yes", "false": "No",
                                                           "null": "-", "1.5": "x"}


def test_a_required_param_has_no_default_in_dag_json(describe):
    with DAG("required", params={"name": Param(type="string", minLength=10)}) as d:
        pass
    assert describe(d)["params"]["name"] == {"schema": {"type": "string", "minLength": 10},
                                             "description": None}


# -- ObjectStoragePath ---------------------------------------------------------------------

def test_a_remote_path_is_built_at_compile_time_and_refused_at_io():
    base = ObjectStoragePath("s3://aws_default@airflow-tutorial-data/")
    path = base / "air_quality_20240101.parquet"
    assert (path.protocol, path.conn_id, path.bucket) == ("s3", "aws_default",
                                                          "airflow-tutorial-data")
    assert path.key == "air_quality_20240101.parquet"
    assert path.path == "airflow-tutorial-data/air_quality_20240101.parquet"
    assert path.suffix == ".parquet"
    assert str(path) == "s3://aws_default@airflow-tutorial-data/air_quality_20240101.parquet"
    with pytest.raises(ObjectStorageNotSupported, match=r"mkdir\(\).*local paths \(file://\) "
                       r"only, not 's3' storage"):
        base.mkdir(exist_ok=True)
    with pytest.raises(ObjectStorageNotSupported, match=r"open\('wb'\)"):
        path.open("wb")
    with pytest.raises(ObjectStorageNotSupported, match=r"\.fs"):
        _ = path.fs


def test_a_file_path_reads_and_writes_the_local_filesystem(tmp_path):
    base = ObjectStoragePath(f"file://{tmp_path}")
    (base / "out").mkdir(exist_ok=True)
    target = base / "out" / "data.txt"
    target.write_text("hello")
    assert target.exists() and target.is_file()
    assert target.read_text() == "hello"
    with target.open("rb") as handle:
        assert handle.read() == b"hello"
    assert [p.name for p in (base / "out").iterdir()] == ["data.txt"]
    plain = ObjectStoragePath(str(tmp_path), "out", "data.txt")
    assert plain.protocol == "file" and plain.read_bytes() == b"hello"
    assert os.fspath(plain) == str(tmp_path / "out" / "data.txt")


def test_object_storage_path_imports_from_airflow_sdk():
    from leoflow.sdk import airflow_shim

    airflow_shim.install()
    try:
        from airflow.io.path import ObjectStoragePath as Airflow2  # type: ignore
        from airflow.sdk import ObjectStoragePath as Airflow3  # type: ignore
    finally:
        airflow_shim.uninstall()
    assert Airflow3 is ObjectStoragePath and Airflow2 is ObjectStoragePath


# -- BashOperator's output_processor and multiple_outputs ---------------------------------

def test_bash_output_processor_and_multiple_outputs_are_recorded(describe):
    import json

    from leoflow import BashOperator, task

    with DAG("bash_extras") as d:
        classic = BashOperator(task_id="classic", bash_command="echo '{\"a\": 1}'",
                               output_processor=json.loads, multiple_outputs=True)
        plain = BashOperator(task_id="plain", bash_command="echo hi")

        @task.bash(multiple_outputs=True, output_processor=json.loads)
        def decorated() -> str:
            return "echo '{\"b\": 2}'"

        decorated()
    tasks = {t["task_id"]: t for t in describe(d)["tasks"]}
    assert tasks["classic"]["options"]["output_processor"] is True
    assert tasks["classic"]["multiple_outputs"] is True
    assert "output_processor" not in tasks["plain"]["options"]  # unchanged spec (and hash)
    assert tasks["plain"]["multiple_outputs"] is False
    assert tasks["decorated"]["options"]["output_processor"] is True
    assert tasks["decorated"]["multiple_outputs"] is True
    assert classic.output_processor is json.loads and plain.output_processor is None


def test_a_bash_output_processor_must_be_callable():
    from leoflow import BashOperator
    from leoflow.sdk.errors import DagDefinitionError

    with DAG("bad"), pytest.raises(DagDefinitionError,
                                   match=r"output_processor must be a callable.*'json'"):
        BashOperator(task_id="t", bash_command="echo", output_processor="json")


def test_the_task_runner_applies_the_output_processor_and_checks_multiple_outputs():
    import json

    from leoflow import BashOperator
    from leoflow.sdk.task_runner import _check_result, execute_task

    with DAG("runner"):
        op = BashOperator(task_id="t", bash_command="echo", output_processor=json.loads,
                          multiple_outputs=True)
    payload = {"operator": "bash", "multiple_outputs": True, "bash_output": '{"n": 3}'}
    value = execute_task(op, payload, [], {}, {})
    assert value == {"n": 3}
    _check_result(payload, value)
    with pytest.raises(TypeError, match="Returned output was type list, expected a dict"):
        _check_result(payload, [1])
    # a @task.bash function's command is not checked against multiple_outputs
    _check_result({"operator": "bash", "multiple_outputs": True}, "echo '{}'")


# -- templating surface ------------------------------------------------------------------

def test_template_files_and_templates_dict_travel_as_options(describe):
    from leoflow import BaseOperator, task

    class Query(BaseOperator):
        template_fields = ("sql",)
        template_ext = (".sql",)

        def __init__(self, sql: str, **kwargs) -> None:
            super().__init__(**kwargs)
            self.sql = sql

        def execute(self, context):
            return self.sql

    with DAG("templated", template_searchpath="/srv/templates") as d:
        @task(templates_exts=[".sql"], templates_dict={"q": "q.sql"})
        def run_it(sql: str) -> str:
            return sql

        @task
        def plain() -> None:
            return None

        run_it("a.sql")
        plain()
        Query(task_id="query", sql="b.sql")
    tasks = {t["task_id"]: t for t in describe(d)["tasks"]}
    assert tasks["run_it"]["options"] == {"template_ext": [".sql"],
                                          "template_searchpath": ["/srv/templates"],
                                          "templates_dict": {"q": "q.sql"}}
    assert tasks["query"]["options"]["template_ext"] == [".sql"]
    assert tasks["query"]["inputs"]["kwargs"]["sql"] == {"literal": "b.sql"}
    assert tasks["plain"]["options"] == {}  # no template files: spec unchanged


def test_render_template_outside_a_running_task_says_why():
    from leoflow import BashOperator

    with DAG("compile_time"):
        op = BashOperator(task_id="t", bash_command="echo")
    assert op.render_template(5, {}) == 5  # not text: returned as is, as in Airflow
    with pytest.raises(RuntimeError, match=r"render_template\(\) works while the task runs"):
        op.render_template("{{ ds }}", {})


def test_render_template_sends_the_json_part_of_the_context(monkeypatch):
    from datetime import datetime

    from leoflow import BashOperator
    from leoflow.sdk import templating

    sent: list = []
    templating.set_renderer(lambda content, ctx: sent.append((content, ctx)) or ["r", 1])
    try:
        with DAG("runtime"):
            op = BashOperator(task_id="t", bash_command="echo")
        value = op.render_template(("{{ a }}", 1), {"a": 1, "when": datetime(2024, 1, 1),
                                                   "params": {"p": 2}})
    finally:
        templating.set_renderer(None)
    assert value == ("r", 1)  # a tuple stays a tuple
    assert sent == [(("{{ a }}", 1), {"a": 1, "params": {"p": 2}})]
