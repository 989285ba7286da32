"""Run-time deferral and reschedule reported by an agent (here the scripted executor, which
stands in for the agent's ReportState): slots are freed, the same try resumes, timeouts."""

from __future__ import annotations

from datetime import timedelta

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.store import task_instances
from leoflow.engine.store import triggers as trigger_rows
from tests.integration.scheduler.conftest import make_harness, spec, task
from tests.integration.triggers.conftest import advance, sensor, settle, time_trigger, trigger


async def _report(h, task_id: str, state: str, **info) -> None:
    launch = h.executor.latest(task_id)
    await h.executor.callback(ExecutorEvent(launch.ti_id, launch.try_number, "running"))
    await h.executor.callback(ExecutorEvent(launch.ti_id, launch.try_number, state,
                                            info=info))
    await settle(h)


async def _tries(h, ti) -> list:
    async with h.store.connect() as conn:
        return await task_instances.list_tries(conn, ti.dag_run_id, ti.task_id)


async def test_deferred_try_frees_its_slot_and_resumes_with_the_event(migrated_sqlite_url,
                                                                     clock, executor):
    h = await make_harness(migrated_sqlite_url, clock, executor, parallelism=1)
    try:
        await h.register(spec("defer", task("op"), task("other")))
        run_id = await h.trigger("defer")
        assert h.executor.started_ids() == ["op"], "parallelism 1: one at a time"
        await _report(h, "op", "deferred", trigger=time_trigger(delta=60, **{"from": "now"}),
                      next_method="execute_complete", next_kwargs={"x": 1},
                      defer_timeout=None)
        ti = await h.ti("defer", run_id, "op")
        assert (ti.state, ti.try_number, ti.next_method) == ("deferred", 1, "execute_complete")
        assert h.executor.started_ids() == ["op", "other"], "the deferred try freed its slot"
        await h.finish("other")
        await advance(h, 60)
        ti = await h.ti("defer", run_id, "op")
        assert ti.state == "queued" and ti.try_number == 1, "the same try resumes"
        assert ti.next_method == "execute_complete"
        assert ti.next_kwargs == {"x": 1, "event": {"moment": h.clock.now().isoformat()}}
        resumed = h.executor.latest("op")
        assert resumed.try_number == 1 and len(h.executor.started) == 3
        await h.finish("op")
        assert await h.run_state("defer", run_id) == "success"
        assert [(t.try_number, t.state) for t in await _tries(h, ti)] == [(1, "success")]
    finally:
        await h.scheduler.stop()
        await h.store.close()


async def test_a_retry_after_a_deferral_starts_fresh(harness):
    h = harness
    await h.register(spec("again", task("op", retries=1, retry_delay=1.0)))
    run_id = await h.trigger("again")
    await _report(h, "op", "deferred", trigger=time_trigger(delta=5, **{"from": "now"}),
                  next_method="execute_complete", next_kwargs={}, defer_timeout=None)
    await advance(h, 5)
    await h.finish("op", "failed")
    await advance(h, 1)
    ti = await h.ti("again", run_id, "op")
    assert (ti.state, ti.try_number, ti.next_method, ti.next_kwargs) == (
        "queued", 2, None, None)


async def test_defer_timeout_fails_the_try_and_retries_apply(harness):
    h = harness
    await h.register(spec("slowtrig", task("op", retries=1, retry_delay=600.0)))
    run_id = await h.trigger("slowtrig")
    await _report(h, "op", "deferred", trigger=time_trigger(delta=3600, **{"from": "now"}),
                  next_method="execute_complete", next_kwargs={}, defer_timeout=30.0)
    await advance(h, 30)
    ti = await h.ti("slowtrig", run_id, "op")
    assert ti.state == "up_for_retry"
    assert (await _tries(h, ti))[-1].error.startswith("TaskDeferralTimeout")
    async with h.store.connect() as conn:
        assert await trigger_rows.count_triggers(conn) == 0


async def test_an_invalid_trigger_from_an_agent_fails_the_try(harness):
    h = harness
    await h.register(spec("badtrig", task("op")))
    run_id = await h.trigger("badtrig")
    await _report(h, "op", "deferred", trigger={"kind": "carrier_pigeon", "kwargs": {}},
                  next_method="execute_complete", next_kwargs={}, defer_timeout=None)
    ti = await h.ti("badtrig", run_id, "op")
    assert ti.state == "failed"
    assert "unknown trigger kind 'carrier_pigeon'" in (await _tries(h, ti))[-1].error


async def test_reschedule_frees_the_slot_and_keeps_the_try(migrated_sqlite_url, clock,
                                                           executor):
    h = await make_harness(migrated_sqlite_url, clock, executor, parallelism=1)
    try:
        await h.register(spec("resched", sensor("poke", mode="reschedule", trigger=None),
                              task("other")))
        run_id = await h.trigger("resched")
        first_start = h.clock.now()
        await _report(h, "poke", "up_for_reschedule",
                      reschedule_date=(h.clock.now() + timedelta(seconds=30)).timestamp())
        ti = await h.ti("resched", run_id, "poke")
        assert (ti.state, ti.try_number) == ("up_for_reschedule", 1)
        assert ti.first_poke_at == first_start
        assert h.executor.started_ids() == ["poke", "other"], "the slot was freed"
        await h.finish("other")
        await advance(h, 29)
        assert (await h.ti("resched", run_id, "poke")).state == "up_for_reschedule"
        await advance(h, 1)
        ti = await h.ti("resched", run_id, "poke")
        assert (ti.state, ti.try_number) == ("queued", 1)
        assert ti.first_poke_at == first_start, "the timeout still counts from the 1st poke"
        await h.finish("poke")
        assert await h.run_state("resched", run_id) == "success"
    finally:
        await h.scheduler.stop()
        await h.store.close()


