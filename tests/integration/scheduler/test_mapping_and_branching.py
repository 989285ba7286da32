"""Dynamic task mapping, branching, short-circuit and EmptyOperator through the loop."""

from __future__ import annotations

from typing import Any

from tests.integration.scheduler.conftest import spec, task


def mapped(task_id: str, *upstream: str, over: Any, **extra: Any) -> dict[str, Any]:
    """A task mapped over one argument ``x`` (``.expand(x=...)``)."""
    return task(task_id, *upstream, expand={"mode": "kwargs", "values": {"x": over}}, **extra)


async def test_mapping_over_a_literal_list_then_downstream_after_every_index(any_harness):
    h = any_harness
    await h.register(spec("lit", mapped("m", over={"literal": [1, 2, 3]}),
                          task("total", "m")))
    run_id = await h.trigger("lit")
    assert sorted(h.executor.started_ids()) == ["m[0]", "m[1]", "m[2]"]
    await h.finish("m", map_index=0)
    await h.finish("m", map_index=2)
    assert "total" not in h.executor.started_ids()
    await h.finish("m", map_index=1)
    assert h.executor.started_ids()[-1] == "total"
    await h.finish("total")
    assert await h.states("lit", run_id) == {"m[0]": "success", "m[1]": "success",
                                             "m[2]": "success", "total": "success"}
    assert await h.run_state("lit", run_id) == "success"


async def test_mapping_over_an_upstream_result(any_harness):
    h = any_harness
    await h.register(spec("dyn", task("make"),
                          mapped("square", "make", over={"xcom": {"task_id": "make"}}),
                          task("total", "square")))
    run_id = await h.trigger("dyn")
    assert await h.states("dyn", run_id) == {"make": "queued", "square": None, "total": None}
    # The agent pushes the return value before it reports success.
    await h.put_xcom("dyn", run_id, "make", [10, 20])
    await h.finish("make")
    assert sorted(h.executor.started_ids()) == ["make", "square[0]", "square[1]"]
    await h.finish("square", map_index=0)
    await h.finish("square", map_index=1)
    await h.finish("total")
    assert await h.run_state("dyn", run_id) == "success"


async def test_mapping_over_an_empty_list_skips_the_task_and_its_downstream(harness):
    h = harness
    await h.register(spec("empty_map", task("make"),
                          mapped("square", "make", over={"xcom": {"task_id": "make"}}),
                          task("total", "square"),
                          task("report", "square", trigger_rule="all_done")))
    run_id = await h.trigger("empty_map")
    await h.put_xcom("empty_map", run_id, "make", [])
    await h.finish("make")
    assert await h.states("empty_map", run_id) == {
        "make": "success", "square": "skipped", "total": "skipped", "report": "queued"}
    await h.finish("report")
    assert await h.run_state("empty_map", run_id) == "success"


async def test_a_failed_mapped_index_fails_the_downstream(harness):
    h = harness
    await h.register(spec("map_fail", mapped("m", over={"literal": ["a", "b"]}),
                          task("after", "m")))
    run_id = await h.trigger("map_fail")
    await h.finish("m", map_index=0)
    await h.finish("m", "failed", map_index=1)
    assert await h.states("map_fail", run_id) == {"m[0]": "success", "m[1]": "failed",
                                                  "after": "upstream_failed"}
    assert await h.run_state("map_fail", run_id) == "failed"


async def test_branch_follows_the_chosen_task_and_skips_the_other(any_harness):
    h = any_harness
    await h.register(spec("branchy", task("pick", operator="branch"), task("left", "pick"),
                          task("right", "pick"), task("after_right", "right"),
                          task("join", "left", "after_right",
                               trigger_rule="none_failed_min_one_success")))
    run_id = await h.trigger("branchy")
    await h.finish("pick", info={"follow_task_ids": ["left"]})
    assert await h.states("branchy", run_id) == {
        "pick": "success", "left": "queued", "right": "skipped", "after_right": "skipped",
        "join": None}
    await h.finish("left")
    await h.finish("join")
    assert await h.run_state("branchy", run_id) == "success"
    assert "right" not in h.executor.started_ids()


async def test_a_branch_naming_an_unknown_task_fails(harness):
    h = harness
    await h.register(spec("badbranch", task("pick", operator="branch"), task("a", "pick")))
    run_id = await h.trigger("badbranch")
    await h.finish("pick", info={"follow_task_ids": ["nope"]})
    assert await h.states("badbranch", run_id) == {"pick": "failed", "a": "upstream_failed"}
    async with h.store.connect() as conn:
        from leoflow.engine.store import task_instances

        (attempt,) = await task_instances.list_tries(
            conn, (await h.run("badbranch", run_id)).id, "pick")
    assert "unknown: nope" in attempt.error


async def test_short_circuit_false_skips_everything_downstream(harness):
    h = harness
    await h.register(spec("sc", task("check", operator="short_circuit"), task("a", "check"),
                          task("b", "a"), task("done", "b", trigger_rule="all_done")))
    run_id = await h.trigger("sc")
    await h.finish("check", info={"short_circuit_continue": False})
    # ignore_downstream_trigger_rules defaults to True: even all_done is skipped.
    assert await h.states("sc", run_id) == {"check": "success", "a": "skipped",
                                            "b": "skipped", "done": "skipped"}
    assert await h.run_state("sc", run_id) == "success"


async def test_short_circuit_true_lets_the_run_continue(harness):
    h = harness
    await h.register(spec("sc_ok", task("check", operator="short_circuit"),
                          task("a", "check")))
    run_id = await h.trigger("sc_ok")
    await h.finish("check", info={"short_circuit_continue": True})
    assert (await h.states("sc_ok", run_id))["a"] == "queued"


async def test_empty_operator_tasks_complete_without_the_executor(any_harness):
    h = any_harness
    await h.register(spec("empties", task("start", operator="empty"), task("work", "start"),
                          task("end", "work", operator="empty")))
    run_id = await h.trigger("empties")
    assert h.executor.started_ids() == ["work"]
    await h.finish("work")
    assert await h.states("empties", run_id) == {"start": "success", "work": "success",
                                                 "end": "success"}
    assert await h.run_state("empties", run_id) == "success"
    assert h.executor.started_ids() == ["work"]
    start = await h.ti("empties", run_id, "start")
    assert start.try_number == 1


async def test_a_dag_of_only_empty_tasks_finishes_in_one_evaluation(harness):
    h = harness
    await h.register(spec("noop", task("a", operator="empty"), task("b", "a", operator="empty"),
                          task("c", "b", operator="empty")))
    run_id = await h.trigger("noop")
    assert await h.run_state("noop", run_id) == "success"
    assert h.executor.started == []
