"""Expansion lengths of mapped tasks: literals, upstream results, params, cross products."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from leoflow.engine.scheduler.mapping import (
    UnmappableValue,
    expansion_length,
    literal_expansion_length,
    mapping_dependencies,
)
from leoflow.engine.spec.model import Expansion, TaskSpec, XComRef


def mapped(values: dict[str, Any], mode: str = "kwargs") -> TaskSpec:
    return TaskSpec(task_id="m", operator="python",
                    expand=Expansion(mode=mode, values=MappingProxyType(values)))  # type: ignore[arg-type]


def x(task_id: str, key: str = "return_value") -> dict[str, Any]:
    return {"xcom": {"task_id": task_id, "key": key}}


def test_literal_lengths_multiply() -> None:
    t = mapped({"a": {"literal": [1, 2, 3]}, "b": {"literal": {"k": 1, "j": 2}}})
    assert literal_expansion_length(t) == 6
    assert mapping_dependencies(t) == ()


def test_empty_literal_is_zero() -> None:
    assert literal_expansion_length(mapped({"a": {"literal": []}})) == 0


def test_upstream_results_need_a_length_from_the_caller() -> None:
    t = mapped({"a": x("up"), "b": {"list": [x("p"), x("q")]}, "c": x("up", "other")})
    assert mapping_dependencies(t) == ("up", "p", "q")
    assert literal_expansion_length(t) is None
    assert t.expand is not None
    assert expansion_length(t.expand) is None
    lengths = {XComRef("up"): 3, XComRef("up", "other"): 2}
    assert expansion_length(t.expand, xcom_length=lengths.get) == 3 * 2 * 2
    assert expansion_length(t.expand, xcom_length=lambda ref: None) is None


def test_expand_kwargs_and_params() -> None:
    t = mapped({"kwargs": {"literal": [{"a": 1}, {"a": 2}]}}, mode="list_of_kwargs")
    assert literal_expansion_length(t) == 2
    p = mapped({"a": {"param": {"name": "items"}}})
    assert p.expand is not None
    assert literal_expansion_length(p) is None
    assert expansion_length(p.expand, param_value={"items": [1, 2, 3, 4]}.__getitem__) == 4


def test_unmapped_task() -> None:
    t = TaskSpec(task_id="t", operator="python")
    assert mapping_dependencies(t) == () and literal_expansion_length(t) is None


@pytest.mark.parametrize("value", [{"literal": 3}, {"literal": "abc"}, {"weird": 1}])
def test_only_lists_and_dicts_can_be_mapped(value: dict[str, Any]) -> None:
    with pytest.raises(UnmappableValue, match="task 'm' argument 'a'"):
        literal_expansion_length(mapped({"a": value}))
