"""``/api/v2/assets…`` over the real control plane: assets with their producers and consumers,
events posted through the API that queue for a consumer and then start its run (linked as its
upstream events), queued events per DAG and per asset, aliases, materialize, the asset fields
of DAG details, a trigger's partition key, roles, and Airflow's 400/404/409 answers. Every
answer is parsed by the official client's models (3.3.2).

Tenant isolation has its own test: another tenant neither sees nor posts to these assets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.api.assets_dags import asset, register
from tests.integration.api.client_models import parse
from tests.integration.api.conftest import (
    Api,
    close_api,
    headers,
    open_api,
    scratch_postgres,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              shared_venvs: Path) -> AsyncIterator[Api]:
    """The control plane on each metadata backend (the listings are SQL of their own)."""
    home = tmp_path_factory.mktemp("home")
    if request.param == "sqlite":
        opened = await open_api(home, f"sqlite+aiosqlite:///{(home / 'leoflow.db').as_posix()}",
                                shared_venvs)
        yield opened
        await close_api(opened)
        return
    with scratch_postgres(request.getfixturevalue("postgres_server")) as url:
        opened = await open_api(home, url, shared_venvs)
        yield opened
        await close_api(opened)

A = asset("api_a")
B = asset("api_b", uri="file:///data/b.csv")
C = asset("api_c")
ALIAS = {"alias": {"name": "api_alias", "group": ""}}
PRODUCER, CONSUMER, READER = "asset_api_producer", "asset_api_consumer", "asset_api_reader"


async def ids(api: Any) -> dict[str, int]:
    body = (await api.get("/api/v2/assets", params={"only_active": "false"})).json()
    return {a["name"]: a["id"] for a in body["assets"]}


async def setup_dags(api: Any) -> dict[str, int]:
    if PRODUCER not in api.registered:
        # every DAG declares api_a alike (the version registered last describes an asset)
        extras = {"api_a": {"password": "pw", "rows": 3}}
        await register(api, PRODUCER, outlets=[A, ALIAS], extras=extras)
        await register(api, CONSUMER, schedule={"kind": "assets", "assets": {"all": [A, B]}},
                       inlets=[A], extras=extras)
        await register(api, READER, inlets=[C])
        api.registered[PRODUCER] = {}
    return await ids(api)


async def consumer_runs(api: Any) -> list[dict[str, Any]]:
    body = (await api.get(f"/api/v2/dags/{CONSUMER}/dagRuns")).json()
    return body["dag_runs"]


async def test_assets_list_with_producers_consumers_and_filters(api):
    found = await setup_dags(api)
    listed = await api.get("/api/v2/assets")
    assert listed.status_code == 200, listed.text
    body = parse("AssetCollectionResponse", listed.json())
    by_name = {a.name: a for a in body.assets}
    assert {"api_a", "api_b", "api_c"} <= set(by_name)
    a = by_name["api_a"]
    assert (a.uri, a.group) == ("s3://bucket/api_a", "asset")
    assert a.extra == {"password": "***", "rows": 3}  # masked as Airflow's redact does
    assert [(t.dag_id, t.task_id) for t in a.producing_tasks] == [(PRODUCER, "t")]
    assert [d.dag_id for d in a.scheduled_dags] == [CONSUMER]
    assert [(t.dag_id, t.task_id) for t in a.consuming_tasks] == [(CONSUMER, "t")]
    assert [t.dag_id for t in by_name["api_c"].consuming_tasks] == [READER]
    assert a.watchers == [] and a.aliases == []

    one = await api.get(f"/api/v2/assets/{found['api_b']}")
    assert parse("AssetResponse", one.json()).uri == "file:///data/b.csv"
    missing = await api.get("/api/v2/assets/999999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The Asset with ID: `999999` was not found"}

    async def names(**params: Any) -> list[str]:
        answer = await api.get("/api/v2/assets", params=params)
        assert answer.status_code == 200, answer.text
        return [x["name"] for x in answer.json()["assets"]]

    assert await names(name_pattern="API_B") == ["api_b"]
    assert await names(uri_pattern="data/b") == ["api_b"]
    assert await names(uri_prefix_pattern="s3://bucket/api_") == ["api_a", "api_c"]
    assert await names(name_pattern="api_a|api_c") == ["api_a", "api_c"]
    assert await names(dag_ids=READER) == ["api_c"]
    assert await names(dag_ids=f"{READER},{PRODUCER}") == ["api_a", "api_c"]
    assert await names(order_by="-name", name_prefix_pattern="api_") == [
        "api_c", "api_b", "api_a"]
    assert await names(order_by="-name", name_prefix_pattern="api_", limit=1, offset=1) == [
        "api_b"]
    page = (await api.get("/api/v2/assets", params={"name_prefix_pattern": "api_",
                                                    "limit": 1})).json()
    assert page["total_entries"] == 3 and len(page["assets"]) == 1
    bad = await api.get("/api/v2/assets", params={"order_by": "nope"})
    assert bad.status_code == 400 and "nope" in bad.json()["detail"]


async def test_dag_fields_filled_from_assets(api):
    found = await setup_dags(api)
    details = await api.get(f"/api/v2/dags/{CONSUMER}/details")
    parsed = parse("DAGDetailsResponse", details.json())
    assert parsed.timetable_summary == "Asset"
    assert parsed.timetable_description == "Triggered by assets"
    assert parsed.timetable_periodic is False and parsed.timetable_partitioned is False
    assert parsed.asset_expression == {"all": [
        {"asset": {"uri": "s3://bucket/api_a", "name": "api_a", "group": "asset",
                   "id": found["api_a"]}},
        {"asset": {"uri": "file:///data/b.csv", "name": "api_b", "group": "asset",
                   "id": found["api_b"]}}]}
    plain = (await api.get(f"/api/v2/dags/{PRODUCER}/details")).json()
    assert plain["asset_expression"] is None
    listed = (await api.get("/api/v2/dags", params={"dag_id_pattern": CONSUMER})).json()
    assert listed["dags"][0]["timetable_summary"] == "Asset"


async def test_posted_events_queue_then_start_the_consumer(api):
    found = await setup_dags(api)
    a, b = found["api_a"], found["api_b"]
    before = len(await consumer_runs(api))

    first = await api.post("/api/v2/assets/events", token="op-token",
                           json={"asset_id": a, "extra": {"batch": 1}})
    assert first.status_code == 200, first.text
    event_a = parse("AssetEventResponse", first.json())
    assert event_a.extra == {"batch": 1, "from_rest_api": True}
    assert (event_a.asset_id, event_a.name, event_a.uri) == (a, "api_a", "s3://bucket/api_a")
    assert event_a.source_map_index == -1 and event_a.created_dagruns == []
    assert len(await consumer_runs(api)) == before  # waits for api_b too

    queued = parse("QueuedEventCollectionResponse", (await api.get(
        f"/api/v2/dags/{CONSUMER}/assets/queuedEvents")).json())
    assert [(q.dag_id, q.asset_id, q.dag_display_name) for q in queued.queued_events] == [
        (CONSUMER, a, CONSUMER)]
    one = await api.get(f"/api/v2/dags/{CONSUMER}/assets/{a}/queuedEvents")
    assert parse("QueuedEventResponse", one.json()).asset_id == a
    by_asset = (await api.get(f"/api/v2/assets/{a}/queuedEvents")).json()
    assert [q["dag_id"] for q in by_asset["queued_events"]] == [CONSUMER]
    absent = await api.get(f"/api/v2/dags/{CONSUMER}/assets/{b}/queuedEvents")
    assert absent.status_code == 404
    assert absent.json()["detail"] == (f"Queued event with dag_id: `{CONSUMER}` and "
                                       f"asset_id: `{b}` was not found")
    early = await api.get(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents",
                          params={"before": "2000-01-01T00:00:00Z"})
    assert early.json() == {"queued_events": [], "total_entries": 0}

    second = await api.post("/api/v2/assets/events", json={"asset_id": b})
    assert second.status_code == 200, second.text
    event_b = second.json()
    runs = await consumer_runs(api)
    assert len(runs) == before + 1  # created in the event's transaction
    run = parse("DAGRunResponse", runs[-1])
    assert (run.run_type, run.triggered_by) == ("asset_triggered", "asset")
    assert (await api.get(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents")).json()[
        "total_entries"] == 0

    upstream = await api.get(f"/api/v2/dags/{CONSUMER}/dagRuns/{run.dag_run_id}/"
                             "upstreamAssetEvents")
    events = parse("AssetEventCollectionResponse", upstream.json())
    assert [e.id for e in events.asset_events] == [event_a.id, event_b["id"]]
    # only the run's most recent event triggered it (Airflow 3.3's flag)
    flags = {e.id: [r.triggering for r in e.created_dagruns if r.run_id == run.dag_run_id]
             for e in events.asset_events}
    assert flags == {event_a.id: [False], event_b["id"]: [True]}
    assert events.asset_events[1].created_dagruns[0].dag_id == CONSUMER

    listed = parse("AssetEventCollectionResponse", (await api.get(
        "/api/v2/assets/events", params={"asset_id": a})).json())
    assert event_a.id in [e.id for e in listed.asset_events]
    newest = (await api.get("/api/v2/assets/events",
                            params={"order_by": "-timestamp", "limit": 1})).json()
    assert newest["asset_events"][0]["id"] == event_b["id"]
    assert newest["total_entries"] >= 2
    later = (await api.get("/api/v2/assets/events",
                           params={"timestamp_gte": event_b["timestamp"]})).json()
    assert [e["id"] for e in later["asset_events"]] == [event_b["id"]]
    by_name = (await api.get("/api/v2/assets/events", params={"name_pattern": "api_b"})).json()
    assert {e["asset_id"] for e in by_name["asset_events"]} == {b}
    assert (await api.get("/api/v2/assets/events",
                          params={"source_dag_id": "nobody"})).json()["total_entries"] == 0
    assert (await api.get("/api/v2/assets/events",
                          params={"order_by": "bogus"})).status_code == 400


async def test_deleting_queued_events(api):
    found = await setup_dags(api)
    a = found["api_a"]
    assert (await api.post("/api/v2/assets/events", json={"asset_id": a})).status_code == 200
    assert (await api.delete(f"/api/v2/dags/{CONSUMER}/assets/{a}/queuedEvents",
                             "viewer-token")).status_code == 403
    gone = await api.delete(f"/api/v2/dags/{CONSUMER}/assets/{a}/queuedEvents")
    assert gone.status_code == 204
    again = await api.delete(f"/api/v2/dags/{CONSUMER}/assets/{a}/queuedEvents")
    assert again.status_code == 404
    assert again.json()["detail"] == (f"Queued event with dag_id: `{CONSUMER}` and "
                                      f"asset_id: `{a}` was not found")

    assert (await api.post("/api/v2/assets/events", json={"asset_id": a})).status_code == 200
    assert (await api.delete(f"/api/v2/assets/{a}/queuedEvents")).status_code == 204
    none = await api.delete(f"/api/v2/assets/{a}/queuedEvents")
    assert none.status_code == 404
    assert none.json()["detail"] == f"Queue event with asset_id: `{a}` was not found"

    assert (await api.post("/api/v2/assets/events", json={"asset_id": a})).status_code == 200
    assert (await api.delete(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents")).status_code == 204
    empty = await api.delete(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents")
    assert empty.status_code == 404
    assert empty.json()["detail"] == f"Queue event with dag_id: `{CONSUMER}` was not found"


async def test_posting_events_needs_op_and_a_known_asset(api):
    found = await setup_dags(api)
    for token in ("viewer-token", "user-token"):
        refused = await api.post("/api/v2/assets/events", token,
                                 json={"asset_id": found["api_c"]})
        assert refused.status_code == 403, token
    missing = await api.post("/api/v2/assets/events", json={"asset_id": 999999})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Asset with ID: `999999` was not found"}
    extra = await api.post("/api/v2/assets/events", json={"asset_id": 1, "surprise": 1})
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["type"] == "extra_forbidden"
    blank = await api.post("/api/v2/assets/events",
                           json={"asset_id": found["api_c"], "partition_key": " "})
    assert blank.status_code == 422
    # Airflow's clients send access_control in multi-team setups: accepted, nothing to filter
    ok = await api.post("/api/v2/assets/events",
                        json={"asset_id": found["api_c"], "partition_key": "2026-01-01",
                              "access_control": {"consumer_teams": None, "allow_global": True}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["partition_key"] == "2026-01-01"
    # events on an asset nobody schedules on start nothing and are listed
    mine = (await api.get("/api/v2/assets/events", params={"asset_id": found["api_c"]})).json()
    assert mine["total_entries"] >= 1


async def test_aliases(api):
    await setup_dags(api)
    listed = await api.get("/api/v2/assets/aliases")
    body = parse("AssetAliasCollectionResponse", listed.json())
    alias = next(a for a in body.asset_aliases if a.name == "api_alias")
    assert alias.group == ""
    one = await api.get(f"/api/v2/assets/aliases/{alias.id}")
    assert one.json() == {"id": alias.id, "name": "api_alias", "group": ""}
    assert (await api.get("/api/v2/assets/aliases",
                          params={"name_pattern": "zzz"})).json()["total_entries"] == 0
    missing = await api.get("/api/v2/assets/aliases/999999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The Asset Alias with ID: `999999` was not found"}
    assert (await api.get("/api/v2/assets/aliases",
                          params={"order_by": "uri"})).status_code == 400


async def test_materialize_triggers_the_producing_dag(api):
    found = await setup_dags(api)
    viewer = await api.post(f"/api/v2/assets/{found['api_a']}/materialize", "viewer-token")
    assert viewer.status_code == 403
    made = await api.post(f"/api/v2/assets/{found['api_a']}/materialize", "op-token")
    assert made.status_code == 200, made.text
    run = parse("DAGRunResponse", made.json())
    assert run.dag_id == PRODUCER and run.dag_run_id.startswith("asset_materialization__")
    # shown as manual: client 3.0 does not know asset_materialization (AIRFLOW-COMPAT.md)
    assert (run.run_type, run.triggered_by, run.state) == ("manual", "rest_api", "queued")
    assert run.triggering_user_name == "olga"
    named = await api.post(f"/api/v2/assets/{found['api_a']}/materialize",
                           json={"dag_run_id": "mat-1", "conf": {}, "note": "by hand"})
    assert named.status_code == 200 and named.json()["dag_run_id"] == "mat-1"
    duplicate = await api.post(f"/api/v2/assets/{found['api_a']}/materialize",
                               json={"dag_run_id": "mat-1"})
    assert duplicate.status_code == 409
    bad_id = await api.post(f"/api/v2/assets/{found['api_a']}/materialize",
                            json={"dag_run_id": "no spaces"})
    assert bad_id.status_code == 400

    nobody = await api.post(f"/api/v2/assets/{found['api_b']}/materialize")
    assert nobody.status_code == 404
    assert nobody.json() == {"detail": f"No Dag materializes asset with ID: {found['api_b']}"}
    await register(api, "asset_api_second_producer", outlets=[C])
    await register(api, "asset_api_third_producer", outlets=[C])
    several = await api.post(f"/api/v2/assets/{found['api_c']}/materialize")
    assert several.status_code == 409
    assert several.json() == {
        "detail": f"More than one Dag materializes asset with ID: {found['api_c']}"}
    # the materialized runs finish (an empty task) and their success emits api_a's event
    for run_id in (run.dag_run_id, "mat-1"):
        assert (await api.wait_run(PRODUCER, run_id))["state"] == "success"


async def test_trigger_partition_key(api):
    await setup_dags(api)
    refused = await api.post(f"/api/v2/dags/{PRODUCER}/dagRuns",
                             json={"logical_date": None, "partition_key": "2026-01-01"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == (f"Dag '{PRODUCER}' is not a partitioned Dag and does "
                                        "not accept a partition_key.")
    await register(api, "asset_api_partitioned", outlets=[asset("api_part")],
                   schedule={"kind": "none", "partition": {"kind": "runtime"}}, paused=True)
    made = await api.post("/api/v2/dags/asset_api_partitioned/dagRuns",
                          json={"logical_date": None, "partition_key": "2026-01-01"})
    assert made.status_code == 200, made.text
    assert parse("DAGRunResponse", made.json()).partition_key == "2026-01-01"
    again = await api.get(f"/api/v2/dags/asset_api_partitioned/dagRuns/"
                          f"{made.json()['dag_run_id']}")
    assert again.json()["partition_key"] == "2026-01-01"
    blank = await api.post("/api/v2/dags/asset_api_partitioned/dagRuns",
                           json={"logical_date": None, "partition_key": "  "})
    assert blank.status_code == 400
    details = (await api.get("/api/v2/dags/asset_api_partitioned/details")).json()
    assert (details["timetable_summary"], details["timetable_partitioned"]) == (
        "PartitionedAtRuntime", True)


async def test_another_tenant_neither_sees_nor_posts(api):
    found = await setup_dags(api)
    other = "other-tenant-token"
    assert (await api.get("/api/v2/assets", other)).json() == {"assets": [],
                                                                 "total_entries": 0}
    assert (await api.get("/api/v2/assets", other,
                          params={"only_active": "false"})).json()["total_entries"] == 0
    a = found["api_a"]
    for path in (f"/api/v2/assets/{a}", "/api/v2/assets/aliases/1"):
        hidden = await api.get(path, other)
        assert hidden.status_code == 404, path
    assert (await api.get(f"/api/v2/assets/{a}", other)).json() == {
        "detail": f"The Asset with ID: `{a}` was not found"}
    posted = await api.post("/api/v2/assets/events", other, json={"asset_id": a})
    assert posted.status_code == 404
    assert (await api.post(f"/api/v2/assets/{a}/materialize", other)).status_code == 404
    assert (await api.get("/api/v2/assets/events", other)).json()["total_entries"] == 0
    assert (await api.get("/api/v2/assets/aliases", other)).json()["total_entries"] == 0
    # a queued event of tenant default is invisible and cannot be deleted by the other tenant
    assert (await api.post("/api/v2/assets/events", json={"asset_id": a})).status_code == 200
    assert (await api.get(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents", other)).json()[
        "total_entries"] == 0
    assert (await api.get(f"/api/v2/assets/{a}/queuedEvents", other)).json()[
        "total_entries"] == 0
    assert (await api.delete(f"/api/v2/assets/{a}/queuedEvents", other)).status_code == 404
    assert (await api.delete(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents",
                             other)).status_code == 404
    assert (await api.get(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents")).json()[
        "total_entries"] == 1
    assert (await api.delete(f"/api/v2/dags/{CONSUMER}/assets/queuedEvents")).status_code == 204
    runs = await consumer_runs(api)
    if runs:
        upstream = await api.get(f"/api/v2/dags/{CONSUMER}/dagRuns/{runs[0]['dag_run_id']}/"
                                 "upstreamAssetEvents", other)
        assert upstream.status_code == 404

    # the other tenant's own asset of the same name is another asset, unseen by default
    await register(api, "asset_api_other_producer", outlets=[A], tenant="other")
    theirs = (await api.get("/api/v2/assets", other)).json()
    assert [x["name"] for x in theirs["assets"]] == ["api_a"]
    their_id = theirs["assets"][0]["id"]
    assert their_id != a
    assert (await api.get(f"/api/v2/assets/{their_id}")).status_code == 404
    event = await api.post("/api/v2/assets/events", other, json={"asset_id": their_id})
    assert event.status_code == 200
    mine = (await api.get("/api/v2/assets/events", params={"asset_id": their_id})).json()
    assert mine["total_entries"] == 0


async def put(api: Any, path: str, token: str = "admin-token", **kwargs: Any) -> Any:
    return await api.client.put(path, headers=headers(token), **kwargs)


async def test_asset_state_store(api):
    found = await setup_dags(api)
    base = f"/api/v2/assets/{found['api_c']}/state-store"
    assert (await api.get(base)).json() == {"asset_state_store": [], "total_entries": 0}
    assert (await put(api, f"{base}/cursor", "user-token", json={"value": 1})).status_code == 403
    assert (await put(api, f"{base}/cursor", json={"value": {"at": 41}})).status_code == 204
    assert (await put(api, f"{base}/cursor", json={"value": {"at": 42}})).status_code == 204
    assert (await put(api, f"{base}/a/b", json={"value": [1, "x"]})).status_code == 204
    listed = parse("AssetStateStoreCollectionResponse", (await api.get(base)).json())
    assert [(e.key, e.value) for e in listed.asset_state_store] == [
        ("a/b", [1, "x"]), ("cursor", {"at": 42})]
    one = parse("AssetStateStoreResponse", (await api.get(f"{base}/cursor")).json())
    assert one.value == {"at": 42} and one.last_updated_by is None
    null = await put(api, f"{base}/cursor", json={"value": None})
    assert null.status_code == 422 and null.json()["detail"] == "value cannot be null"
    assert (await api.delete(f"{base}/cursor")).status_code == 204
    assert (await api.delete(f"{base}/cursor")).status_code == 204  # absent: no error
    missing = await api.get(f"{base}/cursor")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Asset state store key 'cursor' not found"}
    assert (await api.delete(base)).status_code == 204
    assert (await api.get(base)).json()["total_entries"] == 0
    # another tenant's asset: 404 as an absent one, for reads and writes
    other = "other-tenant-token"
    assert (await api.get(base, other)).json() == {
        "detail": f"Asset with id {found['api_c']} not found"}
    assert (await put(api, f"{base}/k", other, json={"value": 1})).status_code == 404
    assert (await api.delete(base, other)).status_code == 404