async def test_sensor_timeout_fails_without_retry(any_harness, tmp_path):
    h = any_harness
    await h.register(spec("never", sensor("wait", timeout=120.0, retries=3, trigger=trigger(
        "file", filepath=str(tmp_path / "never.txt"), poke_interval=30))))
    run_id = await h.trigger("never")
    await settle(h)
    await advance(h, 119)
    assert (await h.ti("never", run_id, "wait")).state == "deferred"
    await advance(h, 1)
    ti = await h.ti("never", run_id, "wait")
    assert (ti.state, ti.try_number) == ("failed", 1), "a sensor timeout is not retried"
    assert (await _tries(h, ti))[-1].error.startswith("AirflowSensorTimeout")
    assert len(h.scheduler.triggers) == 0


async def test_sensor_timeout_with_soft_fail_skips(harness, tmp_path):
    h = harness
    await h.register(spec("soft", sensor("wait", timeout=60.0, soft_fail=True, trigger=trigger(
        "file", filepath=str(tmp_path / "never.txt"), poke_interval=30)), task("after", "wait")))
    run_id = await h.trigger("soft")
    await settle(h)
    await advance(h, 60)
    assert await h.states("soft", run_id) == {"wait": "skipped", "after": "skipped"}


async def test_clearing_a_deferred_task_deletes_its_trigger(any_harness):
    h = any_harness
    await h.register(spec("clear", sensor("wait", trigger=time_trigger(delta=100, **{
        "from": "now"}))))
    run_id = await h.trigger("clear")
    old = (await h.ti("clear", run_id, "wait")).trigger_id
    await advance(h, 50)
    await h.ops.clear_task_instances("clear", run_id, ["wait"])
    await settle(h)
    ti = await h.ti("clear", run_id, "wait")
    assert (ti.state, ti.try_number) == ("deferred", 2), "cleared: a new try waits again"
    assert ti.trigger_id != old
    async with h.store.connect() as conn:
        assert await trigger_rows.get_trigger(conn, old) is None
        assert await trigger_rows.count_triggers(conn) == 1
    assert len(h.scheduler.triggers) == 1
    await advance(h, 50)  # the old trigger's moment: nothing happens
    assert (await h.ti("clear", run_id, "wait")).state == "deferred"
    await advance(h, 50)
    assert (await h.ti("clear", run_id, "wait")).state == "success"


async def test_marking_a_deferred_task_deletes_its_trigger(harness):
    h = harness
    await h.register(spec("mark", sensor("wait", trigger=time_trigger(delta=100, **{
        "from": "now"})), task("after", "wait")))
    run_id = await h.trigger("mark")
    await h.ops.mark_task_instance("mark", run_id, "wait", "success")
    await settle(h)
    async with h.store.connect() as conn:
        assert await trigger_rows.count_triggers(conn) == 0
    assert len(h.scheduler.triggers) == 0
    assert h.executor.started_ids() == ["after"]
    await advance(h, 100)
    assert (await h.ti("mark", run_id, "wait")).state == "success"


async def test_run_timeout_skips_a_deferred_task_and_deletes_its_trigger(harness):
    h = harness
    await h.register(spec("runto", sensor("wait", trigger=time_trigger(delta=100, **{
        "from": "now"})), dagrun_timeout=30.0))
    run_id = await h.trigger("runto")
    await advance(h, 30)
    assert await h.states("runto", run_id) == {"wait": "skipped"}
    assert await h.run_state("runto", run_id) == "failed"
    async with h.store.connect() as conn:
        assert await trigger_rows.count_triggers(conn) == 0


async def test_a_restart_resumes_the_wait_and_fires_once(migrated_sqlite_url, clock, executor):
    h = await make_harness(migrated_sqlite_url, clock, executor)
    await h.register(spec("restart", sensor("wait", trigger=time_trigger(delta=100, **{
        "from": "now"}))))
    run_id = await h.trigger("restart")
    await h.scheduler.stop()
    h2 = await make_harness(migrated_sqlite_url, clock, executor, store=h.store)
    try:
        assert len(h2.scheduler.triggers) == 1
        await advance(h2, 100)
        ti = await h2.ti("restart", run_id, "wait")
        assert (ti.state, ti.try_number) == ("success", 1)
        assert [(t.try_number, t.state) for t in await _tries(h2, ti)] == [(1, "success")]
    finally:
        await h2.scheduler.stop()
        await h2.store.close()


async def test_a_duplicate_event_is_applied_once(harness):
    h = harness
    await h.register(spec("dup", task("op")))
    run_id = await h.trigger("dup")
    await _report(h, "op", "deferred", trigger=time_trigger(delta=10, **{"from": "now"}),
                  next_method="execute_complete", next_kwargs={}, defer_timeout=None)
    ti = await h.ti("dup", run_id, "op")
    from leoflow.engine.triggers import TriggerEvent

    event = TriggerEvent(ti.trigger_id, ti.id, ti.try_number, {"moment": "x"})
    h.scheduler._trigger_fired(event)
    h.scheduler._trigger_fired(event)  # twice in one batch...
    await settle(h)
    h.scheduler._trigger_fired(event)  # ...and again later (fired again after a restart)
    await settle(h)
    assert len(h.executor.started) == 2, "resumed once, not twice"
    ti = await h.ti("dup", run_id, "op")
    assert ti.state == "queued" and ti.next_kwargs == {"event": {"moment": "x"}}
