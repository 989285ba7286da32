"""Every asset operation of the official ``apache-airflow-client`` (3.3.2: ``AssetApi``'s 13,
``AssetStateStoreApi``'s 5 and ``DagRunApi.get_upstream_asset_events``) against the real
control plane over HTTP, each answer deserialized into the client's own models, as a user's
script gets them.

The API is served by uvicorn on 127.0.0.1 inside the test's event loop (the control plane
lives there); the synchronous client runs in a thread.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.api.assets_dags import asset, register
from tests.integration.api.test_hitl_api import served
from tests.integration.real_auth import api_token

pytestmark = pytest.mark.asyncio(loop_scope="module")

X = asset("client_x")
Y = asset("client_y")
ALIAS = {"alias": {"name": "client_alias", "group": ""}}
PRODUCER, CONSUMER = "asset_client_producer", "asset_client_consumer"


async def test_every_asset_operation_of_the_official_client(api) -> None:
    from airflow_client.client import ApiClient, Configuration
    from airflow_client.client.api.asset_api import AssetApi
    from airflow_client.client.api.asset_state_store_api import AssetStateStoreApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.exceptions import NotFoundException
    from airflow_client.client.models import (
        AssetAliasCollectionResponse,
        AssetCollectionResponse,
        AssetEventCollectionResponse,
        AssetEventResponse,
        AssetResponse,
        AssetStateStoreBody,
        AssetStateStoreCollectionResponse,
        AssetStateStoreResponse,
        CreateAssetEventsBody,
        DAGRunResponse,
        MaterializeAssetBody,
        QueuedEventCollectionResponse,
        QueuedEventResponse,
    )

    await register(api, PRODUCER, outlets=[X, ALIAS])
    await register(api, CONSUMER, schedule={"kind": "assets", "assets": {"all": [X, Y]}})

    def script() -> dict[str, object]:
        got: dict[str, object] = {}
        with ApiClient(Configuration(host=host, access_token=api_token("admin-token"))) as client:
            assets, runs = AssetApi(client), DagRunApi(client)
            listed = assets.get_assets(name_pattern="client_", order_by=["name"], limit=10)
            assert isinstance(listed, AssetCollectionResponse)
            x_id, y_id = (a.id for a in listed.assets)
            got["listed"] = listed
            got["x"] = assets.get_asset(x_id)
            aliases = assets.get_asset_aliases(name_pattern="client_")
            assert isinstance(aliases, AssetAliasCollectionResponse)
            got["alias"] = assets.get_asset_alias(aliases.asset_aliases[0].id)

            got["event_x"] = assets.create_asset_event(
                CreateAssetEventsBody(asset_id=x_id, extra={"from": "client"}))
            got["queued_dag"] = assets.get_dag_asset_queued_events(CONSUMER)
            got["queued_one"] = assets.get_dag_asset_queued_event(CONSUMER, x_id)
            got["queued_asset"] = assets.get_asset_queued_events(x_id)
            assets.delete_dag_asset_queued_event(CONSUMER, x_id)
            assets.create_asset_event(CreateAssetEventsBody(asset_id=x_id))
            assets.delete_asset_queued_events(x_id)
            assets.create_asset_event(CreateAssetEventsBody(asset_id=x_id))
            assets.delete_dag_asset_queued_events(CONSUMER)
            try:
                assets.get_dag_asset_queued_event(CONSUMER, x_id)
            except NotFoundException as exc:
                got["gone"] = exc.status

            assets.create_asset_event(CreateAssetEventsBody(asset_id=x_id))
            got["event_y"] = assets.create_asset_event(CreateAssetEventsBody(asset_id=y_id))
            got["events"] = assets.get_asset_events(source_map_index=-1, order_by=["-timestamp"],
                                                    limit=5)
            consumer_run = runs.get_dag_runs(CONSUMER).dag_runs[0]
            got["upstream"] = runs.get_upstream_asset_events(CONSUMER, consumer_run.dag_run_id)
            got["materialized"] = assets.materialize_asset(
                x_id, MaterializeAssetBody(note="from the client"))
            got["materialized_plain"] = assets.materialize_asset(x_id)

            state = AssetStateStoreApi(client)
            state.set_asset_state_store("cursor", x_id, AssetStateStoreBody(value={"at": 1}))
            state.set_asset_state_store("other", x_id, AssetStateStoreBody(value="v"))
            got["state_one"] = state.get_asset_state_store("cursor", x_id)
            state.delete_asset_state_store("other", x_id)
            got["state_list"] = state.list_asset_state_store(x_id)
            state.clear_asset_state_store(x_id)
            got["state_cleared"] = state.list_asset_state_store(x_id).total_entries
        return got

    async with served(api) as host:
        got = await asyncio.to_thread(script)

    listed = got["listed"]
    assert [a.name for a in listed.assets] == ["client_x", "client_y"]
    x = got["x"]
    assert isinstance(x, AssetResponse) and x.producing_tasks[0].dag_id == PRODUCER
    assert x.scheduled_dags[0].dag_id == CONSUMER and x.last_asset_event.id is None
    assert got["alias"] == {"id": got["alias"]["id"], "name": "client_alias", "group": ""}
    event_x = got["event_x"]
    assert isinstance(event_x, AssetEventResponse)
    assert event_x.extra == {"from": "client", "from_rest_api": True}
    queued = got["queued_dag"]
    assert isinstance(queued, QueuedEventCollectionResponse) and queued.total_entries == 1
    assert isinstance(got["queued_one"], QueuedEventResponse)
    assert got["queued_asset"].queued_events[0].dag_id == CONSUMER
    assert got["gone"] == 404
    events = got["events"]
    assert isinstance(events, AssetEventCollectionResponse)
    assert events.asset_events[0].id == got["event_y"].id
    upstream = got["upstream"]
    assert [e.name for e in upstream.asset_events] == ["client_x", "client_y"]
    assert [r.triggering for e in upstream.asset_events for r in e.created_dagruns] == [
        False, True]
    for key in ("materialized", "materialized_plain"):
        run = got[key]
        assert isinstance(run, DAGRunResponse) and run.dag_id == PRODUCER
    assert got["materialized"].note == "from the client"
    assert isinstance(got["state_one"], AssetStateStoreResponse)
    assert got["state_one"].value == {"at": 1}
    listed_state = got["state_list"]
    assert isinstance(listed_state, AssetStateStoreCollectionResponse)
    assert [e.key for e in listed_state.asset_state_store] == ["cursor"]
    assert got["state_cleared"] == 0
