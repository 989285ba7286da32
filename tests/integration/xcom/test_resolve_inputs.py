"""resolve_inputs: encoded inputs → the concrete values of one try (pure; fetch is a dict)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.xcom import InputResolutionError, resolve_inputs


def xcom(task_id: str, key: str = "return_value") -> dict[str, Any]:
    return {"xcom": {"task_id": task_id, "key": key}}


def lit(value: Any) -> dict[str, Any]:
    return {"literal": value}


def make_task(args: list[Any] | None = None, kwargs: dict[str, Any] | None = None,
              expand: dict[str, Any] | None = None) -> TaskSpec:
    return TaskSpec.from_json({"task_id": "consumer", "operator": "python", "expand": expand,
                               "inputs": {"args": args or [], "kwargs": kwargs or {}}})


class Results:
    """A fetch over a dict of ``(task_id, key) -> value``; records what was read."""

    def __init__(self, values: dict[tuple[str, str], Any]) -> None:
        self.values = values
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, task_id: str, key: str) -> Any:
        self.calls.append((task_id, key))
        return self.values.get((task_id, key))


async def resolve(task: TaskSpec, map_index: int = -1, values: dict[Any, Any] | None = None,
                  params: dict[str, Any] | None = None) -> tuple[list[Any], dict[str, Any]]:
    return await resolve_inputs(task, map_index, fetch=Results(values or {}),
                                params=params or {})


async def test_literals_pass_as_they_are_and_are_copies() -> None:
    payload = {"rows": [1, 2], "name": "x"}
    task = make_task([lit(1), lit("two"), lit(None)], {"config": lit(payload)})
    args, kwargs = await resolve(task)
    assert args == [1, "two", None] and kwargs == {"config": payload}
    kwargs["config"]["rows"].append(3)  # a caller mutating its inputs...
    assert task.inputs["kwargs"]["config"]["literal"]["rows"] == [1, 2]  # ...leaves the spec


async def test_xcom_references_and_custom_keys() -> None:
    values = {("extract", "return_value"): {"n": 3}, ("extract", "meta"): "m",
              ("nulled", "return_value"): None}
    task = make_task([xcom("extract")], {"meta": xcom("extract", "meta"),
                                         "gone": xcom("missing"), "null": xcom("nulled")})
    args, kwargs = await resolve(task, values=values)
    assert args == [{"n": 3}]
    assert kwargs == {"meta": "m", "gone": None, "null": None}


async def test_fan_in_keeps_declaration_order_with_none_for_a_missing_value() -> None:
    values = {("c", "return_value"): 3, ("a", "return_value"): 1, ("d", "return_value"): 4}
    task = make_task([{"list": [xcom("c"), xcom("b"), lit("literal"), xcom("a"), xcom("d")]}])
    args, _ = await resolve(task, values=values)
    assert args == [[3, None, "literal", 1, 4]]


async def test_each_reference_is_read_once() -> None:
    results = Results({("a", "return_value"): 1})
    task = make_task([xcom("a"), {"list": [xcom("a"), xcom("a")]}], {"x": xcom("a")})
    args, kwargs = await resolve_inputs(task, -1, fetch=results, params={})
    assert args == [1, [1, 1]] and kwargs == {"x": 1}
    assert results.calls == [("a", "return_value")]


async def test_nested_dicts_and_lists() -> None:
    values = {("train", "return_value"): {"loss": 0.1}, ("eval", "return_value"): [0.9, 0.8]}
    task = make_task(kwargs={"report": {"dict": {
        "model": {"dict": {"metrics": xcom("train"), "name": lit("m1"),
                           "history": {"list": [xcom("eval"), lit([1]), xcom("none")]}}},
        "threshold": {"param": {"name": "threshold"}},
    }}})
    _, kwargs = await resolve(task, values=values, params={"threshold": 0.5})
    assert kwargs == {"report": {"model": {"metrics": {"loss": 0.1}, "name": "m1",
                                           "history": [[0.9, 0.8], [1], None]},
                                 "threshold": 0.5}}


async def test_a_mapped_upstream_is_the_list_the_caller_fetches() -> None:
    values = {("square", "return_value"): [0, 1, 4, 9]}
    args, _ = await resolve(make_task([xcom("square")]), values=values)
    assert args == [[0, 1, 4, 9]]


async def test_params_come_from_the_run() -> None:
    task = make_task([{"param": {"name": "n"}}], {"cfg": {"param": {"name": "cfg"}}})
    params = {"n": 5, "cfg": {"a": [1]}}
    args, kwargs = await resolve(task, params=params)
    assert args == [5] and kwargs == {"cfg": {"a": [1]}}
    kwargs["cfg"]["a"].append(2)
    assert params["cfg"] == {"a": [1]}
    with pytest.raises(InputResolutionError) as caught:
        await resolve(make_task(kwargs={"x": {"param": {"name": "missing"}}}), params=params)
    assert caught.value.argument == "x" and "'missing'" in str(caught.value)
    assert "cfg, n" in str(caught.value)


async def test_cross_product_order_matches_airflow() -> None:
    """``.expand(image=[...], width=[...])``: the first argument varies slowest."""
    images, widths = ["cat.png", "dog.png"], [64, 128, 256]
    task = make_task(kwargs={"quality": lit(90)},
                     expand={"mode": "kwargs",
                             "values": {"image": lit(images), "width": lit(widths)}})
    seen = [(await resolve(task, i))[1] for i in range(6)]
    assert seen == [{"quality": 90, "image": im, "width": w}
                    for im, w in itertools.product(images, widths)]
    assert seen[1] == {"quality": 90, "image": "cat.png", "width": 128}


async def test_three_way_product_and_upstream_and_param_lists() -> None:
    values = {("seeds", "return_value"): [11, 22]}
    task = make_task(expand={"mode": "kwargs", "values": {
        "a": lit([1, 2, 3]), "seed": xcom("seeds"), "mode": {"param": {"name": "modes"}}}})
    params = {"modes": ["x", "y"]}
    out = [(await resolve(task, i, values, params))[1] for i in range(12)]
    assert [(o["a"], o["seed"], o["mode"]) for o in out] == list(
        itertools.product([1, 2, 3], [11, 22], ["x", "y"]))


async def test_mapping_over_a_dict_gives_key_value_pairs() -> None:
    task = make_task(expand={"mode": "kwargs", "values": {"item": lit({"a": 1, "b": 2})}})
    assert [(await resolve(task, i))[1] for i in range(2)] == [
        {"item": ["a", 1]}, {"item": ["b", 2]}]


async def test_mapped_values_override_partial_kwargs() -> None:
    values = {("plan", "return_value"): [1, 2, 3]}
    task = make_task(args=[lit("positional")], kwargs={"samples": lit(100), "seed": lit(0)},
                     expand={"mode": "kwargs", "values": {"seed": xcom("plan")}})
    args, kwargs = await resolve(task, 2, values)
    assert args == ["positional"] and kwargs == {"samples": 100, "seed": 3}


async def test_expand_kwargs_gives_the_ith_dict() -> None:
    plans = [{"table": "orders", "rows": 120}, {"table": "customers", "rows": 45}]
    values = {("plan_loads", "return_value"): plans}
    task = make_task(kwargs={"dry_run": lit(False)},
                     expand={"mode": "list_of_kwargs", "values": {"kwargs": xcom("plan_loads")}})
    assert (await resolve(task, 1, values))[1] == {"dry_run": False, "table": "customers",
                                                   "rows": 45}
    # A list of dicts written in the DAG file, with references inside.
    task = make_task(expand={"mode": "list_of_kwargs", "values": {"kwargs": {"list": [
        {"dict": {"x": xcom("plan_loads")}}, lit({"x": 0})]}}})
    assert (await resolve(task, 0, values))[1] == {"x": plans}
    assert (await resolve(task, 1, values))[1] == {"x": 0}


@pytest.mark.parametrize(("expand", "map_index", "argument", "words"), [
    ({"mode": "kwargs", "values": {"x": lit([1, 2]), "y": lit([3])}}, 2, "x, y", "past the 2"),
    ({"mode": "kwargs", "values": {"x": lit(5)}}, 0, "x", "list or a dict, got int"),
    ({"mode": "kwargs", "values": {"x": lit([])}}, 0, "x", "empty"),
    ({"mode": "kwargs", "values": {"x": lit([1])}}, -1, "expand", "map index"),
    ({"mode": "list_of_kwargs", "values": {"kwargs": lit({"a": 1})}}, 0, "expand_kwargs",
     "list of dicts, got dict"),
    ({"mode": "list_of_kwargs", "values": {"kwargs": lit([{"a": 1}])}}, 1, "expand_kwargs",
     "past the 1"),
    ({"mode": "list_of_kwargs", "values": {"kwargs": lit([1])}}, 0, "expand_kwargs[0]",
     "got int"),
])
async def test_bad_expansions_name_the_argument(expand: dict[str, Any], map_index: int,
                                                argument: str, words: str) -> None:
    with pytest.raises(InputResolutionError) as caught:
        await resolve(make_task(expand=expand), map_index)
    assert caught.value.task_id == "consumer" and caught.value.argument == argument
    assert words in str(caught.value)


async def test_unknown_encodings_are_errors_and_plain_values_pass() -> None:
    with pytest.raises(InputResolutionError, match="unknown input encoding 'pickle'"):
        await resolve(make_task([{"pickle": "gASV"}]))
    # Hand-written specs may hold untagged JSON (not single-key objects): passed as is.
    args, _ = await resolve(make_task([3, [1, 2], {"a": 1, "b": 2}]))
    assert args == [3, [1, 2], {"a": 1, "b": 2}]


async def test_an_unmapped_task_ignores_the_map_index() -> None:
    assert await resolve(make_task([lit(1)]), 3) == ([1], {})


async def test_cross_product_follows_declaration_order_not_key_order() -> None:
    """dag.json sorts keys, so ``expand(width=..., image=...)`` keeps its order in ``order``."""
    images, widths = ["cat.png", "dog.png"], [64, 128, 256]
    task = make_task(expand={"mode": "kwargs", "order": ["width", "image"],
                             "values": {"image": lit(images), "width": lit(widths)}})
    seen = [(await resolve(task, i))[1] for i in range(6)]
    assert seen == [{"width": w, "image": im} for w, im in itertools.product(widths, images)]
