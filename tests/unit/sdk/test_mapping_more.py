"""Dynamic task mapping beyond ``@task.expand``: mapped task groups, ``.partial().expand()`` on
a user's operator, ``XComArg.map/zip/concat``: how they are written to dag.json, how the
control plane resolves them (without user code) and how the task runner finishes them."""

from __future__ import annotations

from typing import Any

import pytest

from leoflow.engine.scheduler.decisions import evaluate_run
from leoflow.engine.scheduler.mapping import expansion_length
from leoflow.engine.spec.model import SPEC_VERSION, DagSpec, TaskSpec, iter_xcom_refs
from leoflow.engine.spec.schemas import validate
from leoflow.engine.xcom import InputResolutionError, resolve_inputs
from leoflow.sdk import DAG, BaseOperator, task, task_group
from leoflow.sdk.errors import AirflowSkipException, DagDefinitionError
from leoflow.sdk.mapped_operators import prepare_task
from leoflow.sdk.xcom_transforms import apply_map_functions
from tests.unit.sdk.conftest import by_id


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    # what the compiler checks before registering (it adds the version and the hash)
    validate({**doc, "schema_version": SPEC_VERSION, "content_hash": "sha256:" + "0" * 64},
             "dag.schema.json")
    return doc


async def _resolve(spec: dict[str, Any], map_index: int,
                   values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    async def fetch(task_id: str, key: str) -> Any:
        return values.get(task_id)

    return await resolve_inputs(TaskSpec.from_json(spec), map_index, fetch=fetch, params={})


# -- mapped task groups ---------------------------------------------------------------------
def _group_dag() -> DAG:
    with DAG("groups") as d:
        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task_group
        def pipeline(num, factor):
            @task
            def add(num):
                return num + 1

            @task
            def scale(x, factor):
                return x * factor

            @task
            def hello():
                return "hi"

            hello()
            return scale(add(num), factor)

        @task
        def total(values):
            return sum(values)

        total(pipeline.partial(factor=10).expand(num=numbers()))
    return d


def test_mapped_group_maps_every_task_with_the_groups_expansion(describe):
    tasks = by_id(_document(describe(_group_dag())))
    group_expand = {"mode": "kwargs", "order": ["num"], "group": "pipeline",
                    "values": {"num": {"xcom": {"task_id": "numbers", "key": "return_value"}}}}
    for tid in ("pipeline.add", "pipeline.scale", "pipeline.hello"):
        assert tasks[tid]["expand"] == group_expand, tid
        assert "numbers" in tasks[tid]["upstream"]
    assert tasks["pipeline.add"]["inputs"]["args"] == [{"mapped_arg": {"name": "num"}}]
    # inside the group: the same instance of add; the fixed argument is a literal
    assert tasks["pipeline.scale"]["inputs"]["args"] == [
        {"xcom": {"task_id": "pipeline.add", "key": "return_value", "same_map_index": True}},
        {"literal": 10}]
    # outside the group: the list of every instance's result
    assert tasks["total"]["inputs"]["args"] == [
        {"xcom": {"task_id": "pipeline.scale", "key": "return_value"}}]
    assert tasks["total"]["expand"] is None


async def test_group_tasks_read_their_instance_and_not_the_expansion_as_kwargs(describe):
    tasks = by_id(describe(_group_dag()))
    values = {"numbers": [1, 2, 3], "pipeline.add": [2, 3, 4]}
    assert await _resolve(tasks["pipeline.add"], 1, values) == ([2], {})
    assert await _resolve(tasks["pipeline.scale"], 2, values) == ([4, 10], {})
    assert await _resolve(tasks["pipeline.hello"], 0, values) == ([], {})
    assert await _resolve(tasks["total"], -1, {"pipeline.scale": [20, 30, 40]}) == (
        [[20, 30, 40]], {})


def test_a_group_task_waits_only_for_its_own_instance_upstream(describe):
    spec = DagSpec.from_json({**describe(_group_dag()), "content_hash": "x"})
    states = {("numbers", -1): "success", ("pipeline.add", 0): "success",
              ("pipeline.add", 1): "failed", ("pipeline.add", 2): "running",
              ("pipeline.scale", -1): None, ("pipeline.hello", -1): None,
              ("total", -1): None}
    decision = evaluate_run(spec, states, mapped_lengths=dict.fromkeys(
        ["pipeline.scale", "pipeline.hello"], 3))
    assert decision.expand == {"pipeline.scale": 3, "pipeline.hello": 3}
    assert ("pipeline.scale", 0) in decision.schedule  # add[0] is done: no need to wait
    assert ("pipeline.scale", 1) in decision.upstream_failed  # only add[1] failed
    assert ("pipeline.scale", 2) not in decision.schedule + decision.upstream_failed
    assert ("total", -1) not in decision.schedule


async def test_group_expand_kwargs_and_literal_cross_product(describe):
    with DAG("group_kwargs") as d:
        @task_group
        def pair(a, b):
            @task
            def join(a, b):
                return f"{a}-{b}"

            join(a, b)

        pair.expand_kwargs([{"a": 1, "b": 2}, {"a": 3, "b": 4}])
        pair.expand(a=[1, 2], b=["x", "y", "z"])
    tasks = by_id(_document(describe(d)))
    first, second = tasks["pair.join"], tasks["pair__1.join"]
    assert first["expand"]["mode"] == "list_of_kwargs" and first["expand"]["group"] == "pair"
    assert await _resolve(first, 1, {}) == ([3, 4], {})
    assert expansion_length(TaskSpec.from_json(second).expand) == 6
    assert await _resolve(second, 4, {}) == ([2, "y"], {})  # b varies fastest


def test_mapped_group_errors_name_the_problem():
    with DAG("bad_groups"):
        @task_group
        def g(num):
            @task
            def f(x):
                return x

            f.expand(x=[1, 2])

        with pytest.raises(DagDefinitionError, match=r"has no parameter.*'nope'"):
            g.expand(nope=[1])
        with pytest.raises(DagDefinitionError, match="cannot map over num=5"):
            g.expand(num=5)
        with pytest.raises(DagDefinitionError, match="mapped inside mapped task group"):
            g.expand(num=[1])


def test_a_group_argument_used_outside_its_group_is_refused(describe):
    leaked: list[Any] = []
    with DAG("leak") as d:
        @task_group
        def g(num):
            leaked.append(num)

            @task
            def f(x):
                return x

            f(num)

        @task
        def outside(x):
            return x

        g.expand(num=[1])
        outside(leaked[0])
    with pytest.raises(DagDefinitionError, match="outside that group"):
        describe(d)


# -- user operators -------------------------------------------------------------------------
class Multiply(BaseOperator):
    """Validates in __init__ (so it cannot be built with placeholders) and derives state."""

    def __init__(self, x, factor=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(x, int):
            raise TypeError(f"x must be an int, got {x!r}")
        self.product = x * factor

    def execute(self, context):
        return self.product


class AddOne(BaseOperator):
    template_fields = ("value",)

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def execute(self, context):
        return self.value + 1


def test_user_operator_maps_over_any_init_argument(describe):
    with DAG("ops") as d:
        AddOne.partial(task_id="add_one").expand(value=[1, 2, 3])
        Multiply.partial(task_id="mul", factor=3).expand(x=[1, 2])
        Multiply.partial(task_id="mul_kw").expand_kwargs([{"x": 2, "factor": 5}, {"x": 1}])
        with pytest.raises(DagDefinitionError, match="cannot map over y; mappable: x, factor"):
            Multiply.partial(task_id="bad").expand(y=[1])
    tasks = by_id(_document(describe(d)))
    assert tasks["add_one"]["expand"]["values"] == {"value": {"literal": [1, 2, 3]}}
    assert tasks["mul"]["operator"] == "python"
    assert tasks["mul"]["expand"]["values"] == {"x": {"literal": [1, 2]}}
    assert tasks["mul_kw"]["expand"]["mode"] == "list_of_kwargs"


def test_runner_builds_each_mapped_user_operator_with_its_values():
    with DAG("ops_run") as d:
        mul = Multiply.partial(task_id="mul", factor=3).expand(x=[1, 2])
        kw = Multiply.partial(task_id="mul_kw").expand_kwargs([{"x": 2, "factor": 5}])
    real, _, rest = prepare_task(d, mul, [], {"x": 2})
    assert real is not mul and real.execute({}) == 6 and rest == {}
    assert real.task_id == "mul" and d.get_task("mul") is mul  # not registered twice
    real, _, _ = prepare_task(d, kw, [], {"x": 2, "factor": 5})
    assert real.execute({}) == 10


# -- XComArg.map / zip / concat --------------------------------------------------------------
def _transforms_dag() -> DAG:
    def upper(s):
        return s.upper()

    def no_b(s):
        if s == "B":
            raise AirflowSkipException("no b")
        return s

    with DAG("transforms") as d:
        @task
        def letters():
            return ["a", "b", "c"]

        @task
        def nums():
            return [1, 2]

        @task
        def echo(v):
            return v

        lets, ns = letters(), nums()
        echo.override(task_id="mapped").expand(v=lets.map(upper))
        echo.override(task_id="chained").expand(v=lets.map(upper).map(no_b))
        echo.override(task_id="zipped").expand(v=lets.zip(ns))
        echo.override(task_id="longest").expand(v=lets.zip(ns, fillvalue=None))
        echo.override(task_id="joined").expand(v=ns.concat(lets))
        echo.override(task_id="whole")(lets.map(upper))
    return d


def test_map_zip_concat_are_encoded_with_their_sources(describe):
    tasks = by_id(_document(describe(_transforms_dag())))
    src = {"xcom": {"task_id": "letters", "key": "return_value"}}
    nums = {"xcom": {"task_id": "nums", "key": "return_value"}}
    assert tasks["mapped"]["expand"]["values"]["v"] == {
        "map": {"arg": src, "fns": [0], "names": ["_transforms_dag.<locals>.upper"]}}
    assert tasks["chained"]["expand"]["values"]["v"]["map"]["fns"] == [1, 2]
    assert tasks["zipped"]["expand"]["values"]["v"] == {
        "zip": {"args": [src, nums], "longest": False}}
    assert tasks["longest"]["expand"]["values"]["v"]["zip"]["fillvalue"] is None
    assert tasks["joined"]["expand"]["values"]["v"] == {"concat": {"args": [nums, src]}}
    assert sorted(tasks["zipped"]["upstream"]) == ["letters", "nums"]
    refs = list(iter_xcom_refs(tasks["joined"]["expand"]["values"]["v"]))
    assert [r.task_id for r in refs] == ["nums", "letters"]


async def test_lengths_and_values_without_running_map_functions(describe):
    doc = describe(_transforms_dag())
    tasks = by_id(doc)
    values = {"letters": ["a", "b", "c"], "nums": [1, 2]}

    def length(name: str) -> int | None:
        expand = TaskSpec.from_json(tasks[name]["expand"] and tasks[name]).expand
        return expansion_length(expand, xcom_length=lambda ref: len(values[ref.task_id]))

    assert [length(n) for n in ("mapped", "chained", "zipped", "longest", "joined")] == [
        3, 3, 2, 3, 5]
    _, kwargs = await _resolve(tasks["mapped"], 2, values)
    assert kwargs == {"v": {"__leoflow_map__": {"fns": [0], "value": "c"}}}
    assert (await _resolve(tasks["zipped"], 1, values))[1] == {"v": ["b", 2]}
    assert (await _resolve(tasks["longest"], 2, values))[1] == {"v": ["c", None]}
    assert (await _resolve(tasks["joined"], 3, values))[1] == {"v": "b"}
    with pytest.raises(InputResolutionError, match="expects a list or a dict, got int"):
        await _resolve(tasks["mapped"], 0, {"letters": 5})
    DagSpec.from_json({**doc, "content_hash": "x"})  # the engine reads every new tag


async def test_map_functions_run_in_the_user_process_in_order(describe):
    d = _transforms_dag()
    tasks = by_id(describe(d))
    values = {"letters": ["a", "b", "c"], "nums": [1, 2]}
    _, kwargs = await _resolve(tasks["chained"], 0, values)
    assert apply_map_functions(kwargs, d) == {"v": "A"}
    args, _ = await _resolve(tasks["whole"], -1, values)
    assert apply_map_functions(args, d) == [["A", "B", "C"]]
    _, kwargs = await _resolve(tasks["chained"], 1, values)
    with pytest.raises(AirflowSkipException):
        apply_map_functions(kwargs, d)


def test_map_zip_concat_bad_use_is_a_definition_error(describe):
    with DAG("bad_transforms") as d:
        @task
        def src():
            return [1]

        @task.bash
        def shell(cmd):
            return cmd

        s = src()
        with pytest.raises(DagDefinitionError, match="takes a function"):
            s.map(5)
        with pytest.raises(DagDefinitionError, match=r"zip.*takes results of tasks"):
            s.zip([1, 2])
        shell.expand(cmd=s.map(str))
    with pytest.raises(DagDefinitionError, match="'bash' task has none"):
        describe(d)
