"""Every example project compiles, and to the graph its dag.py is meant to describe.

The examples teach users, so each one's graph is written out here literally: changing the
shape of an example must be a deliberate change to its table below too. Compiling uses the
real compiler (one child process per compile), as ``leoflow compile`` does.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.compiler.compile import CompiledProject, compile_project
from leoflow.engine.spec.canonical import pretty_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs" / "examples.md"

REQUIRED = {
    "hello", "bash_pipeline", "taskflow_etl", "ml_hparam_search", "kfold_cv", "montecarlo_pi",
    "fan_out_aggregate", "trigger_rules", "retries", "xcom_typed", "csv_report",
    "airflow_style",
}

Edge = tuple[str, str]

# example -> (task ids, edges upstream -> downstream)
GRAPHS: dict[str, tuple[set[str], set[Edge]]] = {
    "hello": (
        {"make_greeting", "shout"},
        {("make_greeting", "shout")},
    ),
    "bash_pipeline": (
        {"announce", "count_lines", "report"},
        {("announce", "count_lines"), ("count_lines", "report")},
    ),
    "taskflow_etl": (
        {"extract", "transform.drop_invalid", "transform.total_by_region", "load"},
        {
            ("extract", "transform.drop_invalid"),
            ("transform.drop_invalid", "transform.total_by_region"),
            ("transform.total_by_region", "load"),
        },
    ),
    "ml_hparam_search": (
        {"make_dataset", "trial", "trial__1", "trial__2", "trial__3", "trial__4",
         "select_best"},
        {
            ("make_dataset", "trial"), ("make_dataset", "trial__1"),
            ("make_dataset", "trial__2"), ("make_dataset", "trial__3"),
            ("make_dataset", "trial__4"),
            ("trial", "select_best"), ("trial__1", "select_best"),
            ("trial__2", "select_best"), ("trial__3", "select_best"),
            ("trial__4", "select_best"),
        },
    ),
    "kfold_cv": (
        {"make_dataset", "fold_0", "fold_1", "fold_2", "fold_3", "fold_4", "average"},
        {
            ("make_dataset", "fold_0"), ("make_dataset", "fold_1"), ("make_dataset", "fold_2"),
            ("make_dataset", "fold_3"), ("make_dataset", "fold_4"),
            ("fold_0", "average"), ("fold_1", "average"), ("fold_2", "average"),
            ("fold_3", "average"), ("fold_4", "average"),
        },
    ),
    "montecarlo_pi": (
        {"plan_seeds", "count_inside", "estimate_pi"},
        {("plan_seeds", "count_inside"), ("count_inside", "estimate_pi")},
    ),
    "fan_out_aggregate": (
        {"start", "emea.fetch", "emea.summarize", "americas.fetch", "americas.summarize",
         "apac.fetch", "apac.summarize", "aggregate"},
        {
            ("start", "emea.fetch"), ("start", "americas.fetch"), ("start", "apac.fetch"),
            ("emea.fetch", "emea.summarize"), ("americas.fetch", "americas.summarize"),
            ("apac.fetch", "apac.summarize"),
            ("emea.summarize", "aggregate"), ("americas.summarize", "aggregate"),
            ("apac.summarize", "aggregate"),
        },
    ),
    "trigger_rules": (
        {"call_flaky_api", "read_local_cache", "alert_on_failure", "cleanup",
         "choose_refresh", "full_refresh", "incremental_refresh", "publish"},
        {
            ("call_flaky_api", "alert_on_failure"), ("read_local_cache", "alert_on_failure"),
            ("call_flaky_api", "cleanup"), ("read_local_cache", "cleanup"),
            ("choose_refresh", "full_refresh"), ("choose_refresh", "incremental_refresh"),
            ("full_refresh", "publish"), ("incremental_refresh", "publish"),
        },
    ),
    "sensors": (
        {"drop_file", "wait_for_file", "settle", "rows_ready", "total"},
        {("wait_for_file", "settle"), ("settle", "rows_ready"), ("rows_ready", "total")},
    ),
    "retries": (
        {"unreliable_call", "flaky_shell", "report"},
        {("unreliable_call", "report"), ("flaky_shell", "report")},
    ),
    "xcom_typed": (
        {"measurements", "split", "stats", "describe", "show"},
        {
            ("measurements", "split"), ("measurements", "stats"),
            ("measurements", "describe"), ("split", "describe"), ("stats", "describe"),
            ("describe", "show"),
        },
    ),
    "csv_report": (
        {"export_csv", "render_table", "save_report"},
        {("export_csv", "render_table"), ("render_table", "save_report")},
    ),
    "airflow_style": (
        {"start", "print_date", "compute_total", "validate_total", "report", "double", "end"},
        {
            ("start", "print_date"), ("start", "compute_total"),
            ("compute_total", "validate_total"), ("validate_total", "report"),
            ("compute_total", "double"),
            ("print_date", "end"), ("report", "end"), ("double", "end"),
        },
    ),
    "short_circuit": (
        {"list_new_files", "anything_to_do", "process", "notify"},
        {
            ("list_new_files", "anything_to_do"), ("list_new_files", "process"),
            ("anything_to_do", "process"), ("process", "notify"),
        },
    ),
    "dynamic_mapping": (
        {"thumbnail", "plan_loads", "load_table", "check_disk", "summary"},
        {
            ("plan_loads", "load_table"), ("thumbnail", "summary"),
            ("load_table", "summary"), ("check_disk", "summary"),
        },
    ),
}


def discover() -> list[str]:
    """Every example folder (hidden and private folders such as caches are not examples)."""
    return sorted(p.name for p in EXAMPLES.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


ALL = discover()


@functools.cache
def compiled(name: str) -> CompiledProject:
    return compile_project(EXAMPLES / name)


def document(name: str) -> dict[str, Any]:
    (doc,) = compiled(name).documents
    return doc


def tasks(name: str) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in document(name)["tasks"]}


def xcom(task_id: str, key: str = "return_value") -> dict[str, Any]:
    return {"xcom": {"task_id": task_id, "key": key}}


# -- every example ---------------------------------------------------------------------------

def test_the_required_examples_exist() -> None:
    missing = REQUIRED - set(ALL)
    assert not missing, f"missing examples: {sorted(missing)}"


def test_every_example_has_a_graph_table() -> None:
    assert set(ALL) == set(GRAPHS)


@pytest.mark.parametrize("name", ALL)
def test_example_compiles_with_its_folder_as_dag_id(name: str) -> None:
    project = compiled(name)
    assert project.config.dag_id == name
    assert project.config.python_version == "3.11"
    assert document(name)["dag_id"] == name
    assert document(name)["content_hash"].startswith("sha256:")


@pytest.mark.parametrize("name", ALL)
def test_example_graph_is_exactly_as_written(name: str) -> None:
    expected_tasks, expected_edges = GRAPHS[name]
    doc = document(name)
    task_ids = [t["task_id"] for t in doc["tasks"]]
    edges = {(up, t["task_id"]) for t in doc["tasks"] for up in t["upstream"]}
    assert len(task_ids) == len(set(task_ids))
    assert set(task_ids) == expected_tasks
    assert edges == expected_edges


@pytest.mark.parametrize("name", ALL)
def test_compiling_twice_gives_identical_bytes(name: str) -> None:
    again = compile_project(EXAMPLES / name)
    assert pretty_json(again.documents[0]) == pretty_json(document(name))


@pytest.mark.parametrize("name", ALL)
def test_dag_file_opens_with_a_two_line_comment(name: str) -> None:
    lines = (EXAMPLES / name / "dag.py").read_text("utf-8").splitlines()
    assert lines[0].startswith(f"# {name}: ")
    assert lines[1].startswith("# ")
    assert not lines[2].startswith("#")


@pytest.mark.parametrize("name", ALL)
def test_dag_file_imports_no_third_party_package_at_module_level(name: str) -> None:
    # The compiler runs dag.py with whatever interpreter it has: dependencies declared in
    # leoflow.yaml must be imported inside the tasks that use them.
    tree = ast.parse((EXAMPLES / name / "dag.py").read_text("utf-8"))
    allowed = set(sys.stdlib_module_names) | {"leoflow", "airflow"}
    for node in tree.body:
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        else:
            continue
        assert roots <= allowed, f"line {node.lineno} imports {sorted(roots - allowed)}"


def test_docs_table_lists_every_example_with_its_task_count_and_commands() -> None:
    rows = {}
    for line in DOCS.read_text("utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(ALL)
    for name, (_, count, _, commands) in rows.items():
        assert int(count) == len(GRAPHS[name][0]), name
        assert f"leoflow validate examples/{name}" in commands
        assert f"leoflow compile examples/{name}" in commands


# -- what each example is there to show ------------------------------------------------------

def test_bash_pipeline_keeps_templates_for_run_time() -> None:
    t = tasks("bash_pipeline")
    assert t["announce"]["operator_class"] == "BashOperator"
    assert t["announce"]["inputs"]["kwargs"]["env"] == {"literal": {"PARTITION": "{{ ds }}"}}
    assert t["count_lines"]["operator_class"] == "BashDecoratedOperator"
    assert t["count_lines"]["inputs"]["kwargs"] == {"lines": {"literal": 42}}
    command = t["report"]["inputs"]["kwargs"]["bash_command"]["literal"]
    assert "{{ ds }}" in command
    assert "{{ ti.xcom_pull(task_ids='count_lines') }}" in command


def test_taskflow_etl_nests_transform_in_a_task_group() -> None:
    doc = document("taskflow_etl")
    assert [g["group_id"] for g in doc["task_groups"]] == ["transform"]
    t = tasks("taskflow_etl")
    assert t["transform.drop_invalid"]["group_id"] == "transform"
    assert t["load"]["inputs"]["args"] == [xcom("transform.total_by_region")]


def test_ml_hparam_search_fans_in_a_list_in_declaration_order() -> None:
    t = tasks("ml_hparam_search")
    trials = ["trial", "trial__1", "trial__2", "trial__3", "trial__4"]
    assert t["select_best"]["inputs"]["args"] == [{"list": [xcom(tid) for tid in trials]}]
    rates = [t[tid]["inputs"]["args"][1] for tid in trials]
    assert rates == [{"literal": lr} for lr in [0.01, 0.03, 0.1, 0.3, 1.2]]


def test_kfold_cv_names_each_fold_and_passes_its_index() -> None:
    t = tasks("kfold_cv")
    for k in range(5):
        assert t[f"fold_{k}"]["callable"] == "evaluate_fold"
        assert t[f"fold_{k}"]["inputs"]["kwargs"] == {"fold": {"literal": k},
                                                       "folds": {"literal": 5}}
    assert t["average"]["inputs"]["args"] == [{"list": [xcom(f"fold_{k}") for k in range(5)]}]


def test_montecarlo_pi_maps_over_an_upstream_result() -> None:
    t = tasks("montecarlo_pi")
    assert t["count_inside"]["expand"] == {"mode": "kwargs", "order": ["seed"],
                                           "values": {"seed": xcom("plan_seeds")}}
    assert t["count_inside"]["inputs"]["kwargs"] == {"samples": {"literal": 50_000}}
    assert t["estimate_pi"]["expand"] is None
    assert t["estimate_pi"]["inputs"]["args"] == [xcom("count_inside")]
    assert document("montecarlo_pi")["params"]["workers"]["default"] == 8


def test_fan_out_aggregate_groups_each_region_and_labels_the_fan_out() -> None:
    doc = document("fan_out_aggregate")
    assert {g["group_id"] for g in doc["task_groups"]} == {"emea", "americas", "apac"}
    assert doc["edge_labels"] == [
        {"upstream": "start", "downstream": f"{region}.fetch", "label": f"fetch {region}"}
        for region in ["americas", "apac", "emea"]
    ]
    assert tasks("fan_out_aggregate")["aggregate"]["inputs"]["args"] == [{"list": [
        xcom(f"{region}.summarize") for region in ["emea", "americas", "apac"]]}]


def test_trigger_rules_uses_the_chosen_rules_and_a_branch() -> None:
    t = tasks("trigger_rules")
    assert {tid: task["trigger_rule"] for tid, task in t.items()} == {
        "call_flaky_api": "all_success",
        "read_local_cache": "all_success",
        "alert_on_failure": "one_failed",
        "cleanup": "all_done",
        "choose_refresh": "all_success",
        "full_refresh": "all_success",
        "incremental_refresh": "all_success",
        "publish": "none_failed_min_one_success",
    }
    assert t["choose_refresh"]["operator"] == "branch"
    doc = document("trigger_rules")
    assert doc["params"]["mode"]["default"] == "incremental"
    assert doc["edge_labels"] == [
        {"upstream": "choose_refresh", "downstream": "full_refresh", "label": "mode is full"},
        {"upstream": "choose_refresh", "downstream": "incremental_refresh",
         "label": "mode is incremental"},
    ]


def test_retries_are_compiled_with_short_delays() -> None:
    t = tasks("retries")
    assert (t["unreliable_call"]["retries"], t["unreliable_call"]["retry_delay"]) == (2, 1.0)
    assert (t["flaky_shell"]["retries"], t["flaky_shell"]["retry_delay"]) == (1, 1.0)
    assert t["report"]["retries"] == 0


def test_xcom_typed_passes_keys_of_multiple_outputs() -> None:
    t = tasks("xcom_typed")
    assert t["split"]["multiple_outputs"] is True  # explicit
    assert t["stats"]["multiple_outputs"] is True  # inferred from -> dict[str, float]
    assert t["measurements"]["multiple_outputs"] is False
    assert t["describe"]["inputs"]["kwargs"] == {
        "count": xcom("stats", "count"),
        "mean": xcom("stats", "mean"),
        "large": xcom("split", "large"),
        "threshold": xcom("split", "threshold"),
        "source": {"dict": {"sensor": {"literal": "demo-7"}, "units": {"literal": "ms"},
                            "raw": xcom("measurements")}},
    }


def test_csv_report_pins_its_dependency() -> None:
    assert document("csv_report")["dependencies"] == ["tabulate==0.9.0"]
    assert compiled("csv_report").config.dependencies == ("tabulate==0.9.0",)


def test_airflow_style_compiles_unchanged_airflow_code_through_the_shim() -> None:
    source = (EXAMPLES / "airflow_style" / "dag.py").read_text("utf-8")
    assert "from airflow.sdk import" in source
    assert "leoflow" not in source
    t = tasks("airflow_style")
    assert {tid: task["operator_class"] for tid, task in t.items()} == {
        "start": "EmptyOperator",
        "print_date": "BashOperator",
        "compute_total": "PythonOperator",
        "validate_total": "PythonOperator",
        "report": "BashOperator",
        "double": "PythonDecoratedOperator",
        "end": "EmptyOperator",
    }
    assert t["compute_total"]["inputs"]["kwargs"] == {"numbers": {"literal": [3, 5, 8, 13]}}
    assert t["end"]["trigger_rule"] == "all_done"
    # default_args reach every task, as in Airflow.
    assert {(task["owner"], task["retries"], task["retry_delay"]) for task in t.values()} == {
        ("data-team", 1, 30.0)}


def test_short_circuit_gate_is_a_short_circuit_operator() -> None:
    t = tasks("short_circuit")
    assert t["anything_to_do"]["operator"] == "short_circuit"
    assert t["anything_to_do"]["options"] == {"ignore_downstream_trigger_rules": True}


def test_dynamic_mapping_uses_every_form_of_expand() -> None:
    t = tasks("dynamic_mapping")
    assert t["thumbnail"]["expand"] == {"mode": "kwargs", "order": ["image", "width"], "values": {
        "image": {"literal": ["cat.png", "dog.png"]}, "width": {"literal": [64, 128, 256]}}}
    assert t["load_table"]["expand"] == {"mode": "list_of_kwargs",
                                         "values": {"kwargs": xcom("plan_loads")}}
    assert t["check_disk"]["operator_class"] == "BashOperator"
    assert t["check_disk"]["expand"] == {"mode": "kwargs", "order": ["bash_command"], "values": {
        "bash_command": {"literal": ["echo /data: ok", "echo /logs: ok"]}}}


def test_sensors_wait_in_the_control_plane_or_between_pokes() -> None:
    t = tasks("sensors")
    assert {name for name, task in t.items() if task["operator"] == "sensor"} == {
        "wait_for_file", "settle", "rows_ready"}
    assert t["settle"]["sensor"]["trigger"] == {
        "kind": "time", "kwargs": {"delta": 1.0, "from": "data_interval_end"}}
    # a templated path: rendered by a short process, which then defers
    assert t["wait_for_file"]["sensor"]["trigger"] is None
    assert t["rows_ready"]["sensor"]["mode"] == "reschedule"
