"""Asset-triggered runs through the real scheduler loop on a real store (the scripted
executor stands in for the agents): a producer's success creates its consumers' runs in the
same batch, conditions wait for the right events, aliases resolve at run time, paused
consumers get nothing, marking emits and clearing does not, and a restart creates a
committed event's run exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from leoflow.engine.services import asset_task_reads as reads
from leoflow.engine.services import assets as svc
from leoflow.engine.services.asset_references import AssetNotFound
from leoflow.engine.store import Store, dags
from leoflow.engine.store import assets as st
from tests.integration.scheduler.conftest import Harness, make_harness, spec, task
from tests.integration.scheduler.scripted_executor import ScriptedExecutor


def asset(name: str) -> dict[str, Any]:
    return {"asset": {"name": name, "uri": f"s3://bucket/{name}", "group": "asset"}}


def declared(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "uri": f"s3://bucket/{n}", "group": "asset", "extra": {}} for n in names]


def producer(dag_id: str, *names: str, **extra: Any) -> dict[str, Any]:
    return spec(dag_id, task("make", outlets=[asset(n) for n in names], **extra),
                assets=declared(*names))


def consumer(dag_id: str, condition: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return spec(dag_id, task("use"), schedule={"kind": "assets", "assets": condition},
                **settings)


_runs = iter(range(1, 1_000_000))


async def produce(h: Harness, dag_id: str, **finish: Any) -> str:
    run_id = await h.trigger(dag_id, run_id=f"manual__{next(_runs)}")
    await h.finish("make", run_id=run_id, **finish)
    return run_id


async def asset_runs(h: Harness, dag_id: str) -> list[Any]:
    return [r for r in await h.runs(dag_id) if r.run_type == "asset_triggered"]


async def test_a_producer_success_creates_the_consumer_run_in_the_same_batch(any_harness):
    h = any_harness
    await h.register(producer("p", "a"))
    await h.register(consumer("c", asset("a")))
    run_id = await produce(h, "p")
    made = await h.ti("p", run_id, "make")
    (run,) = await asset_runs(h, "c")
    assert run.run_id.startswith("asset_triggered__") and run.triggered_by == "asset"
    assert run.logical_date is None and run.conf == {} and run.partition_key is None
    # the same batch: the manual clock has not moved, and the consumer's task was launched
    assert run.queued_at == made.end_date
    assert await h.states("c", run.run_id) == {"use": "queued"}
    async with h.store.connect() as conn:
        (event,) = await reads.triggering_events(conn, dag_run_id=run.id)
        assert (event.asset_name, event.source_dag_id, event.source_run_id,
                event.source_task_id, event.source_map_index) == ("a", "p", run_id, "make", -1)
        assert reads.event_json(event)["asset"]["uri"] == "s3://bucket/a"
        assert await st.queued_events(conn, dag_ids=["c"]) == []
    await h.finish("use", run_id=run.run_id)
    assert await h.run_state("c", run.run_id) == "success"


async def test_all_waits_for_both_and_any_fires_on_either(harness):
    h = harness
    await h.register(producer("pa", "a"))
    await h.register(producer("pb", "b"))
    await h.register(consumer("both", {"all": [asset("a"), asset("b")]}))
    await h.register(consumer("either", {"any": [asset("a"), asset("b")]}))
    await produce(h, "pa")
    assert await asset_runs(h, "both") == []
    async with h.store.connect() as conn:
        status = await svc.condition_status(conn, dag_id="both")
    assert [(leaf["asset"]["name"], seen) for leaf, seen in status] == [("a", True),
                                                                       ("b", False)]
    assert len(await asset_runs(h, "either")) == 1
    await produce(h, "pa")  # a again: both still waits, and gets both events of a
    assert await asset_runs(h, "both") == []
    await produce(h, "pb")
    (run,) = await asset_runs(h, "both")
    async with h.store.connect() as conn:
        events = await reads.triggering_events(conn, dag_run_id=run.id)
    assert [e.asset_name for e in events] == ["a", "a", "b"]
    assert len(await asset_runs(h, "either")) == 3


async def test_an_alias_resolves_at_run_time(harness):
    h = harness
    await h.register(spec("pal", task("make", outlets=[{"alias": {"name": "al", "group": ""}}]),
                          asset_aliases=[{"name": "al", "group": ""}]))
    await h.register(consumer("on_alias", {"alias": {"name": "al", "group": ""}}))
    await h.register(consumer("on_dyn", {"asset_ref": {"name": "dyn"}}))
    added = {"outlet_events": [{"ref": {"alias": {"name": "al"}}, "extra": {},
                                "added": [{"asset": {"name": "dyn", "uri": "s3://dyn",
                                                     "group": "asset"},
                                           "extra": {"rows": 3}}]}]}
    await produce(h, "pal", info=added)
    (run,) = await asset_runs(h, "on_alias")
    assert len(await asset_runs(h, "on_dyn")) == 1
    async with h.store.connect() as conn:
        (event,) = await reads.triggering_events(conn, dag_run_id=run.id)
        assert (event.asset_name, event.extra, event.source_alias) == ("dyn", {"rows": 3}, "al")
        by_alias = await reads.events_for(conn, tenant="default", ref={"alias": {"name": "al"}})
        assert [e.id for e in by_alias] == [event.id]
    # a success that adds nothing emits nothing through the alias
    await produce(h, "pal")
    assert len(await asset_runs(h, "on_alias")) == 1


async def test_paused_and_stale_consumers_get_nothing(harness):
    h = harness
    await h.register(producer("p", "a"))
    await h.register(consumer("paused", asset("a")), paused=True)
    await produce(h, "p")
    async with h.store.connect() as conn:
        assert await st.queued_events(conn, dag_ids=["paused"]) == []
    await h.ops.set_paused("paused", False)
    await h.settle()
    assert await asset_runs(h, "paused") == []  # Airflow queued nothing while paused
    await produce(h, "p")
    assert len(await asset_runs(h, "paused")) == 1


async def test_marking_success_emits_and_clearing_does_not(harness):
    h = harness
    await h.register(producer("p", "a"))
    await h.register(consumer("c", asset("a")))
    run_id = await h.trigger("p", run_id="manual__marked")
    await h.ops.mark_task_instance("p", run_id, "make", "success")
    await h.settle()
    assert len(await asset_runs(h, "c")) == 1
    await h.ops.clear_task_instances("p", run_id, ["make"])
    await h.settle()
    assert len(await asset_runs(h, "c")) == 1
    await h.finish("make", run_id=run_id)  # the cleared task succeeds again: a new event
    assert len(await asset_runs(h, "c")) == 2


async def test_an_empty_operator_with_outlets_emits(harness):
    h = harness
    await h.register(producer("pe", "a", operator="empty"))
    await h.register(consumer("c", asset("a")))
    await h.trigger("pe")
    assert len(await asset_runs(h, "c")) == 1


async def test_an_asset_schedule_makes_no_timer_runs(harness):
    h = harness
    await h.register(consumer("c", asset("a"), start_date="2026-01-01T00:00:00+00:00"))
    await h.advance(3 * 24 * 3600)
    assert await h.runs("c") == []


async def test_an_api_event_creates_the_run_and_unknown_assets_are_refused(harness):
    h = harness
    await h.register(producer("p", "a"))
    await h.register(consumer("c", asset("a")))
    async with h.store.begin() as conn:
        a = await st.get_asset_by_name(conn, tenant="default", name="a")
        event, created = await svc.create_event(conn, tenant="default", asset_id=a.id,
                                                extra={"from": "api"}, now=h.clock.now())
        with pytest.raises(AssetNotFound):
            await svc.create_event(conn, tenant="other", asset_id=a.id, extra={},
                                   now=h.clock.now())
    for run_id in created:
        h.scheduler.wake_run(run_id)
    await h.settle()
    (run,) = await asset_runs(h, "c")
    assert created == [run.id] and event.source_dag_id is None
    assert await h.states("c", run.run_id) == {"use": "queued"}


async def test_an_event_committed_before_a_crash_creates_its_run_exactly_once(db_url, clock):
    """The event, its queue rows and the consumer run share one transaction: a crash
    before the commit keeps none of them, one after keeps all, and a restarted scheduler
    runs the consumer once."""
    store = await Store.open(db_url, auto_migrate=True)
    h = await make_harness(db_url, clock, ScriptedExecutor(), store=store)
    try:
        await h.register(producer("p", "a"))
        await h.register(consumer("c", asset("a")))
        await h.scheduler.stop()  # the scheduler is gone (crashed) from here on
        async with store.connect() as conn:
            a = await st.get_asset_by_name(conn, tenant="default", name="a")
        with pytest.raises(RuntimeError):  # a crash inside the transaction
            async with store.begin() as conn:
                await svc.create_event(conn, tenant="default", asset_id=a.id, extra={},
                                       now=clock.now())
                raise RuntimeError("crash before commit")
        async with store.connect() as conn:
            assert (await st.list_events(conn, tenant="default"))[1] == 0
        assert await h.runs("c") == []
        async with store.begin() as conn:  # committed: the scheduler never heard of it
            await svc.create_event(conn, tenant="default", asset_id=a.id, extra={},
                                   now=clock.now())
        h2 = await make_harness(db_url, clock, ScriptedExecutor(), store=store)
        try:
            (run,) = await asset_runs(h2, "c")
            assert await h2.states("c", run.run_id) == {"use": "queued"}
            await h2.finish("use", run_id=run.run_id)
            assert await h2.run_state("c", run.run_id) == "success"
            await h2.scheduler.stop()
            h3 = await make_harness(db_url, clock, ScriptedExecutor(), store=store)
            await h3.scheduler.stop()
            assert len(await h3.runs("c")) == 1
            async with store.connect() as conn:
                assert await st.queued_events(conn) == []
        finally:
            await h2.scheduler.stop()
    finally:
        await store.close()


async def test_a_stale_consumer_loses_its_refs_until_registered_again(harness):
    h = harness
    await h.register(producer("p", "a"))
    await h.register(consumer("c", asset("a")))
    async with h.store.begin() as conn:  # what the reloader does when its file is gone
        await dags.set_stale(conn, "c", True)
        await svc.forget_dag(conn, dag_id="c")
        assert await st.dag_refs(conn, dag_ids=["c"]) == []
    await produce(h, "p")
    assert await asset_runs(h, "c") == []
    await h.register(consumer("c", asset("a")))  # its file is back
    await produce(h, "p")
    assert len(await asset_runs(h, "c")) == 1
