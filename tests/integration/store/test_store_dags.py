"""DAG rows and versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storetest import T0, make_dag, make_run, spec

from leoflow.engine.store import DagNotFoundError, Store, dags, runs


async def test_upsert_creates_then_refreshes(store: Store) -> None:
    async with store.begin() as conn:
        created = await dags.upsert_dag(conn, "etl", fileloc="etl/dag.py")
    assert created.is_paused is True  # Airflow's default for new DAGs
    assert created.tenant == "default" and created.is_stale is False
    assert created.current_version_id is None

    async with store.begin() as conn:
        await dags.set_paused(conn, "etl", False)
        await dags.set_stale(conn, "etl", True)
        again = await dags.upsert_dag(conn, "etl", paused_on_create=True)
    assert again.is_paused is False  # an existing DAG keeps its flag
    assert again.is_stale is False  # its file is back
    assert again.fileloc == "etl/dag.py"  # None keeps the stored location
    assert again.created_at == created.created_at
    assert again.updated_at >= created.updated_at


async def test_get_unknown_and_update_unknown(store: Store) -> None:
    async with store.begin() as conn:
        assert await dags.get_dag(conn, "nope") is None
        with pytest.raises(DagNotFoundError) as caught:
            await dags.set_paused(conn, "nope", True)
        assert caught.value.dag_id == "nope"
        with pytest.raises(DagNotFoundError):
            await dags.register_version(conn, "nope", spec("nope"))


async def test_list_filters_and_paginates_with_total(store: Store) -> None:
    async with store.begin() as conn:
        for i in range(7):
            await dags.upsert_dag(
                conn, f"dag_{i}", tenant="acme" if i % 2 else "default", paused_on_create=i < 3
            )
    async with store.connect() as conn:
        first = await dags.list_dags(conn, limit=3)
        second = await dags.list_dags(conn, limit=3, offset=3)
        last = await dags.list_dags(conn, limit=3, offset=6)
        assert first.total == second.total == last.total == 7
        ids = [d.dag_id for page in (first, second, last) for d in page.items]
        assert ids == [f"dag_{i}" for i in range(7)]

        paused = await dags.list_dags(conn, paused=True)
        assert [d.dag_id for d in paused.items] == ["dag_0", "dag_1", "dag_2"]
        acme = await dags.list_dags(conn, tenant="acme", order="-dag_id")
        assert [d.dag_id for d in acme.items] == ["dag_5", "dag_3", "dag_1"]
        assert (await dags.list_dags(conn, dag_id_pattern="G_4")).total == 1
        assert (await dags.list_dags(conn, dag_ids=["dag_1", "x"])).total == 1
        with pytest.raises(ValueError, match="cannot order by"):
            await dags.list_dags(conn, order="fileloc; drop table dag")


async def test_register_version_dedupes_by_hash_and_numbers_versions(store: Store) -> None:
    async with store.begin() as conn:
        await dags.upsert_dag(conn, "etl")
        v1 = await dags.register_version(conn, "etl", spec(), "v1 source")
        same = await dags.register_version(conn, "etl", spec(), "edited comment only")
        v2 = await dags.register_version(conn, "etl", spec(retries=2), "v2 source")
        assert (await dags.get_dag(conn, "etl")).current_version_id == v2.id  # type: ignore[union-attr]
        back = await dags.register_version(conn, "etl", spec(), "v1 again")
        current = await dags.current_version(conn, "etl")

    assert v1.version_number == 1 and v2.version_number == 2
    assert same == v1 and same.source_code == "v1 source"
    assert back == v1  # reverting the content reuses the stored version
    assert current == v1
    assert v1.content_hash.startswith("sha256:") and v1.content_hash != v2.content_hash
    assert v1.spec == spec()

    async with store.connect() as conn:
        page = await dags.list_versions(conn, "etl")
        assert [v.version_number for v in page.items] == [1, 2] and page.total == 2
        assert await dags.get_version(conn, v2.id) == v2
        assert await dags.get_version_by_number(conn, "etl", 2) == v2
        assert await dags.get_version_by_number(conn, "etl", 3) is None


async def test_version_numbers_are_per_dag_and_declared_hash_wins(store: Store) -> None:
    declared = "sha256:" + "a" * 64
    async with store.begin() as conn:
        for dag_id in ("a", "b"):
            await dags.upsert_dag(conn, dag_id)
        va = await dags.register_version(conn, "a", spec("a", content_hash=declared))
        vb = await dags.register_version(conn, "b", spec("b", content_hash=declared))
    assert va.version_number == vb.version_number == 1
    assert va.content_hash == vb.content_hash == declared


async def test_next_dagrun_and_delete_cascades(store: Store) -> None:
    async with store.begin() as conn:
        version = await make_dag(conn)
        row = await dags.set_next_dagrun(
            conn,
            "etl",
            run_after=T0,
            logical_date=T0,
            data_interval_start=T0,
            data_interval_end=T0 + timedelta(days=1),
        )
        assert row.next_dagrun_after == T0
        assert row.next_dagrun_data_interval_end == T0 + timedelta(days=1)
        run = await make_run(conn, version)
    async with store.begin() as conn:
        assert await dags.delete_dag(conn, "etl") is True
        assert await dags.delete_dag(conn, "etl") is False
    async with store.connect() as conn:
        assert await dags.get_version(conn, version.id) is None
        assert await runs.get_run_by_id(conn, run.id) is None
