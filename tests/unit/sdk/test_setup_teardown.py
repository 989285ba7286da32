"""Setup and teardown tasks: authoring (methods, decorators, ``with`` blocks) and dag.json."""

from __future__ import annotations

import pytest

from leoflow import DAG, BashOperator, EmptyOperator, setup, task, teardown
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.spec.schemas import DAG_SCHEMA, load_schema
from leoflow.sdk.errors import DagDefinitionError
from tests.unit.sdk.conftest import by_id, compile_source, edges

TEARDOWN_RULE = "all_done_setup_success"


def empty(task_id: str) -> EmptyOperator:
    return EmptyOperator(task_id=task_id)




# --- as_setup / as_teardown -----------------------------------------------------------------

def test_as_setup_and_as_teardown_mark_the_tasks_and_link_the_setup(describe):
    with DAG("d", schedule=None) as d:
        s = empty("create").as_setup()
        w = empty("work")
        t = empty("delete").as_teardown(setups=s)
        s >> w >> t
    doc = by_id(describe(d))
    assert doc["create"]["is_setup"] is True and "is_teardown" not in doc["create"]
    assert doc["delete"]["is_teardown"] is True
    assert doc["delete"]["trigger_rule"] == TEARDOWN_RULE
    assert "on_failure_fail_dagrun" not in doc["delete"]
    # an ordinary task carries none of the keys: the JSON of other DAGs is unchanged
    assert not {"is_setup", "is_teardown", "on_failure_fail_dagrun"} & set(doc["work"])
    assert edges(describe(d)) == {("create", "work"), ("work", "delete"), ("create", "delete")}
    assert (s.is_setup, s.is_teardown, t.is_teardown, w.is_setup) == (True, False, True, False)


def test_as_teardown_takes_several_setups_results_and_fail_dagrun(describe):
    with DAG("d", schedule=None) as d:
        @task
        def make(n: int) -> int:
            return n

        a, b = make(1), make(2)
        t = empty("drop").as_teardown(setups=[a, b], on_failure_fail_dagrun=True)
    doc = by_id(describe(d))
    assert doc["make"]["is_setup"] and doc["make__1"]["is_setup"]
    assert doc["drop"]["on_failure_fail_dagrun"] is True
    assert set(doc["drop"]["upstream"]) == {"make", "make__1"}
    assert a.is_setup and t.on_failure_fail_dagrun


def test_a_result_can_be_marked_and_the_result_is_returned(describe):
    with DAG("d", schedule=None) as d:
        @task
        def first() -> str:
            return "x"

        @task
        def third() -> None:
            return None

        one = first()
        three = third()
        assert three.as_teardown(setups=one) is three
        assert one.as_setup() is one
    doc = by_id(describe(d))
    assert doc["first"]["is_setup"] and doc["third"]["is_teardown"]
    assert doc["third"]["upstream"] == ["first"]


def test_marking_mistakes_name_the_task_and_the_line():
    with DAG("d", schedule=None):
        s = empty("s").as_setup()
        with pytest.raises(DagDefinitionError, match="'s' is already a setup") as info:
            s.as_teardown()
        assert info.value.line is not None and info.value.file == __file__
        t = empty("t").as_teardown()
        with pytest.raises(DagDefinitionError, match="'t' is already a teardown"):
            t.as_setup()
        w = empty("w")
        with pytest.raises(DagDefinitionError, match="on_failure_fail_dagrun is for teardown"):
            w.on_failure_fail_dagrun = True
        with pytest.raises(DagDefinitionError, match="only setup and teardown tasks"), w:
            pass
        with pytest.raises(DagDefinitionError, match="task groups cannot"):
            from leoflow import TaskGroup
            empty("x").as_teardown(setups=TaskGroup("g"))


# --- with blocks ----------------------------------------------------------------------------

def test_with_setup_then_teardown_puts_the_block_between_them(describe):
    with DAG("d", schedule=None) as d:
        s = empty("s").as_setup()
        t = empty("t").as_teardown(setups=s)
        with s >> t:
            a = empty("a")
            b = empty("b")
            empty("c")
            a >> b
        after = empty("after")  # outside the block: untouched
    assert edges(describe(d)) == {("s", "t"), ("a", "b"), ("s", "a"), ("s", "c"),
                                  ("b", "t"), ("c", "t")}
    assert not after.upstream_task_ids and not after.downstream_task_ids


def test_with_a_setup_alone_finds_its_teardown_downstream(describe):
    with DAG("d", schedule=None) as d:
        s = empty("s").as_setup()
        t = empty("t").as_teardown(setups=s)
        with s:
            empty("w")
    assert ("s", "w") in edges(describe(d)) and ("w", "t") in edges(describe(d))
    assert t.upstream_task_ids == {"s", "w"}


def test_nested_blocks_order_setups_outer_first_and_teardowns_inner_first(describe):
    with DAG("d", schedule=None) as d:
        s1 = empty("s1").as_setup()
        t1 = empty("t1").as_teardown(setups=s1)
        with s1 >> t1:
            s2 = empty("s2").as_setup()
            t2 = empty("t2").as_teardown(setups=s2)
            with s2 >> t2:
                empty("w")
    got = edges(describe(d))
    assert {("s1", "t1"), ("s2", "t2"), ("s2", "w"), ("w", "t2"), ("s1", "s2"),
            ("t2", "t1")} == got


