"""Authoring behaviour: what a DAG file builds, as the compiler will describe it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leoflow import (
    DAG,
    BashOperator,
    BranchPythonOperator,
    EmptyOperator,
    HttpOperator,
    Label,
    Param,
    PythonOperator,
    ShortCircuitOperator,
    TaskGroup,
    chain,
    dag,
    task,
    task_group,
)
from leoflow.sdk.errors import DagDefinitionError, DuplicateTaskIdFound
from leoflow.sdk.serialize import SerializationError
from tests.unit.sdk.conftest import by_id, edges


def test_rshift_lshift_lists_and_set_methods(describe):
    with DAG("deps") as d:
        a, b, c, e, f = (EmptyOperator(task_id=n) for n in "abcef")
        a >> [b, c]
        [b, c] >> e
        f << e
        f.set_upstream(a)
        a.set_downstream(e)
    assert edges(describe(d)) == {("a", "b"), ("a", "c"), ("b", "e"), ("c", "e"),
                                  ("e", "f"), ("a", "f"), ("a", "e")}


def test_list_on_the_left_of_lshift(describe):
    with DAG("deps2") as d:
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        [a, b] << c
    assert edges(describe(d)) == {("c", "a"), ("c", "b")}


def test_chain_pairs_lists_and_rejects_unequal_lengths(describe):
    with DAG("chained") as d:
        t = {n: EmptyOperator(task_id=n) for n in ["s", "x1", "x2", "y1", "y2", "end"]}
        chain(t["s"], [t["x1"], t["x2"]], [t["y1"], t["y2"]], t["end"])
        with pytest.raises(ValueError, match="different lengths"):
            chain([t["x1"]], [t["y1"], t["y2"]])
    assert edges(describe(d)) == {("s", "x1"), ("s", "x2"), ("x1", "y1"), ("x2", "y2"),
                                  ("y1", "end"), ("y2", "end")}


def test_implicit_dependencies_from_results_nested_in_lists_and_dicts(describe):
    with DAG("implicit") as d:
        @task
        def one() -> int:
            return 1

        @task
        def use(payload, *, extra=None):
            return payload

        a, b = one(), one()
        use({"first": a, "rest": [b, 3]}, extra="x")
    doc = describe(d)
    use_task = by_id(doc)["use"]
    assert set(use_task["upstream"]) == {"one", "one__1"}
    assert use_task["inputs"]["args"][0] == {"dict": {
        "first": {"xcom": {"task_id": "one", "key": "return_value"}},
        "rest": {"list": [{"xcom": {"task_id": "one__1", "key": "return_value"}},
                          {"literal": 3}]},
    }}
    assert use_task["inputs"]["kwargs"] == {"extra": {"literal": "x"}}


def test_fan_in_list_keeps_declaration_order_and_dedupes_ids(describe):
    with DAG("hp") as d:
        @task
        def trial(lr: float) -> float:
            return lr

        @task
        def select_best(scores):
            return max(scores)

        select_best([trial(lr) for lr in [0.3, 0.1, 0.2]])
    doc = describe(d)
    assert [t["task_id"] for t in doc["tasks"]] == ["trial", "trial__1", "trial__2",
                                                  "select_best"]
    fan_in = by_id(doc)["select_best"]
    assert fan_in["inputs"]["args"] == [{"list": [
        {"xcom": {"task_id": tid, "key": "return_value"}}
        for tid in ["trial", "trial__1", "trial__2"]]}]
    assert fan_in["upstream"] == ["trial", "trial__1", "trial__2"]
    assert [by_id(doc)[t]["inputs"]["args"] for t in ["trial", "trial__1", "trial__2"]] == [
        [{"literal": 0.3}], [{"literal": 0.1}], [{"literal": 0.2}]]


def test_duplicate_explicit_task_id_is_an_error_with_line():
    with DAG("dup"):
        EmptyOperator(task_id="same")
        with pytest.raises(DuplicateTaskIdFound, match="'same' is used twice") as info:
            EmptyOperator(task_id="same")
    assert info.value.line is not None and info.value.file == __file__


def test_override_sets_task_id_and_settings(describe):
    with DAG("ov") as d:
        @task(retries=1)
        def work() -> int:
            return 1

        work.override(task_id="special", retries=4, trigger_rule="all_done")()
        work()
    tasks = by_id(describe(d))
    assert tasks["special"]["retries"] == 4
    assert tasks["special"]["trigger_rule"] == "all_done"
    assert tasks["work"]["retries"] == 1


def test_multiple_outputs_inferred_from_dict_annotation_and_key_refs(describe):
    with DAG("mo") as d:
        @task
        def stats() -> dict[str, int]:
            return {"n": 1}

        @task
        def plain() -> list:
            return []

        @task(multiple_outputs=True)
        def explicit():
            return {"a": 1}

        @task
        def use(n):
            return n

        use(stats()["n"])
        plain()
        explicit()
    tasks = by_id(describe(d))
    assert tasks["stats"]["multiple_outputs"] is True
    assert tasks["plain"]["multiple_outputs"] is False
    assert tasks["explicit"]["multiple_outputs"] is True
    assert tasks["use"]["inputs"]["args"] == [{"xcom": {"task_id": "stats", "key": "n"}}]


def test_mapping_expand_and_expand_kwargs(describe):
    with DAG("mapped") as d:
        @task
        def numbers() -> list[int]:
            return [1, 2]

        @task
        def square(x: int, power: int) -> int:
            return x ** power

        @task
        def total(values):
            return sum(values)

        squares = square.partial(power=2).expand(x=numbers())
        total(squares)
        square.expand_kwargs([{"x": 1, "power": 3}, {"x": 2, "power": 3}])
        BashOperator.partial(task_id="echo", retries=1).expand(
            bash_command=["echo 1", "echo 2"])
    tasks = by_id(describe(d))
    assert tasks["square"]["expand"] == {
        "mode": "kwargs", "order": ["x"],
        "values": {"x": {"xcom": {"task_id": "numbers", "key": "return_value"}}}}
    assert tasks["square"]["inputs"]["kwargs"] == {"power": {"literal": 2}}
    assert tasks["square"]["upstream"] == ["numbers"]
    assert tasks["total"]["upstream"] == ["square"]
    assert tasks["square__1"]["expand"]["mode"] == "list_of_kwargs"
    assert tasks["echo"]["expand"] == {"mode": "kwargs", "order": ["bash_command"], "values": {
        "bash_command": {"literal": ["echo 1", "echo 2"]}}}
    assert tasks["echo"]["retries"] == 1
    assert "bash_command" not in tasks["echo"]["inputs"]["kwargs"]


def test_expand_rejects_non_list_and_unmappable_fields():
    with DAG("badmap"):
        @task
        def f(x):
            return x

        with pytest.raises(DagDefinitionError, match="cannot map over x=5"):
            f.expand(x=5)
        with pytest.raises(DagDefinitionError, match="cannot map over retries"):
            BashOperator.partial(task_id="b").expand(retries=[1])


def test_branch_short_circuit_and_classic_python_operators(describe):
    with DAG("br") as d:
        @task.branch
        def choose():
            return "left"

        left, right = EmptyOperator(task_id="left"), EmptyOperator(task_id="right")
        choose() >> [left, right]
        ShortCircuitOperator(task_id="gate", python_callable=lambda: False) >> left
        BranchPythonOperator(task_id="classic_branch", python_callable=lambda: "right",
                             op_kwargs={"k": 1})
        PythonOperator(task_id="py", python_callable=print, op_args=[1, 2])

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def check():
            return True

        check()
    tasks = by_id(describe(d))
    assert tasks["choose"]["operator"] == "branch"
    assert tasks["gate"]["operator"] == "short_circuit"
    assert tasks["gate"]["options"] == {"ignore_downstream_trigger_rules": True}
    assert tasks["check"]["options"] == {"ignore_downstream_trigger_rules": False}
    assert tasks["classic_branch"]["operator"] == "branch"
    assert tasks["classic_branch"]["inputs"]["kwargs"] == {"k": {"literal": 1}}
    assert tasks["py"]["inputs"]["args"] == [{"literal": 1}, {"literal": 2}]
    assert tasks["py"]["callable"] == "print"


def test_bash_and_http_operators(describe):
    with DAG("ops") as d:
        BashOperator(task_id="b", bash_command="echo {{ ds }}", env={"A": "1"})

        @task.bash(env={"X": "y"})
        def dyn(n: int) -> str:
            return f"echo {n}"

        dyn(3)
        HttpOperator(task_id="h", method="post", url="http://127.0.0.1:9/x",
                     data={"a": 1}, expected_status=[200, 201])
        with pytest.raises(DagDefinitionError, match="needs bash_command"):
            BashOperator(task_id="nob")
        with pytest.raises(DagDefinitionError, match="needs a url"):
            HttpOperator(task_id="nourl")
    tasks = by_id(describe(d))
    assert tasks["b"]["inputs"]["kwargs"] == {"bash_command": {"literal": "echo {{ ds }}"},
                                              "env": {"literal": {"A": "1"}}}
    assert tasks["dyn"]["operator"] == "bash" and tasks["dyn"]["callable"].endswith("dyn")
    assert tasks["dyn"]["options"]["env"] == {"X": "y"}
    assert tasks["h"]["operator"] == "http"
    assert tasks["h"]["options"]["method"] == "POST"
    assert tasks["h"]["options"]["expected_status"] == [200, 201]


def test_task_groups_prefix_ids_and_connect_roots_and_leaves(describe):
    with DAG("groups") as d:
        start = EmptyOperator(task_id="start")
        with TaskGroup("etl") as etl:
            a = EmptyOperator(task_id="a")
            with TaskGroup("inner"):
                b = EmptyOperator(task_id="b")
            a >> b
        end = EmptyOperator(task_id="end")
        start >> etl >> end

        @task_group
        def section(x):
            @task
            def inc(v):
                return v + 1
            return inc(inc(x))

        section(1)
        section(2)
    doc = describe(d)
    ids = [t["task_id"] for t in doc["tasks"]]
    assert ids[:4] == ["start", "etl.a", "etl.inner.b", "end"]
    assert "section.inc" in ids and "section.inc__1" in ids
    assert "section__1.inc" in ids
    assert {("start", "etl.a"), ("etl.a", "etl.inner.b"), ("etl.inner.b", "end")} <= edges(doc)
    assert by_id(doc)["etl.inner.b"]["group_id"] == "etl.inner"
    assert {g["group_id"] for g in doc["task_groups"]} >= {"etl", "etl.inner", "section"}


def test_labels_are_kept_on_edges(describe):
    with DAG("labels") as d:
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        e = EmptyOperator(task_id="e")
        a >> Label("ok") >> b
        [a, b] >> Label("always") >> c
        e << Label("back") << [a, c]
    doc = describe(d)
    assert {(e["upstream"], e["downstream"], e["label"]) for e in doc["edge_labels"]} == {
        ("a", "b", "ok"), ("a", "c", "always"), ("b", "c", "always"), ("a", "e", "back"),
        ("c", "e", "back")}
    assert edges(doc) == {("a", "b"), ("a", "c"), ("b", "c"), ("a", "e"), ("c", "e")}


def test_default_args_apply_and_task_arguments_win(describe):
    args = {"retries": 3, "retry_delay": timedelta(seconds=30), "owner": "data",
            "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=5),
            "execution_timeout": timedelta(minutes=1), "pool": "small",
            "trigger_rule": "all_done"}
    with DAG("defaults", default_args=args) as d:
        EmptyOperator(task_id="a")
        EmptyOperator(task_id="b", retries=0, owner="me", trigger_rule="one_failed")
    tasks = by_id(describe(d))
    assert tasks["a"]["retries"] == 3 and tasks["a"]["retry_delay"] == 30.0
    assert tasks["a"]["retry_exponential_backoff"] is True
    assert tasks["a"]["max_retry_delay"] == 300.0
    assert tasks["a"]["execution_timeout"] == 60.0
    assert tasks["a"]["owner"] == "data" and tasks["a"]["pool"] == "small"
    assert tasks["a"]["trigger_rule"] == "all_done"
    assert (tasks["b"]["retries"], tasks["b"]["owner"], tasks["b"]["trigger_rule"]) == (
        0, "me", "one_failed")


@pytest.mark.parametrize("rule", [
    "all_success", "all_failed", "all_done", "all_done_min_one_success",
    "all_done_setup_success", "one_success", "one_failed", "one_done", "none_failed",
    "none_skipped", "none_failed_min_one_success", "always", "all_skipped"])
def test_every_airflow3_trigger_rule_is_accepted(describe, rule):
    with DAG("rules") as d:
        EmptyOperator(task_id="t", trigger_rule=rule)
    assert describe(d)["tasks"][0]["trigger_rule"] == rule


@pytest.mark.parametrize("rule", ["dummy", "none_failed_or_skipped", "sometimes"])
def test_removed_or_unknown_trigger_rules_are_errors(rule):
    with DAG("rules"), pytest.raises(DagDefinitionError, match=f"trigger_rule '{rule}'"):
        EmptyOperator(task_id="t", trigger_rule=rule)


def test_dag_settings_schedules_params_and_timezone(describe):
    with DAG("settings", schedule="@daily", start_date=datetime(2026, 1, 1,
             tzinfo=ZoneInfo("Europe/Paris")), catchup=True, max_active_runs=2,
             max_active_tasks=4, dagrun_timeout=timedelta(hours=1), tags=["b", "a"],
             description="desc", doc_md="# doc",
             params={"n": Param(5, type="integer", minimum=1, description="count"),
                     "name": "x", "required": Param(type="string")}) as d:
        EmptyOperator(task_id="t")
    doc = describe(d)
    assert doc["schedule"] == {"kind": "cron", "expression": "@daily", "cron": "0 0 * * *",
                               "timezone": "Europe/Paris", "data_interval": False}
    assert doc["start_date"] == "2026-01-01T00:00:00+01:00"
    assert (doc["catchup"], doc["max_active_runs"], doc["max_active_tasks"]) == (True, 2, 4)
    assert doc["dagrun_timeout"] == 3600.0
    assert doc["tags"] == ["a", "b"]
    assert doc["params"]["n"] == {"default": 5, "description": "count",
                                  "schema": {"type": "integer", "minimum": 1}}
    assert doc["params"]["name"] == {"default": "x", "description": None, "schema": {}}
    assert "default" not in doc["params"]["required"]


@pytest.mark.parametrize(("schedule", "expected"), [
    (None, {"kind": "none"}),
    ("@once", {"kind": "once", "expression": "@once"}),
    ("@hourly", {"kind": "cron", "cron": "0 * * * *"}),
    ("@weekly", {"kind": "cron", "cron": "0 0 * * 0"}),
    ("@monthly", {"kind": "cron", "cron": "0 0 1 * *"}),
    ("@yearly", {"kind": "cron", "cron": "0 0 1 1 *"}),
    ("*/5 * * * *", {"kind": "cron", "cron": "*/5 * * * *"}),
    (timedelta(minutes=30), {"kind": "timedelta", "seconds": 1800.0}),
])
def test_schedule_forms(describe, schedule, expected):
    with DAG("sched", schedule=schedule) as d:
        EmptyOperator(task_id="t")
    got = describe(d)["schedule"]
    assert {k: got[k] for k in expected} == expected


def test_data_interval_timetable_is_opt_in(describe):
    from leoflow import CronDataIntervalTimetable

    with DAG("di", schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC")) as d:
        EmptyOperator(task_id="t")
    assert describe(d)["schedule"]["data_interval"] is True
    assert describe(d)["schedule"]["cron"] == "0 3 * * *"


def test_catchup_defaults_to_false_and_naive_start_is_utc(describe):
    with DAG("c", start_date=datetime(2026, 1, 1)) as d:
        EmptyOperator(task_id="t")
    doc = describe(d)
    assert doc["catchup"] is False
    assert doc["start_date"] == datetime(2026, 1, 1, tzinfo=UTC).isoformat()


def test_dag_decorator_builds_dag_with_params(describe):
    @dag(schedule=None, params={"size": Param(3, type="integer")})
    def pipeline(factor: int = 2):
        """Doubles things."""
        @task
        def scale(x, f):
            return x * f

        scale(10, factor)

    built = pipeline()
    doc = describe(built)
    assert doc["dag_id"] == "pipeline"
    assert doc["doc_md"] == "Doubles things."
    assert set(doc["params"]) == {"size", "factor"}
    assert doc["tasks"][0]["inputs"]["args"][1] == {"param": {"name": "factor"}}


def test_non_serializable_literal_names_task_and_argument(describe):
    with DAG("ser") as d:
        @task
        def load(when, rows):
            return rows

        load(datetime(2026, 1, 1), rows=[1, 2])
    with pytest.raises(SerializationError,
                       match="task 'load' argument 'when': a value of type datetime"):
        describe(d)


def test_task_outside_dag_and_bad_ids_are_clear_errors():
    with pytest.raises(DagDefinitionError, match="outside a DAG"):
        EmptyOperator(task_id="lonely")
    with pytest.raises(DagDefinitionError, match="may contain only"):
        DAG("has space")
    with DAG("ok"), pytest.raises(DagDefinitionError, match="may contain only"):
        EmptyOperator(task_id="bad/id")


def test_unknown_arguments_are_rejected_and_airflow_only_ones_accepted():
    with pytest.raises(DagDefinitionError, match="unknown argument"):
        DAG("x", shedule="@daily")
    with DAG("x2"):
        with pytest.raises(DagDefinitionError, match=r"unknown argument.*retrys"):
            EmptyOperator(task_id="t", retrys=3)
        EmptyOperator(task_id="ok", email="a@b.c", queue="q", depends_on_past=False)


def test_missing_task_argument_is_reported_at_call_site():
    with DAG("calls"):
        @task
        def needs(a, b, ti=None):
            return a

        with pytest.raises(DagDefinitionError, match=r"without its argument.*.b.") as info:
            needs(1)
    assert info.value.line is not None


def test_airflow_import_shim_serves_common_paths():
    from leoflow.sdk import airflow_shim

    if not airflow_shim.install():
        pytest.skip("a real Airflow is installed")
    try:
        from airflow import DAG as AirflowDAG
        from airflow.decorators import task as airflow_task
        from airflow.operators.bash import BashOperator as B2
        from airflow.operators.empty import EmptyOperator as E2
        from airflow.providers.standard.operators.python import PythonOperator as P3
        from airflow.sdk import DAG as SdkDAG
        from airflow.utils.trigger_rule import TriggerRule

        assert AirflowDAG is DAG and SdkDAG is DAG and airflow_task is task
        assert (BashOperator, EmptyOperator, PythonOperator) == (B2, E2, P3)
        assert TriggerRule.ALL_DONE == "all_done"
        with pytest.raises(ModuleNotFoundError):
            __import__("airflow.providers.amazon")
    finally:
        airflow_shim.uninstall()
