"""The loop end to end on a real store: chains, fan-out/fan-in, failures, retries."""

from __future__ import annotations

from tests.integration.scheduler.conftest import spec, task


async def test_chain_runs_in_order_and_succeeds(any_harness):
    harness = any_harness
    await harness.register(spec("chain", task("a"), task("b", "a"), task("c", "b")))
    run_id = await harness.trigger("chain")
    assert harness.executor.started_ids() == ["a"]
    await harness.finish("a")
    assert harness.executor.started_ids() == ["a", "b"]
    await harness.finish("b")
    await harness.finish("c")
    assert await harness.states("chain", run_id) == {"a": "success", "b": "success",
                                                     "c": "success"}
    assert await harness.run_state("chain", run_id) == "success"


async def test_failure_propagates_upstream_failed_and_fails_run(harness):
    await harness.register(spec("f", task("a"), task("b", "a"), task("c", "b"),
                                task("cleanup", "a", trigger_rule="all_done")))
    run_id = await harness.trigger("f")
    await harness.finish("a", "failed")
    assert await harness.states("f", run_id) == {"a": "failed", "b": "upstream_failed",
                                                 "c": "upstream_failed", "cleanup": "queued"}
    await harness.finish("cleanup")
    assert await harness.run_state("f", run_id) == "failed"


async def test_retry_waits_for_its_delay_on_the_clock(harness):
    await harness.register(spec("r", task("a", retries=2, retry_delay=30.0)))
    run_id = await harness.trigger("r")
    await harness.finish("a", "failed")
    ti = await harness.ti("r", run_id, "a")
    assert (ti.state, ti.try_number, ti.max_tries) == ("up_for_retry", 1, 2)
    harness.clock.advance(29)
    await harness.settle()
    assert len(harness.executor.started) == 1
    harness.clock.advance(1)
    await harness.settle()
    assert len(harness.executor.started) == 2
    assert harness.executor.started[-1].try_number == 2
    await harness.finish("a", "failed")
    harness.clock.advance(30)
    await harness.settle()
    await harness.finish("a", "failed")
    ti = await harness.ti("r", run_id, "a")
    assert (ti.state, ti.try_number) == ("failed", 3)
    assert await harness.run_state("r", run_id) == "failed"