def test_block_with_no_root_or_leaf_uses_first_and_last_task(describe):
    with DAG("d", schedule=None) as d:
        before = empty("before")
        s = empty("s").as_setup()
        t = empty("t").as_teardown(setups=s)
        later = empty("later")
        with t:
            w = empty("w")
            before >> w >> later
    assert {("s", "w"), ("w", "t")} <= edges(describe(d))


def test_an_error_inside_a_block_leaves_no_block_open():
    with DAG("d", schedule=None):
        s = empty("s").as_setup()
        with pytest.raises(RuntimeError), s:
            raise RuntimeError("boom")
        w = empty("w")
    assert not w.upstream_task_ids


# --- decorators -----------------------------------------------------------------------------

def test_setup_and_teardown_decorators(describe):
    with DAG("d", schedule=None) as d:
        @setup
        def create() -> str:
            return "cluster-1"

        @teardown(on_failure_fail_dagrun=True)
        def delete(cluster_id: str) -> None:
            print(cluster_id)

        @teardown
        def tidy() -> None:
            return None

        @setup
        @task.bash
        def make_dir() -> str:
            return "mkdir -p /tmp/x"

        cluster = create()
        delete(cluster)
        tidy.override(task_id="tidy_up")()
        make_dir()
    doc = by_id(describe(d))
    assert doc["create"]["is_setup"] and doc["make_dir"]["is_setup"]
    assert doc["make_dir"]["operator"] == "bash"
    assert doc["delete"]["is_teardown"] and doc["delete"]["on_failure_fail_dagrun"]
    assert doc["delete"]["trigger_rule"] == TEARDOWN_RULE
    assert doc["delete"]["inputs"]["args"] == [{"xcom": {"task_id": "create",
                                                         "key": "return_value"}}]
    assert doc["tidy_up"]["is_teardown"] and "on_failure_fail_dagrun" not in doc["tidy_up"]


def test_decorator_mistakes():
    with pytest.raises(DagDefinitionError, match="trigger rule of a teardown"):
        teardown(task(trigger_rule="all_success")(lambda: None))
    with pytest.raises(DagDefinitionError, match="already a setup"):
        teardown(setup(lambda: None))


# --- Airflow files, through the compile child -------------------------------------------------

def test_airflow_taskflow_example_shape(tmp_path):
    """The ``with teardown(setup()):`` form of Airflow's own example, and its graph."""
    result = compile_source(tmp_path, """
        from airflow.sdk import DAG, setup, task, task_group, teardown

        with DAG("st", schedule=None):
            @task
            def one(): ...
            @task
            def two(): ...
            @task
            def three(): ...
            t1, t2, t3 = one(), two(), three()
            t1 >> t2 >> t3.as_teardown(setups=t1)

            @setup
            def outer_setup():
                return "id"
            @teardown
            def outer_teardown(cluster_id): ...
            @task
            def outer_work(): ...

            @task_group
            def section_1():
                @setup
                def inner_setup():
                    return "id"
                @task
                def inner_work(cluster_id): ...
                @teardown
                def inner_teardown(cluster_id): ...
                s = inner_setup()
                inner_work(s) >> inner_teardown(s)

            with outer_teardown(outer_setup()):
                outer_work()
                section_1()
    """)
    assert result["ok"], result
    (doc,) = result["dags"]
    assert edges(doc) == {
        ("one", "two"), ("two", "three"), ("one", "three"),
        ("outer_setup", "outer_teardown"), ("outer_setup", "outer_work"),
        ("outer_work", "outer_teardown"),
        ("section_1.inner_setup", "section_1.inner_work"),
        ("section_1.inner_setup", "section_1.inner_teardown"),
        ("section_1.inner_work", "section_1.inner_teardown"),
    }
    tasks = by_id(doc)
    assert {t for t, v in tasks.items() if v.get("is_setup")} == {
        "one", "outer_setup", "section_1.inner_setup"}
    assert {t for t, v in tasks.items() if v.get("is_teardown")} == {
        "three", "outer_teardown", "section_1.inner_teardown"}


def test_airflow_2_decorators_path_and_dag_json_round_trip(tmp_path):
    result = compile_source(tmp_path, """
        from airflow.decorators import dag, setup, teardown, task
        from airflow.operators.bash import BashOperator

        @dag(schedule=None)
        def two():
            s = BashOperator(task_id="s", bash_command="true").as_setup()
            @teardown(on_failure_fail_dagrun=True)
            def t(): ...
            @task
            def work(): ...
            s >> work() >> t()
        two()
    """)
    assert result["ok"], result
    (doc,) = result["dags"]
    spec = DagSpec.from_json({**doc, "content_hash": "x"})
    assert spec.task("s").is_setup and not spec.task("s").is_teardown
    assert spec.task("t").is_teardown and spec.task("t").on_failure_fail_dagrun
    assert not spec.task("work").is_setup
    task_schema = load_schema(DAG_SCHEMA)["$defs"]["task"]["properties"]
    assert {"is_setup", "is_teardown", "on_failure_fail_dagrun"} <= set(task_schema)


def test_bash_operator_chain_of_airflows_operator_example(describe):
    with DAG("d", schedule=None) as d:
        root_setup = BashOperator(task_id="root_setup", bash_command="echo 1").as_setup()
        normal = BashOperator(task_id="normal", bash_command="echo 2")
        root_teardown = BashOperator(task_id="root_teardown",
                                     bash_command="echo 3").as_teardown(setups=root_setup)
        root_setup >> normal >> root_teardown
    assert by_id(describe(d))["root_teardown"]["upstream"] == ["root_setup", "normal"]
