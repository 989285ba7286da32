"""The asset tables on SQLite and PostgreSQL: assets per tenant, aliases, events, the
consumers' queue, references, run links, state and watchers."""

from __future__ import annotations

from datetime import timedelta

from storetest import T0, make_dag, make_run

from leoflow.engine.store import Store, dags
from leoflow.engine.store import assets as st


async def test_assets_are_unique_per_tenant_and_refreshed(store: Store) -> None:
    async with store.begin() as conn:
        a = await st.upsert_asset(conn, tenant="default", name="a", uri="s3://a", now=T0)
        again = await st.upsert_asset(conn, tenant="default", name="a", uri="s3://a2",
                                      group="model", extra={"k": 1.5}, now=T0)
        other = await st.upsert_asset(conn, tenant="team", name="a", uri="s3://a", now=T0)
    assert again.id == a.id and again.uri == "s3://a2" and again.group == "model"
    assert again.extra == {"k": 1.5}
    assert other.id != a.id
    async with store.connect() as conn:
        assert await st.get_asset(conn, a.id, tenant="team") is None
        assert [r.id for r in await st.get_assets_by_uri(conn, tenant="team", uri="s3://a")] == [
            other.id]
        rows, total = await st.list_assets(conn, tenant="default")
        assert total == 1 and rows[0].name == "a"


async def test_events_queue_and_run_links(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn, "consumer")
        a = await st.upsert_asset(conn, tenant="default", name="a", uri="a", now=T0)
        b = await st.upsert_asset(conn, tenant="default", name="b", uri="b", now=T0)
        e1 = await st.insert_event(conn, asset_id=a.id, extra={"n": 1}, source_dag_id="p",
                                   source_run_id="r", source_task_id="t", source_map_index=-1,
                                   timestamp=T0)
        e2 = await st.insert_event(conn, asset_id=b.id, partition_key="2026-01-01",
                                   timestamp=T0 + timedelta(seconds=1))
        await st.enqueue(conn, tenant="default", dag_id="consumer", event_id=e1, asset_id=a.id,
                         now=T0)
        await st.enqueue(conn, tenant="default", dag_id="consumer", event_id=e1, asset_id=a.id,
                         now=T0)  # idempotent
        await st.enqueue(conn, tenant="default", dag_id="consumer", event_id=e2, asset_id=b.id,
                         partition_key="2026-01-01", now=T0)
        queued = await st.queued_events(conn, dag_ids=["consumer"])
        assert [(q.event_id, q.partition_key) for q in queued] == [(e1, None),
                                                                    (e2, "2026-01-01")]
        run = await make_run(conn, version, partition_key="2026-01-01")
        assert run.partition_key == "2026-01-01"
        await st.link_run_events(conn, run.id, [e1, e2])
        assert await st.dequeue(conn, dag_id="consumer", event_ids=[e1, e2]) == 2
    async with store.connect() as conn:
        linked = await st.run_events(conn, run.id)
        assert [(e.id, e.asset_name, e.extra) for e in linked] == [(e1, "a", {"n": 1}),
                                                                   (e2, "b", {})]
        assert linked[0].source_task_id == "t" and linked[1].partition_key == "2026-01-01"
        assert await st.runs_of_events(conn, [e1]) == {e1: [run.id]}
        assert await st.queued_events(conn, dag_ids=["consumer"]) == []
        newest, total = await st.list_events(conn, tenant="default", ascending=False, limit=1)
        assert total == 2 and newest[0].id == e2
        assert (await st.list_events(conn, tenant="team"))[1] == 0
        window, _ = await st.list_events(conn, tenant="default", after=T0 + timedelta(seconds=1))
        assert [e.id for e in window] == [e2]


async def test_refs_aliases_and_active_consumers(store: Store) -> None:
    async with store.begin() as conn:
        for dag_id in ("direct", "by_alias", "by_name", "by_uri", "paused", "producer"):
            await make_dag(conn, dag_id)
        await dags.set_paused(conn, "paused", True)
        a = await st.upsert_asset(conn, tenant="default", name="a", uri="s3://a", now=T0)
        alias = await st.upsert_alias(conn, tenant="default", name="al")
        await st.link_alias(conn, alias_id=alias.id, asset_id=a.id)
        await st.link_alias(conn, alias_id=alias.id, asset_id=a.id)  # idempotent
        for dag_id, ref in (("direct", st.DagAssetRef("direct", "schedule", asset_id=a.id)),
                            ("by_alias", st.DagAssetRef("by_alias", "schedule",
                                                        alias_id=alias.id)),
                            ("by_name", st.DagAssetRef("by_name", "schedule", ref_name="a")),
                            ("by_uri", st.DagAssetRef("by_uri", "schedule", ref_uri="s3://a")),
                            ("paused", st.DagAssetRef("paused", "schedule", asset_id=a.id)),
                            ("producer", st.DagAssetRef("producer", "outlet", asset_id=a.id,
                                                        task_id="t"))):
            await st.replace_dag_refs(conn, tenant="default", dag_id=dag_id, refs=[ref])
        assert await st.dags_naming(conn, a, kind="schedule", active_only=True) == [
            "by_alias", "by_name", "by_uri", "direct"]
        assert "paused" in await st.dags_naming(conn, a, kind="schedule")
        assert await st.dags_naming(conn, a, kind="outlet") == ["producer"]
        assert await st.alias_asset_ids(conn, [alias.id]) == {alias.id: {a.id}}
        await st.replace_dag_refs(conn, tenant="default", dag_id="direct", refs=[])
        assert "direct" not in await st.dags_naming(conn, a, kind="schedule")
        assert await st.delete_dag_refs(conn, "by_name") == 1


async def test_state_and_watchers(store: Store) -> None:
    async with store.begin() as conn:
        await make_dag(conn, "watching")
        a = await st.upsert_asset(conn, tenant="default", name="a", uri="a", now=T0)
        await st.set_state(conn, a.id, "k", 4.0, now=T0)
        await st.set_state(conn, a.id, "k", {"x": 1}, now=T0)
        await st.set_state(conn, a.id, "n", None, now=T0)
        assert await st.get_state(conn, a.id, "k") == (True, {"x": 1})
        assert await st.get_state(conn, a.id, "n") == (True, None)
        assert await st.get_state(conn, a.id, "missing") == (False, None)
        assert await st.delete_state(conn, a.id, "k") == 1
        assert await st.clear_state(conn, a.id) == 1
        trigger = {"kind": "file", "kwargs": {"filepath": "/tmp/x"}}
        await st.replace_watchers(conn, "watching", [st.WatcherRow(a.id, "watching", "w", trigger)])
        assert [w.name for w in await st.list_watchers(conn)] == ["w"]
        await dags.set_stale(conn, "watching", True)
        assert await st.list_watchers(conn) == []
        assert len(await st.list_watchers(conn, active_only=False)) == 1


async def test_float_state_stays_float(store: Store) -> None:
    async with store.begin() as conn:
        a = await st.upsert_asset(conn, tenant="default", name="a", uri="a", now=T0)
        await st.set_state(conn, a.id, "f", 4.0, now=T0)
    async with store.connect() as conn:
        found, value = await st.get_state(conn, a.id, "f")
    assert found and isinstance(value, float)
