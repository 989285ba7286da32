"""One behaviour suite for every XCom backend (SQL on SQLite and PostgreSQL, Redis)."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.xcom import (
    MAX_VALUE_BYTES,
    XComNotSerializable,
    XComPolicy,
    XComTooLarge,
    XComValue,
    make_fetch,
    resolve_inputs,
)
from tests.integration.xcom.conftest import Harness

VALUES = [{"answer": 42, "nested": {"l": [1, 2.5, None, True]}}, [1, "two", {"3": 3}], 7,
          "text with ünïcode ✓", True, 0.25, [], {}]


async def test_push_and_get_any_json_value(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    for i, value in enumerate(VALUES):
        size = await xcoms.backend.push(dag_run_id=run, task_id=f"t{i}", value=value)
        compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        assert size == len(compact.encode())
        found = await xcoms.backend.get(run, f"t{i}")
        assert found is not None and found.value == value


async def test_a_stored_null_is_not_an_absent_value(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    await xcoms.backend.push(dag_run_id=run, task_id="none", value=None)
    found = await xcoms.backend.get(run, "none")
    assert isinstance(found, XComValue) and found.value is None
    assert await xcoms.backend.get(run, "missing") is None
    assert await xcoms.backend.get(run, "none", key="other") is None
    assert await xcoms.backend.get(run, "none", map_index=0) is None


async def test_pushing_again_replaces_and_runs_are_separate(xcoms: Harness) -> None:
    run_a, run_b = await xcoms.new_run(), await xcoms.new_run()
    await xcoms.backend.push(dag_run_id=run_a, task_id="t", value=1)
    await xcoms.backend.push(dag_run_id=run_b, task_id="t", value=2)
    await xcoms.backend.push(dag_run_id=run_a, task_id="t", value=3)
    assert (await xcoms.backend.get(run_a, "t")).value == 3  # type: ignore[union-attr]
    assert (await xcoms.backend.get(run_b, "t")).value == 2  # type: ignore[union-attr]


async def test_keys_and_map_indexes_are_addresses(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    backend = xcoms.backend
    for i in (2, 0, 1, 10):
        await backend.push(dag_run_id=run, task_id="square", map_index=i, value=i * i)
    await backend.push(dag_run_id=run, task_id="square", map_index=1, key="extra", value="x")
    await backend.push(dag_run_id=run, task_id="square_root", map_index=0, value=-1)
    await backend.push(dag_run_id=run, task_id="square", value="unmapped")
    mapped = await backend.get_mapped(run, "square")
    assert mapped == {-1: "unmapped", 0: 0, 1: 1, 2: 4, 10: 100}
    assert list(mapped) == [-1, 0, 1, 2, 10]
    assert await backend.get_mapped(run, "square", "extra") == {1: "x"}
    assert await backend.get_mapped(run, "nothing") == {}
    assert (await backend.get(run, "square", map_index=2)).value == 4  # type: ignore[union-attr]


async def test_glob_and_json_characters_in_ids_are_literal(xcoms: Harness) -> None:
    """Redis matches fields with glob patterns: ``*``, ``?``, ``[`` must not widen a match."""
    run = await xcoms.new_run()
    backend = xcoms.backend
    ids = ["a*", "ab", "a?", "a[b]", 'q"uote', "back\\slash", "ünï"]
    for n, task_id in enumerate(ids):
        await backend.push(dag_run_id=run, task_id=task_id, map_index=0, key="k*", value=n)
        await backend.push(dag_run_id=run, task_id=task_id, map_index=0, key="k1", value=-n)
    for n, task_id in enumerate(ids):
        assert await backend.get_mapped(run, task_id, "k*") == {0: n}
    assert await backend.delete_task(run, "a*") == 2
    assert await backend.get_mapped(run, "ab", "k*") == {0: 1}
    assert await backend.get_mapped(run, "a*", "k*") == {}


async def test_the_size_cap_stores_nothing_above_it(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    backend = xcoms.backend
    assert backend.policy.max_value_bytes == MAX_VALUE_BYTES == 256 * 1024
    at_limit = "x" * (MAX_VALUE_BYTES - 2)  # the two quotes make it exactly 256 KB
    assert await backend.push(dag_run_id=run, task_id="big", value=at_limit) == MAX_VALUE_BYTES
    await backend.push(dag_run_id=run, task_id="big", map_index=3, value="kept")
    with pytest.raises(XComTooLarge) as caught:
        await backend.push(dag_run_id=run, task_id="big", map_index=3, key="return_value",
                           value=at_limit + "y")
    error = caught.value
    assert (error.task_id, error.key, error.size, error.limit, error.map_index) == (
        "big", "return_value", MAX_VALUE_BYTES + 1, MAX_VALUE_BYTES, 3)
    assert "'big'" in str(error) and "'return_value'" in str(error) and "262145" in str(error)
    assert (await backend.get(run, "big", map_index=3)).value == "kept"  # type: ignore[union-attr]
    with pytest.raises(XComTooLarge):
        await backend.push(dag_run_id=run, task_id="other", value=at_limit + "y")
    assert await backend.get(run, "other") is None


async def test_the_cap_is_configurable_and_counts_utf8_bytes(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    small = xcoms.make(XComPolicy(max_value_bytes=10))
    # "éééé" is 4 characters but 8 bytes of UTF-8, plus two quotes: exactly the cap.
    assert await small.push(dag_run_id=run, task_id="t", value="éééé") == 10
    with pytest.raises(XComTooLarge) as caught:
        await small.push(dag_run_id=run, task_id="t", key="k", value="ééééx")
    assert caught.value.size == 11
    assert await small.get(run, "t", key="k") is None


async def test_values_that_are_not_json_are_refused(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    for bad in (math.nan, {"x": math.inf}, object(), {1.5j: 1}):
        with pytest.raises(XComNotSerializable) as caught:
            await xcoms.backend.push(dag_run_id=run, task_id="bad", key="k", value=bad)
        assert caught.value.task_id == "bad" and caught.value.key == "k"
    assert await xcoms.backend.get(run, "bad", key="k") is None


async def test_delete_task_all_or_one_map_index(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    backend = xcoms.backend
    for i in range(3):
        await backend.push(dag_run_id=run, task_id="m", map_index=i, value=i)
        await backend.push(dag_run_id=run, task_id="m", map_index=i, key="k", value=i)
    await backend.push(dag_run_id=run, task_id="keep", value="kept")
    assert await backend.delete_task(run, "m", map_index=1) == 2
    assert await backend.get_mapped(run, "m") == {0: 0, 2: 2}
    assert await backend.delete_task(run, "m") == 4
    assert await backend.get_mapped(run, "m") == {}
    assert await backend.delete_task(run, "m") == 0
    assert (await backend.get(run, "keep")).value == "kept"  # type: ignore[union-attr]


async def test_delete_one_key_at_one_map_index(xcoms: Harness) -> None:
    """``DELETE …/xcomEntries/{key}``: only that key at that index; a key that is the prefix
    of another, or holds glob characters, is not a pattern."""
    run = await xcoms.new_run()
    backend = xcoms.backend
    for key in ("k", "k2", "k*"):
        for i in (-1, 0):
            await backend.push(dag_run_id=run, task_id="t", map_index=i, key=key, value=key)
    assert await backend.delete_task(run, "t", -1, key="k*") == 1
    assert await backend.delete_task(run, "t", -1, key="k") == 1
    assert await backend.delete_task(run, "t", -1, key="k") == 0
    assert await backend.get(run, "t", key="k", map_index=-1) is None
    left = await backend.list(dag_run_id=run)
    assert sorted((e.key, e.map_index) for e in left.items) == [
        ("k", 0), ("k*", 0), ("k2", -1), ("k2", 0)]


async def test_list_filters_orders_and_pages(xcoms: Harness) -> None:
    run_a, run_b = await xcoms.new_run(), await xcoms.new_run()
    backend = xcoms.backend
    await backend.push(dag_run_id=run_b, task_id="b", value="b")
    await backend.push(dag_run_id=run_a, task_id="b", map_index=1, value="b1")
    await backend.push(dag_run_id=run_a, task_id="b", map_index=0, value="b0")
    await backend.push(dag_run_id=run_a, task_id="a", key="z", value="az")
    await backend.push(dag_run_id=run_a, task_id="a", value="a")
    page = await backend.list(dag_run_id=run_a)
    assert page.total == 4
    assert [(e.task_id, e.map_index, e.key, e.value) for e in page.items] == [
        ("a", -1, "return_value", "a"), ("a", -1, "z", "az"),
        ("b", 0, "return_value", "b0"), ("b", 1, "return_value", "b1")]
    assert all(e.dag_run_id == run_a and e.created_at is not None for e in page.items)
    second = await backend.list(dag_run_id=run_a, limit=2, offset=2)
    assert second.total == 4 and [e.value for e in second.items] == ["b0", "b1"]
    assert [e.value for e in (await backend.list(task_id="b")).items] == ["b0", "b1", "b"]
    assert [e.value for e in (await backend.list(key="z")).items] == ["az"]
    assert [e.value for e in (await backend.list(map_index=1)).items] == ["b1"]
    assert (await backend.list(dag_run_id=run_a, task_id="nope")).total == 0


async def test_values_expire_after_the_ttl(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    short = xcoms.make(XComPolicy(ttl_seconds=0.3))
    keep = xcoms.make(XComPolicy(ttl_seconds=0))
    await short.push(dag_run_id=run, task_id="short", map_index=0, value=1)
    found = await short.get(run, "short", map_index=0)
    assert found is not None and found.expires_at is not None and found.created_at is not None
    assert 0.2 < (found.expires_at - found.created_at).total_seconds() < 0.4
    await asyncio.sleep(0.45)
    assert await short.get(run, "short", map_index=0) is None
    assert await short.get_mapped(run, "short") == {}
    assert (await short.list(dag_run_id=run)).total == 0
    await short.sweep()
    # A push without TTL, after the sweep, is kept with no expiry.
    await keep.push(dag_run_id=run, task_id="keep", value=2)
    found = await keep.get(run, "keep")
    assert found is not None and found.expires_at is None and found.value == 2
    assert [e.task_id for e in (await keep.list(dag_run_id=run)).items] == ["keep"]


async def test_the_default_ttl_is_seven_days(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    await xcoms.backend.push(dag_run_id=run, task_id="t", value=1)
    found = await xcoms.backend.get(run, "t")
    assert found is not None and found.expires_at is not None and found.created_at is not None
    assert abs((found.expires_at - found.created_at).total_seconds() - 7 * 86400) < 1


async def test_concurrent_pushes_of_a_mapped_task(xcoms: Harness) -> None:
    run = await xcoms.new_run()
    await asyncio.gather(*(xcoms.backend.push(dag_run_id=run, task_id="m", map_index=i,
                                              value={"i": i}) for i in range(40)))
    assert await xcoms.backend.get_mapped(run, "m") == {i: {"i": i} for i in range(40)}


async def test_inputs_resolve_over_the_backend(xcoms: Harness) -> None:
    """``make_fetch`` turns any backend into the resolver's ``fetch``: a mapped upstream
    becomes its ordered results, a missing upstream None in a fan-in list."""
    run = await xcoms.new_run()
    backend = xcoms.backend
    for i in (2, 0, 1):
        await backend.push(dag_run_id=run, task_id="square", map_index=i, value=i * i)
    await backend.push(dag_run_id=run, task_id="square", value="not an instance")
    await backend.push(dag_run_id=run, task_id="first", value="one")
    await backend.push(dag_run_id=run, task_id="third", value=None)
    task = TaskSpec.from_json({"task_id": "total", "operator": "python", "inputs": {
        "args": [{"xcom": {"task_id": "square", "key": "return_value"}}],
        "kwargs": {"parts": {"list": [{"xcom": {"task_id": "first"}},
                                      {"xcom": {"task_id": "second"}},
                                      {"xcom": {"task_id": "third"}}]}}}})
    args, kwargs = await resolve_inputs(task, -1, params={},
                                        fetch=make_fetch(backend, run, mapped={"square"}))
    assert args == [[0, 1, 4]]
    assert kwargs == {"parts": ["one", None, None]}
