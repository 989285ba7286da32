"""Every operation end to end: what it changes, what the scheduler does next, its audit row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.services import RunAlreadyExists
from leoflow.engine.store import dags, runs, task_instances
from tests.integration.scheduler.conftest import spec, task

PARAMS = {"n": {"default": 1, "schema": {"type": "integer"}}}


async def events(h, dag_id: str) -> list[str]:
    return [e.event for e in await h.audit(dag_id)]


async def run_chain(h, dag_id: str = "chain", **settings) -> str:
    """Register a → b → c, trigger it and let every task succeed; the run id."""
    await h.register(spec(dag_id, task("a"), task("b", "a"), task("c", "b"), **settings))
    run_id = await h.trigger(dag_id)
    for name in ("a", "b", "c"):
        await h.finish(name)
    assert await h.run_state(dag_id, run_id) == "success"
    return run_id


# -- trigger -------------------------------------------------------------------------------------
async def test_trigger_with_conf_and_logical_date(any_harness):
    h = any_harness
    await h.register(spec("trig", task("a"), params=PARAMS))
    logical = datetime(2026, 2, 1, tzinfo=UTC)
    run = await h.ops.trigger_run("trig", conf={"n": 5, "extra": "x"}, logical_date=logical,
                                  user="ada")
    await h.settle()
    # Airflow 3: manual__<run_after>, run_after = now; the data interval is [L, L].
    assert run.run_id == f"manual__{h.clock.now().isoformat()}"
    assert run.run_id == "manual__2026-03-01T12:00:00+00:00"
    stored = await h.run("trig", run.run_id)
    assert (stored.run_type, stored.conf, stored.logical_date, stored.run_after) == (
        "manual", {"n": 5, "extra": "x"}, logical, h.clock.now())
    assert stored.data_interval_start == stored.data_interval_end == logical
    assert (stored.state, stored.triggering_user_name) == ("running", "ada")
    assert h.executor.started_ids() == ["a"]
    (row,) = [e for e in await h.audit("trig") if e.event == "trigger"]
    assert (row.username, row.run_id, row.extra) == ("ada", run.run_id,
                                                     {"conf": {"n": 5, "extra": "x"}})


async def test_trigger_without_logical_date_and_with_a_given_run_id(harness):
    h = harness
    await h.register(spec("trig2", task("a")))
    run = await h.ops.trigger_run("trig2", run_id="my-run")
    assert run.run_id == "my-run"
    assert (run.logical_date, run.data_interval_start, run.conf) == (None, None, {})
    # Two manual runs without a logical date never collide.
    h.clock.advance(1)
    await h.ops.trigger_run("trig2")
    assert len(await h.runs("trig2")) == 2


async def test_a_duplicate_run_id_or_logical_date_is_refused_and_writes_nothing(harness):
    h = harness
    await h.register(spec("dup", task("a")))
    logical = datetime(2026, 2, 1, tzinfo=UTC)
    await h.ops.trigger_run("dup", run_id="r1", logical_date=logical)
    await h.settle()
    before = await h.written()
    with pytest.raises(RunAlreadyExists) as exc:
        await h.ops.trigger_run("dup", run_id="r1")
    assert exc.value.status == 409 and exc.value.field == "run_id"
    with pytest.raises(RunAlreadyExists) as exc:
        await h.ops.trigger_run("dup", run_id="r2", logical_date=logical)
    assert exc.value.field == "logical_date"
    assert await h.written() == before


# -- pause ---------------------------------------------------------------------------------------
async def test_pause_and_unpause_with_a_run_waiting(any_harness):
    h = any_harness
    await h.register(spec("pz", task("a"), task("b", "a")))
    await h.ops.set_paused("pz", True, user="ada")
    run = await h.ops.trigger_run("pz", allow_paused=True)
    await h.settle()
    assert (await h.run("pz", run.run_id)).state == "queued"
    assert h.executor.started == []
    row = await h.ops.set_paused("pz", False, user="ada")
    assert row.is_paused is False
    await h.settle()
    assert (await h.run("pz", run.run_id)).state == "running"
    assert h.executor.started_ids() == ["a"]
    assert [e for e in await events(h, "pz") if "pause" in e] == ["pause", "unpause"]


async def test_a_paused_dag_s_running_run_schedules_nothing_new_until_unpaused(harness):
    h = harness
    await h.register(spec("freeze", task("a"), task("b", "a")))
    run_id = await h.trigger("freeze")
    await h.ops.set_paused("freeze", True)
    await h.finish("a")  # the running task finishes...
    assert await h.states("freeze", run_id) == {"a": "success", "b": None}  # ...b waits
    await h.ops.set_paused("freeze", False)
    await h.settle()
    assert (await h.states("freeze", run_id))["b"] == "queued"


# -- clear ---------------------------------------------------------------------------------------
async def test_clear_with_downstream_reruns_the_tasks(any_harness):
    h = any_harness
    run_id = await run_chain(h, "clr")
    cleared = await h.ops.clear_task_instances("clr", run_id, ["b"], include_downstream=True,
                                               user="ada")
    assert sorted(t.task_id for t in cleared) == ["b", "c"]
    # Airflow: state none, try_number kept, max_tries = try_number + retries. Read from what
    # the clear wrote: the scheduler, woken by it, may already have queued b's next try.
    b = next(t for t in cleared if t.task_id == "b")
    assert (b.state, b.try_number, b.max_tries) == (None, 1, 1)
    await h.settle()
    assert await h.run_state("clr", run_id) == "running"
    assert await h.states("clr", run_id) == {"a": "success", "b": "queued", "c": None}
    assert h.executor.started[-1].try_number == 2
    await h.finish("b")
    await h.finish("c")
    assert await h.run_state("clr", run_id) == "success"
    assert h.executor.started_ids() == ["a", "b", "c", "b", "c"]
    (row,) = [e for e in await h.audit("clr") if e.event == "clear"]
    assert row.username == "ada" and row.extra["task_ids"] == ["b", "c"]


async def test_clear_with_upstream(harness):
    h = harness
    run_id = await run_chain(h, "clr_up")
    cleared = await h.ops.clear_task_instances("clr_up", run_id, ["b"], include_upstream=True)
    assert sorted(t.task_id for t in cleared) == ["a", "b"]
    await h.settle()
    assert await h.states("clr_up", run_id) == {"a": "queued", "b": None, "c": "success"}


async def test_clear_only_failed(harness):
    h = harness
    await h.register(spec("clr_f", task("a"), task("b"), task("c", "b")))
    run_id = await h.trigger("clr_f")
    await h.finish("a")
    await h.finish("b", "failed")
    assert await h.run_state("clr_f", run_id) == "failed"
    cleared = await h.ops.clear_task_instances("clr_f", run_id, only_failed=True)
    assert sorted(t.task_id for t in cleared) == ["b", "c"]  # failed and upstream_failed
    await h.settle()
    assert await h.states("clr_f", run_id) == {"a": "success", "b": "queued", "c": None}
    await h.finish("b")
    await h.finish("c")
    assert await h.run_state("clr_f", run_id) == "success"


async def test_clear_dry_run_changes_nothing(harness):
    h = harness
    run_id = await run_chain(h, "clr_dry")
    before = (await h.written(), await h.states("clr_dry", run_id))
    would = await h.ops.clear_task_instances("clr_dry", run_id, ["a"], include_downstream=True,
                                             dry_run=True)
    assert sorted(t.task_id for t in would) == ["a", "b", "c"]
    await h.settle()
    assert (await h.written(), await h.states("clr_dry", run_id)) == before
    assert await h.run_state("clr_dry", run_id) == "success"


async def test_clear_repins_the_run_to_the_current_version(any_harness):
    h = any_harness
    run_id = await run_chain(h, "repin")
    v1 = (await h.run("repin", run_id)).dag_version_id
    # Version 2 puts a new task between a and b.
    await h.register(spec("repin", task("a"), task("new", "a"), task("b", "new"),
                          task("c", "b")))
    await h.ops.clear_task_instances("repin", run_id, ["b"], include_downstream=True)
    await h.settle()
    run = await h.run("repin", run_id)
    async with h.store.connect() as conn:
        v2 = await dags.current_version(conn, "repin")
    assert run.dag_version_id == v2.id != v1
    assert v2.version_number == 2
    assert await h.states("repin", run_id) == {"a": "success", "new": "queued", "b": None,
                                               "c": None}
    for name in ("new", "b", "c"):
        await h.finish(name)
    assert await h.run_state("repin", run_id) == "success"


async def test_clearing_a_running_task_stops_it_and_runs_it_again(harness):
    h = harness
    await h.register(spec("clr_run", task("a")))
    run_id = await h.trigger("clr_run")
    await h.running("a")
    first = h.executor.latest("a")
    await h.ops.clear_task_instances("clr_run", run_id, ["a"])
    await h.settle()
    assert (first.ti_id, "cleared") in h.executor.cancelled
    assert [s.try_number for s in h.executor.started] == [1, 2]
    # The stopped try reports late: ignored.
    await h.executor.callback(ExecutorEvent(first.ti_id, 1, "failed"))
    await h.settle()
    assert (await h.ti("clr_run", run_id, "a")).state == "queued"


# -- mark ----------------------------------------------------------------------------------------
async def test_mark_a_running_task_success_lets_downstream_run(any_harness):
    h = any_harness
    await h.register(spec("mk", task("a"), task("b", "a")))
    run_id = await h.trigger("mk")
    await h.running("a")
    row = await h.ops.mark_task_instance("mk", run_id, "a", "success", user="ada")
    assert row.state == "success"
    await h.settle()
    assert (h.executor.latest("a").ti_id, "marked success") in h.executor.cancelled
    assert await h.states("mk", run_id) == {"a": "success", "b": "queued"}
    (ev,) = [e for e in await h.audit("mk") if e.event == "mark_task_success"]
    assert (ev.task_id, ev.username, ev.try_number) == ("a", "ada", 1)


async def test_mark_a_task_failed_fails_downstream_and_the_run(harness):
    h = harness
    await h.register(spec("mkf", task("a"), task("b", "a")))
    run_id = await h.trigger("mkf")
    await h.ops.mark_task_instance("mkf", run_id, "a", "failed")
    await h.settle()
    assert await h.states("mkf", run_id) == {"a": "failed", "b": "upstream_failed"}
    assert await h.run_state("mkf", run_id) == "failed"


async def test_mark_a_task_skipped_skips_downstream(harness):
    h = harness
    await h.register(spec("mks", task("a"), task("b", "a")))
    run_id = await h.trigger("mks")
    await h.ops.mark_task_instance("mks", run_id, "a", "skipped")
    await h.settle()
    assert await h.states("mks", run_id) == {"a": "skipped", "b": "skipped"}
    assert await h.run_state("mks", run_id) == "success"


async def test_mark_a_task_in_a_finished_run_re_evaluates_it(harness):
    h = harness
    await h.register(spec("mk_done", task("a"), task("b", "a", trigger_rule="all_done")))
    run_id = await h.trigger("mk_done")
    await h.finish("a")
    await h.finish("b")
    await h.ops.mark_task_instance("mk_done", run_id, "b", "failed")
    await h.settle()
    assert await h.run_state("mk_done", run_id) == "failed"


async def test_mark_run_failed_fails_running_tasks_and_skips_the_rest(any_harness):
    h = any_harness
    await h.register(spec("mrf", task("a"), task("b", "a"), task("c")))
    run_id = await h.trigger("mrf")
    await h.finish("c")
    await h.running("a")
    row = await h.ops.mark_run("mrf", run_id, "failed", user="ada")
    assert row.state == "failed"
    await h.settle()
    assert await h.states("mrf", run_id) == {"a": "failed", "b": "skipped", "c": "success"}
    assert await h.run_state("mrf", run_id) == "failed"
    assert (h.executor.latest("a").ti_id, "run marked failed") in h.executor.cancelled
    assert "mark_run_failed" in await events(h, "mrf")
    # The stopped task's late report changes nothing.
    await h.finish("a")
    assert await h.states("mrf", run_id) == {"a": "failed", "b": "skipped", "c": "success"}


async def test_mark_run_success_succeeds_every_unfinished_task(harness):
    h = harness
    await h.register(spec("mrs", task("a"), task("b", "a")))
    run_id = await h.trigger("mrs")
    await h.ops.mark_run("mrs", run_id, "success")
    await h.settle()
    assert await h.states("mrs", run_id) == {"a": "success", "b": "success"}
    assert await h.run_state("mrs", run_id) == "success"
    assert "mark_run_success" in await events(h, "mrs")


# -- delete --------------------------------------------------------------------------------------
async def test_delete_run_removes_it_stops_its_tasks_and_frees_its_slot(any_harness):
    h = any_harness
    await h.register(spec("del", task("a"), max_active_runs=1))
    first = await h.trigger("del")
    h.clock.advance(1)
    second = await h.trigger("del")
    await h.ops.delete_run("del", first, user="ada")
    await h.settle()
    assert [r.run_id for r in await h.runs("del")] == [second]
    assert (h.executor.started[0].ti_id, "run deleted") in h.executor.cancelled
    assert await h.run_state("del", second) == "running"
    async with h.store.connect() as conn:
        left = await task_instances.list_task_instances(conn, dag_id="del", run_id=first)
    assert left.total == 0
    (ev,) = [e for e in await h.audit("del") if e.event == "delete_run"]
    assert (ev.run_id, ev.username) == (first, "ada")


async def test_delete_dag_history_keeps_the_dag_and_its_versions(harness):
    h = harness
    await run_chain(h, "hist")
    h.clock.advance(1)
    await h.trigger("hist")
    count = await h.ops.delete_dag_history("hist", user="ada")
    await h.settle()
    assert count == 2
    assert await h.runs("hist") == []
    async with h.store.connect() as conn:
        assert (await dags.get_dag(conn, "hist")) is not None
        assert (await dags.list_versions(conn, "hist")).total == 1
        assert (await runs.list_runs(conn, dag_id="hist")).total == 0
    (ev,) = [e for e in await h.audit("hist") if e.event == "delete_dag_history"]
    assert ev.extra == {"runs": 2}


async def test_every_operation_writes_its_audit_row(harness):
    h = harness
    await h.register(spec("aud", task("a"), task("b", "a")))
    await h.ops.set_paused("aud", True, user="u")
    await h.ops.set_paused("aud", False, user="u")
    run_id = (await h.ops.trigger_run("aud", user="u")).run_id
    await h.settle()
    await h.ops.mark_task_instance("aud", run_id, "a", "success", user="u")
    await h.ops.clear_task_instances("aud", run_id, ["a"], user="u")
    await h.ops.mark_run("aud", run_id, "failed", user="u")
    await h.ops.delete_run("aud", run_id, user="u")
    await h.ops.delete_dag_history("aud", user="u")
    assert await events(h, "aud") == [
        "register_version", "pause", "unpause", "trigger", "mark_task_success", "clear",
        "mark_run_failed", "delete_run", "delete_dag_history"]
    assert {e.username for e in await h.audit("aud")} == {None, "u"}


async def test_clear_one_map_index_of_a_mapped_task(harness):
    h = harness
    await h.register(spec("clr_map", task("m", expand={"mode": "kwargs", "values": {
        "x": {"literal": [1, 2, 3]}}}), task("after", "m")))
    run_id = await h.trigger("clr_map")
    for i in range(3):
        await h.finish("m", map_index=i)
    await h.finish("after")
    cleared = await h.ops.clear_task_instances("clr_map", run_id, ["m"], map_indexes=[1],
                                               include_downstream=True)
    assert sorted((t.task_id, t.map_index) for t in cleared) == [("after", -1), ("m", 1)]
    await h.settle()
    assert await h.states("clr_map", run_id) == {"m[0]": "success", "m[1]": "queued",
                                                 "m[2]": "success", "after": None}
    await h.finish("m", map_index=1)
    await h.finish("after")
    assert await h.run_state("clr_map", run_id) == "success"


async def test_clear_repins_to_a_version_without_a_task_which_becomes_removed(harness):
    h = harness
    await h.register(spec("shrink", task("a"), task("b", "a"), task("gone")))
    run_id = await h.trigger("shrink")
    for name in ("a", "gone", "b"):
        await h.finish(name)
    await h.register(spec("shrink", task("a"), task("b", "a")))
    await h.ops.clear_task_instances("shrink", run_id, ["a"], include_downstream=True)
    await h.settle()
    assert await h.states("shrink", run_id) == {"a": "queued", "b": None, "gone": "removed"}
    await h.finish("a")
    await h.finish("b")
    assert await h.run_state("shrink", run_id) == "success"
