"""Retry timing, execution_timeout and dagrun_timeout, on the manual clock."""

from __future__ import annotations

from datetime import timedelta

from leoflow.engine.scheduler.retry import retry_delay
from tests.integration.scheduler.conftest import spec, task


async def test_exponential_backoff_grows_and_is_capped_by_max_retry_delay(any_harness):
    h = any_harness
    await h.register(spec("backoff", task("a", retries=3, retry_delay=10.0,
                                          retry_exponential_backoff=True,
                                          max_retry_delay=25.0)))
    run_id = await h.trigger("backoff")
    waits = []
    for try_number in (1, 2, 3):
        failed_at = h.clock.now()
        await h.finish("a", "failed")
        ti = await h.ti("backoff", run_id, "a")
        assert (ti.state, ti.try_number) == ("up_for_retry", try_number)
        wait = ti.next_retry_at - failed_at
        # Airflow's formula: base 10 * 2**(try-1), hashed jitter in [base, 2*base), capped.
        expected = retry_delay(retry_delay=10.0, exponential_backoff=True, max_retry_delay=25.0,
                               try_number=try_number, dag_id="backoff", task_id="a",
                               logical_date=None)
        assert wait == expected
        waits.append(wait.total_seconds())
        # Not a moment before the delay...
        await h.advance(wait.total_seconds() - 1)
        assert len(h.executor.started) == try_number
        assert h.clock.pending(), "a timer must be set for the retry (no polling)"
        # ...and at once when it is due.
        await h.advance(1)
        assert len(h.executor.started) == try_number + 1
        assert h.executor.started[-1].try_number == try_number + 1
    assert 10 <= waits[0] < 20
    assert 20 <= waits[1] <= 25 and waits[2] == 25  # 40 s and more, capped at 25 s
    await h.finish("a", "failed")
    ti = await h.ti("backoff", run_id, "a")
    assert (ti.state, ti.try_number, ti.max_tries) == ("failed", 4, 3)
    assert await h.run_state("backoff", run_id) == "failed"
    async with h.store.connect() as conn:
        from leoflow.engine.store import task_instances

        tries = await task_instances.list_tries(conn, ti.dag_run_id, "a")
    assert [(t.try_number, t.state) for t in tries] == [
        (1, "up_for_retry"), (2, "up_for_retry"), (3, "up_for_retry"), (4, "failed")]


async def test_without_backoff_each_retry_waits_retry_delay(harness):
    h = harness
    await h.register(spec("flat", task("a", retries=2, retry_delay=60.0)))
    run_id = await h.trigger("flat")
    await h.finish("a", "failed")
    assert (await h.ti("flat", run_id, "a")).next_retry_at == h.clock.now() + timedelta(
        seconds=60)
    await h.advance(60)
    await h.finish("a")
    assert await h.run_state("flat", run_id) == "success"


async def test_no_retry_flag_fails_at_once(harness):
    h = harness
    await h.register(spec("noretry", task("a", retries=3)))
    run_id = await h.trigger("noretry")
    await h.finish("a", "failed", info={"no_retry": True})
    assert (await h.ti("noretry", run_id, "a")).state == "failed"
    assert await h.run_state("noretry", run_id) == "failed"


async def test_execution_timeout_cancels_through_the_executor_and_fails(any_harness):
    h = any_harness
    await h.register(spec("slow", task("a", execution_timeout=60.0), task("b", "a")))
    run_id = await h.trigger("slow")
    await h.running("a")
    await h.advance(59)
    assert (await h.ti("slow", run_id, "a")).state == "running"
    assert h.executor.cancelled == []
    await h.advance(1)
    launch = h.executor.latest("a")
    assert h.executor.cancelled == [(launch.ti_id, "execution_timeout")]
    assert await h.states("slow", run_id) == {"a": "failed", "b": "upstream_failed"}
    assert await h.run_state("slow", run_id) == "failed"
    # The killed try's own report arrives late: it changes nothing.
    await h.finish("a", "success")
    assert (await h.ti("slow", run_id, "a")).state == "failed"


async def test_execution_timeout_retries_when_tries_remain(harness):
    h = harness
    await h.register(spec("slow_retry", task("a", execution_timeout=30.0, retries=1,
                                             retry_delay=5.0)))
    run_id = await h.trigger("slow_retry")
    await h.running("a")
    await h.advance(30)
    ti = await h.ti("slow_retry", run_id, "a")
    assert (ti.state, ti.try_number) == ("up_for_retry", 1)
    assert len(h.executor.cancelled) == 1
    await h.advance(5)
    assert [s.try_number for s in h.executor.started] == [1, 2]
    # The second try finishes in time; its timeout timer is cancelled with it.
    await h.running("a")
    await h.finish("a")
    await h.advance(60)
    assert len(h.executor.cancelled) == 1
    assert await h.run_state("slow_retry", run_id) == "success"


async def test_dagrun_timeout_fails_the_run_and_skips_unfinished_tasks(any_harness):
    h = any_harness
    await h.register(spec("deadline", task("a"), task("b", "a"), task("c"),
                          dagrun_timeout=100.0))
    run_id = await h.trigger("deadline")
    await h.finish("c")
    await h.running("a")
    await h.advance(99)
    assert await h.run_state("deadline", run_id) == "running"
    await h.advance(1)
    assert await h.run_state("deadline", run_id) == "failed"
    assert await h.states("deadline", run_id) == {"a": "skipped", "b": "skipped",
                                                  "c": "success"}
    assert h.executor.cancelled == [(h.executor.latest("a").ti_id, "dagrun_timeout")]
    run = await h.run("deadline", run_id)
    assert run.end_date == h.clock.now()
