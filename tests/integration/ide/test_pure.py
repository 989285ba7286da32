"""The IDE's pure parts: the graph's Mermaid text, the Trigger form from params, reading
compile events, Airflow's state colours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.reload.errors import ReloadError
from leoflow.engine.reload.events import ReloadEvent
from leoflow.engine.spec.model import DagSpec
from leoflow.ide.compile_events import CompileOutcome, outcome_from
from leoflow.ide.graph import Graph, layers, mermaid
from leoflow.ide.params_form import (
    ParamValueError,
    build_conf,
    field_value,
    param_fields,
    parse_conf,
)
from leoflow.ide.theme import STATE_COLORS, summarize_states


def spec(tasks: list[dict[str, Any]], **extra: Any) -> DagSpec:
    return DagSpec.from_json({"dag_id": "d", "tasks": tasks, **extra})


def task(task_id: str, *upstream: str, operator: str = "python", **extra: Any) -> dict:
    return {"task_id": task_id, "operator": operator, "upstream": list(upstream), **extra}


def test_mermaid_names_nodes_safely_and_colours_them_by_state() -> None:
    graph = Graph.from_spec(spec(
        [task("extract"), task("transform.clean", "extract"), task("load", "transform.clean"),
         task("end", "load", operator="empty")],
        edge_labels=[{"upstream": "extract", "downstream": "transform.clean",
                      "label": 'rows "ok"'}]))
    text = mermaid(graph, {"extract": "success", "transform.clean": "running"},
                   selected="load")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  t0["extract"]' in lines
    assert '  t1["transform.clean"]' in lines
    assert '  t3(["end"])' in lines  # an empty operator is drawn as a stadium
    assert "  t0 -->|rows #quot;ok#quot;| t1" in lines
    assert "  t1 --> t2" in lines
    assert f"  classDef st_success fill:{STATE_COLORS['success']},color:#ffffff,stroke:#616161" \
        in lines
    assert "  class t0 st_success" in lines
    assert "  class t1 st_running" in lines
    assert "  class t2,t3 st_none" in lines
    assert "  style t2 stroke:#1976d2,stroke-width:4px" in lines
    assert graph.node_task_id("t1") == "transform.clean"
    assert graph.node_task_id("t9") is None


def test_mapped_tasks_are_marked_and_layers_follow_the_longest_path() -> None:
    graph = Graph.from_spec(spec([
        task("a"), task("b", "a", expand={"mode": "kwargs", "values": {"x": {"literal": [1]}}}),
        task("c", "a", "b"), task("d")]))
    assert '  t1["b [ ]"]' in mermaid(graph).splitlines()
    assert layers(graph) == [["a", "d"], ["b"], ["c"]]


def test_state_summaries_follow_airflows_grid() -> None:
    assert summarize_states(["success", "failed", "running"]) == "failed"
    assert summarize_states(["success", "running"]) == "running"
    assert summarize_states(["success", None]) is None
    assert summarize_states(["success", "success"]) == "success"
    assert summarize_states([]) is None


PARAMS = {
    "workers": {"default": 8, "description": "how many", "schema": {"type": "integer",
                                                                    "minimum": 1,
                                                                    "maximum": 64}},
    "ratio": {"default": 0.5, "schema": {"type": "number"}},
    "verbose": {"default": False, "schema": {"type": "boolean"}},
    "name": {"default": "x", "schema": {"type": "string"}},
    "mode": {"default": "fast", "schema": {"type": "string", "enum": ["fast", "slow"]}},
    "limit": {"default": None, "schema": {"type": ["integer", "null"]}},
    "items": {"default": [1, 2], "schema": {"type": "array"}},
    "untyped": {"default": 3, "schema": {}},
    "required": {"schema": {"type": "string"}},
}


def test_param_fields_take_their_input_from_the_json_schema() -> None:
    fields = {f.name: f for f in param_fields(PARAMS)}
    assert [f.name for f in param_fields(PARAMS)] == list(PARAMS)
    assert {n: f.kind for n, f in fields.items()} == {
        "workers": "integer", "ratio": "number", "verbose": "boolean", "name": "string",
        "mode": "enum", "limit": "integer", "items": "json", "untyped": "integer",
        "required": "string"}
    assert (fields["workers"].minimum, fields["workers"].maximum) == (1, 64)
    assert fields["workers"].description == "how many"
    assert fields["mode"].options == ("fast", "slow")
    assert fields["limit"].nullable
    assert fields["items"].initial() == "[1, 2]"
    assert not fields["required"].has_default


def test_form_values_become_json_values() -> None:
    fields = {f.name: f for f in param_fields(PARAMS)}
    assert field_value(fields["workers"], 3.0) == 3
    assert field_value(fields["workers"], "12") == 12
    with pytest.raises(ParamValueError, match="workers: must be a whole number"):
        field_value(fields["workers"], 2.5)
    assert field_value(fields["ratio"], "0.25") == 0.25
    assert field_value(fields["limit"], None) is None
    assert field_value(fields["items"], '{"a": 1}') == {"a": 1}
    with pytest.raises(ParamValueError, match="items: is not valid JSON"):
        field_value(fields["items"], "[1,")
    with pytest.raises(ParamValueError, match="mode: must be one of"):
        field_value(fields["mode"], "medium")
    with pytest.raises(ParamValueError, match="a value is required"):
        field_value(fields["workers"], None)


def test_numbers_outside_their_bounds_are_refused_naming_the_bound() -> None:
    """The form shows the range and never clamps: 100 for a 1..64 param is an error that
    says 64, not a run with 64 that the user believes has 100."""
    fields = {f.name: f for f in param_fields(PARAMS)}
    assert fields["workers"].bounds == "1 to 64"
    assert fields["ratio"].bounds is None
    with pytest.raises(ParamValueError, match="workers: must be at most 64, got 100"):
        field_value(fields["workers"], 100)
    with pytest.raises(ParamValueError, match="workers: must be at least 1, got 0"):
        field_value(fields["workers"], "0")
    assert field_value(fields["workers"], 64) == 64


def test_conf_is_the_json_field_with_changed_form_values_over_it() -> None:
    fields = param_fields(PARAMS)
    values = {f.name: f.initial() for f in fields}
    assert build_conf(fields, values, "") == {}  # all defaults: nothing recorded
    values["workers"] = 16
    assert build_conf(fields, values, '{"extra": true}') == {"extra": True, "workers": 16}
    values["workers"] = 8
    assert build_conf(fields, values, '{"workers": 4}') == {"workers": 4}
    values["required"] = "given"
    assert build_conf(fields, values, "{}")["required"] == "given"
    for bad, message in (("[1]", "must be a JSON object"), ("{", "is not valid JSON")):
        with pytest.raises(ParamValueError, match=f"conf: {message}"):
            parse_conf(bad)


def test_reload_events_become_outcomes(tmp_path: Path) -> None:
    # the hot reloader's own event types: a change to their fields must break this test
    event, error = ReloadEvent, ReloadError
    project = tmp_path / "examples" / "hello"
    compiled = outcome_from(event("compiled", "examples/hello", project, dag_id="hello"))
    assert (compiled.ok, compiled.finished, compiled.dag_ids) == (True, True, ("hello",))
    compiling = outcome_from(event("compiling", "examples/hello", project))
    assert (compiling.ok, compiling.finished, compiling.phase) == (None, False, "compiling")
    building = outcome_from(event("environment", "examples/hello", project,
                                  message="Resolved 3 packages"))
    assert building.progress == "Resolved 3 packages"
    failed = outcome_from(event("failed", "examples/hello", project,
                                error=error("examples/hello/dag.py", 12, "invalid syntax")))
    assert (failed.ok, failed.line, failed.message) == (False, 12, "invalid syntax")
    assert failed.error_text() == "examples/hello/dag.py:12: invalid syntax"
    project.mkdir(parents=True)
    (project / "dag.py").write_text("")
    assert failed.is_about(project / "dag.py", tmp_path)
    assert not failed.is_about(tmp_path / "other.py", tmp_path)


def test_a_project_status_and_a_plain_dict_are_read_too(tmp_path: Path) -> None:
    status = outcome_from({"state": "ok", "project_dir": str(tmp_path), "dag_ids": ("a",),
                           "versions": {"a": 3}})
    assert (status.ok, status.versions) == (True, {"a": 3})
    failed = outcome_from({"state": "failed", "project_dir": tmp_path,
                           "error": "something broke"})
    assert (failed.ok, failed.message) == (False, "something broke")
    same = CompileOutcome(tmp_path, True)
    assert outcome_from(same) is same


def test_folders_with_a_dag_file_and_no_leoflow_yaml_are_found(tmp_path: Path) -> None:
    from leoflow.engine.safe_files import UnsafeWriteError
    from leoflow.ide.project_hint import (
        create_project_file,
        dag_id_for,
        folders_without_project_file,
    )

    (tmp_path / "ready").mkdir()
    (tmp_path / "ready" / "leoflow.yaml").write_text("dag_id: ready\n")
    (tmp_path / "ready" / "sub").mkdir()
    (tmp_path / "ready" / "sub" / "dag.py").write_text("x = 1\n")  # the project's own file
    (tmp_path / "team" / "new report").mkdir(parents=True)
    # a real DAG file: the plain-folder compile reads it too, which must not hide the hint
    (tmp_path / "team" / "new report" / "dag.py").write_text(
        "from leoflow import DAG\nwith DAG('report'):\n    pass\n")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "dag.py").write_text("x = 1\n")
    assert folders_without_project_file(tmp_path) == ["team/new report"]
    assert dag_id_for("team/new report") == "new_report"
    written = create_project_file(tmp_path, "team/new report")
    assert "dag_id: new_report" in written.read_text()
    assert folders_without_project_file(tmp_path) == []
    with pytest.raises(UnsafeWriteError, match="exists already"):  # never over one
        create_project_file(tmp_path, "team/new report")
    # a plain Airflow folder (DAG files at the top) is a layout of its own: no hint
    (tmp_path / "etl.py").write_text("from airflow.sdk import DAG\nwith DAG('etl'):\n    pass\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "dag.py").write_text("x = 1\n")
    assert folders_without_project_file(tmp_path) == []
