"""Time sensors wait in the control plane: no executor, one heap entry, the manual clock."""

from __future__ import annotations

from datetime import timedelta

from leoflow.engine.store import triggers as trigger_rows
from tests.integration.scheduler.conftest import spec, task
from tests.integration.triggers.conftest import sensor, time_trigger


async def test_time_sensor_defers_without_an_executor_and_fires_at_its_moment(any_harness):
    h = any_harness
    await h.register(spec("waits", sensor("wait", trigger=time_trigger(delta=120, **{
        "from": "now"})), task("after", "wait")))
    run_id = await h.trigger("waits")
    ti = await h.ti("waits", run_id, "wait")
    assert (ti.state, ti.try_number) == ("deferred", 1)
    assert ti.start_date == h.clock.now() and ti.trigger_id is not None
    assert h.executor.started == [], "a start-from-trigger sensor never reaches an executor"
    assert len(h.scheduler.triggers) == 1
    await h.advance(119)
    assert (await h.ti("waits", run_id, "wait")).state == "deferred"
    await h.advance(1)
    ti = await h.ti("waits", run_id, "wait")
    assert (ti.state, ti.try_number, ti.trigger_id) == ("success", 1, None)
    assert h.executor.started_ids() == ["after"]
    async with h.store.connect() as conn:
        assert await trigger_rows.count_triggers(conn) == 0
    assert len(h.scheduler.triggers) == 0


async def test_time_delta_counts_from_the_data_interval_end(harness):
    h = harness
    await h.register(spec("interval", sensor("wait", trigger=time_trigger(delta=7200, **{
        "from": "data_interval_end"}))))
    start = h.clock.now()
    run_id = await h.trigger("interval", logical_date=start - timedelta(hours=1))
    ti = await h.ti("interval", run_id, "wait")
    async with h.store.connect() as conn:
        row = await trigger_rows.get_trigger(conn, ti.trigger_id)
    run = await h.run("interval", run_id)
    base = run.data_interval_end or run.run_after
    assert row.due_at == base + timedelta(seconds=7200)
    assert (await h.ti("interval", run_id, "wait")).state == "deferred"


async def test_a_moment_already_past_fires_at_once(harness):
    h = harness
    past = (h.clock.now() - timedelta(minutes=5)).isoformat()
    await h.register(spec("late", sensor("wait", trigger=time_trigger(moment=past))))
    run_id = await h.trigger("late")
    await h.advance(0)
    assert (await h.ti("late", run_id, "wait")).state == "success"
    assert await h.run_state("late", run_id) == "success"


async def test_a_bad_time_trigger_fails_the_sensor_with_the_field_named(harness):
    h = harness
    await h.register(spec("bad", sensor("wait", trigger=time_trigger(
        time_of_day="25:99", timezone="Europe/Paris"))))
    run_id = await h.trigger("bad")
    ti = await h.ti("bad", run_id, "wait")
    assert ti.state == "failed"
    async with h.store.connect() as conn:
        from leoflow.engine.store import task_instances

        tries = await task_instances.list_tries(conn, ti.dag_run_id, "wait")
    assert "time_of_day must be HH:MM" in tries[-1].error


async def test_time_of_day_in_a_time_zone(harness):
    h = harness  # the clock starts at 2026-03-01 12:00 UTC = 13:00 in Paris
    await h.register(spec("tod", sensor("wait", timeout=None, trigger=time_trigger(
        time_of_day="14:30", timezone="Europe/Paris"))))
    run_id = await h.trigger("tod")
    await h.advance(89 * 60)
    assert (await h.ti("tod", run_id, "wait")).state == "deferred"
    await h.advance(60)
    assert (await h.ti("tod", run_id, "wait")).state == "success"


async def test_template_rendered_with_the_run_context(harness):
    h = harness
    template = "{{ (logical_date + macros.timedelta(minutes=params.wait)).isoformat() }}"
    await h.register(spec("tpl", sensor("wait", trigger=time_trigger(template=template)),
                          params={"wait": {"default": 10}}))
    run_id = await h.trigger("tpl", logical_date=h.clock.now())
    await h.advance(9 * 60)
    assert (await h.ti("tpl", run_id, "wait")).state == "deferred"
    await h.advance(60)
    assert (await h.ti("tpl", run_id, "wait")).state == "success"
