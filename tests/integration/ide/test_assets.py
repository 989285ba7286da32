"""Assets in the IDE, on the real path (compiler, scheduler, subprocess agents): a
consumer's page shows its condition with each asset waiting, then seen by push when a
producer succeeds; the consumer run it starts shows its triggering events; the Assets page
and an asset's page list the events with their source runs and the runs they started;
Materialize runs an @asset DAG and refuses an asset no DAG produces."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from leoflow.engine.compiler.compile import load_project_config
from leoflow.engine.services import asset_views
from leoflow.engine.store import runs
from tests.integration.ide.conftest import Ide, wait_for
from tests.integration.ide.test_runs import wait_run

PROJECT = Path(__file__).resolve().parents[2] / "e2e" / "projects" / "ide_assets"
DAGS = ("ide_produce_orders", "ide_produce_customers", "ide_report", "ide_prices")


async def setup_project(ide: Ide) -> dict[str, int]:
    """Register the project with every DAG active; the tenant's asset ids by name."""
    shutil.copytree(PROJECT, ide.workspace / "ide_assets")
    config = load_project_config(PROJECT)
    await ide.plane.environments.ensure(config.dag_id, config.python_version,
                                        config.dependencies)
    await ide.register("ide_assets")
    for dag_id in DAGS:
        await ide.plane.operations.set_paused(dag_id, False)
    async with ide.plane.store.connect() as conn:
        listed = await asset_views.asset_list(conn, tenant="default")
    return {a.name: a.id for a in listed}


def leaf_state(ide: Ide, name: str) -> str | None:
    for element in ide.elements("asset-leaf"):
        if element.props.get("data-asset") == name:
            return element.props.get("data-seen")
    return None


def texts(element: Any) -> str:
    """Every label's text under an element (what a person reads there)."""
    found = []
    for child in element.descendants():
        text = getattr(child, "text", None)
        if isinstance(text, str) and text:
            found.append(text)
    return " ".join(found)


async def test_a_consumer_waits_then_sees_then_runs_and_the_asset_pages_follow(
        ide: Ide) -> None:
    ids = await setup_project(ide)
    assert set(ids) >= {"ide_orders", "ide_customers", "ide_refunds", "ide_prices"}
    await ide.login()
    await ide.user.open("/dags/ide_report")
    consumes = await ide.element("dag-consumes")
    assert consumes.text == "ide_orders & (ide_customers | ide_refunds)"
    for name in ("ide_orders", "ide_customers", "ide_refunds"):
        assert leaf_state(ide, name) == "false"
    await ide.see("waiting")

    # a producer succeeds: the page, still open, shows ide_orders seen (by push)
    produced = await ide.plane.operations.trigger_run("ide_produce_orders",
                                                      triggered_by="test")
    assert await wait_run(ide, "ide_produce_orders") == "success"
    await wait_for(lambda: leaf_state(ide, "ide_orders") == "true", timeout=15,
                   what="the consumer page to show ide_orders seen")
    leaf = next(e for e in ide.elements("asset-leaf")
                if e.props.get("data-asset") == "ide_orders")
    assert f"from ide_produce_orders/{produced.run_id}" in texts(leaf)
    assert leaf_state(ide, "ide_customers") == "false"
    async with ide.plane.store.connect() as conn:
        assert not (await runs.list_runs(conn, dag_id="ide_report")).items

    # the second asset completes the condition: the consumer runs, the queue is consumed
    await ide.plane.operations.trigger_run("ide_produce_customers", triggered_by="test")
    assert await wait_run(ide, "ide_report") == "success"
    await wait_for(lambda: leaf_state(ide, "ide_orders") == "false", timeout=15,
                   what="the consumer to wait again once its run consumed the events")
    async with ide.plane.store.connect() as conn:
        (consumer,) = (await runs.list_runs(conn, dag_id="ide_report")).items
    assert consumer.run_type == "asset_triggered"

    # the run view lists the events that started it, with their source runs
    await ide.user.open(f"/dags/ide_report?run_id={quote(consumer.run_id)}")
    card = await ide.element("run-triggers")
    shown = texts(card)
    assert consumer.run_id in shown
    assert "ide_orders" in shown and "ide_customers" in shown
    assert f"ide_produce_orders/{produced.run_id}" in shown
    assert '{"rows": 42}' in shown
    assert len(ide.elements("run-trigger-event")) == 2

    # the producer's page says what it produces
    await ide.user.open("/dags/ide_produce_orders")
    produces = await ide.element("dag-produces")
    assert "load_orders →" in texts(produces) and "ide_orders" in texts(produces)

    # the Assets page: last event and who produces and consumes each asset
    await ide.user.open("/assets")
    await ide.element("asset-list")
    last = next(e for e in ide.elements("asset-last-event")
                if e.props.get("data-asset") == "ide_orders")
    assert f"ide_produce_orders/{produced.run_id}" in texts(last)
    await ide.see("ide_produce_orders.load_orders")
    never = next(e for e in ide.elements("asset-last-event")
                 if e.props.get("data-asset") == "ide_refunds")
    assert "never updated" in texts(never)

    # an asset's page: its event, the source run, the extra and the consumer run it started
    await ide.user.open(f"/assets/{ids['ide_orders']}")
    assert (await ide.element("asset-name")).text == "ide_orders"
    events = await ide.element("asset-events")
    listed = texts(events)
    assert f"ide_produce_orders/{produced.run_id}" in listed
    assert '{"rows": 42}' in listed and "task load_orders" in listed
    started = [e.props.get("data-run") for e in ide.elements("event-run")]
    assert started == [consumer.run_id]
    source = next(e for e in ide.elements("event-source"))
    assert source.props.get("href") == (
        f"/dags/ide_produce_orders?run_id={quote(produced.run_id, safe='')}")


async def test_materialize_runs_the_asset_dag_and_refuses_without_one_producer(
        ide: Ide) -> None:
    ids = await setup_project(ide)
    await ide.login()
    await ide.user.open(f"/assets/{ids['ide_prices']}")
    assert "runs ide_prices" in (await ide.element("materialize-hint")).text
    (await ide.find("asset-materialize")).click()
    await ide.see("Materializing ide_prices: ide_prices run ")
    async with ide.plane.store.connect() as conn:
        (run,) = (await runs.list_runs(conn, dag_id="ide_prices")).items
    assert run.run_type == "asset_materialization"
    await ide.see(run.run_id)
    assert await wait_run(ide, "ide_prices") == "success"
    # its success is an event of the asset, listed by push with the run as its source
    await wait_for(lambda: ide.elements("asset-event"), timeout=15,
                   what="the materialized event on the asset's page")
    assert f"ide_prices/{run.run_id}" in texts(ide.elements("asset-events")[0])

    # no DAG produces ide_refunds: Materialize says so, and nothing runs
    await ide.user.open(f"/assets/{ids['ide_refunds']}")
    assert "No DAG produces this asset" in (await ide.element("materialize-hint")).text
    (await ide.find("asset-materialize")).click()
    await ide.see("Cannot materialize ide_refunds: No DAG produces this asset")


async def test_another_tenant_sees_none_of_it(ide: Ide) -> None:
    ids = await setup_project(ide)
    async with ide.plane.store.connect() as conn:
        assert await asset_views.asset_list(conn, tenant="other") == []
        assert await asset_views.asset_page(conn, tenant="other",
                                            asset_id=ids["ide_orders"]) is None
        assert await asset_views.dag_assets(conn, tenant="other", dag_id="ide_report") is None
        mine = await asset_views.dag_assets(conn, tenant="default", dag_id="ide_report")
    assert mine is not None and mine.expression == "ide_orders & (ide_customers | ide_refunds)"
    assert [t.task_id for t in mine.tasks] == ["build_report"]
    assert [i.label for i in mine.tasks[0].inlets] == ["ide_orders"]


@pytest.mark.parametrize("condition, text", [
    ({"asset": {"name": "a"}}, "a"),
    ({"all": [{"asset": {"name": "a"}}, {"asset": {"name": "b"}}]}, "a & b"),
    ({"all": [{"asset": {"name": "a"}}, {"any": [{"asset": {"name": "b"}},
                                                 {"asset": {"name": "c"}}]}]},
     "a & (b | c)"),
    ({"any": [{"all": [{"asset": {"name": "a"}}, {"asset": {"name": "b"}}]},
              {"alias": {"name": "x"}}]}, "(a & b) | alias(x)"),
    ({"all": [{"any": [{"asset_ref": {"name": "r"}}]}, {"asset_ref": {"uri": "s3://u"}}]},
     "ref(r) & ref(uri=s3://u)"),
    ({"all": []}, "nothing"),
    ({"asset": {"uri": "s3://only/uri"}}, "s3://only/uri"),
])
def test_a_condition_reads_as_airflow_writes_it(condition: dict[str, Any], text: str) -> None:
    assert asset_views.condition_text(condition) == text


async def test_another_tenant_sees_no_asset_page(ide: Ide) -> None:
    """A user of tenant acme sees none of the default tenant's assets (list, asset page,
    the DAG page and its section)."""
    from tests.integration.ide.test_tenants_and_permissions import add_user, log_in_as

    ids = await setup_project(ide)
    password = await add_user(ide, "vera", "Viewer", "acme")
    await log_in_as(ide, "vera", password)
    await ide.user.open("/assets")
    await ide.element("assets-empty")
    await ide.user.open(f"/assets/{ids['ide_orders']}")
    await ide.element("no-asset")
    assert not ide.elements("asset-events") and not ide.elements("asset-materialize")
    await ide.user.open("/dags/ide_report")
    await ide.element("no-dag")
    assert not ide.elements("dag-assets") and not ide.elements("dag-consumes")


async def test_materialize_asks_for_the_users_role_at_the_click(ide: Ide) -> None:
    """A page opened by an Op who is then demoted to Viewer cannot materialize; reopened,
    its button is disabled."""
    from tests.integration.ide.test_tenants_and_permissions import ADMIN, add_user, log_in_as

    ids = await setup_project(ide)
    password = await add_user(ide, "otto", "Op", "default")
    await log_in_as(ide, "otto", password)
    await ide.user.open(f"/assets/{ids['ide_prices']}")
    button = await ide.element("asset-materialize")
    assert button.enabled
    await ide.services.auth.users.update_user(ADMIN, "otto", role="Viewer")
    (await ide.find("asset-materialize")).click()
    await ide.see("Cannot materialize ide_prices: otto has the role Viewer")
    async with ide.plane.store.connect() as conn:
        assert not (await runs.list_runs(conn, dag_id="ide_prices")).items
    await ide.user.open(f"/assets/{ids['ide_prices']}")
    assert not (await ide.element("asset-materialize")).enabled


async def test_pages_opened_before_their_user_was_moved_or_deleted_show_nothing_more(
        ide: Ide) -> None:
    """Every refresh asks for the user as it is now (issue 15, item 9): a DAG page's asset
    section, the Assets page and an asset's page, open while their user is moved to another
    tenant or deleted, show nothing of the tenant's assets at their next refresh (a real run
    of a producer), and the open asset page cannot materialize."""
    from tests.integration.ide.test_tenants_and_permissions import ADMIN, add_user, log_in_as

    ids = await setup_project(ide)
    users = ide.services.auth.users

    async def produced(dag_id: str, count: int) -> None:  # a real event: the pages refresh
        await ide.plane.operations.trigger_run(dag_id, triggered_by="test")
        assert await wait_run(ide, dag_id, count) == "success"

    # a DAG page's asset section, open while its user is moved to another tenant
    password = await add_user(ide, "otto", "Op", "default")
    await log_in_as(ide, "otto", password)
    await ide.user.open("/dags/ide_report")
    await ide.element("dag-consumes")
    await users.update_user(ADMIN, "otto", tenant="acme")
    await produced("ide_produce_orders", 1)
    await wait_for(lambda: not ide.elements("dag-assets"), timeout=15,
                   what="the asset section to show nothing of another tenant's DAG")
    assert not ide.elements("dag-consumes") and not ide.elements("asset-leaf")

    # the Assets page, open while its user is deleted
    await users.update_user(ADMIN, "otto", tenant="default")
    await ide.user.open("/assets")
    await ide.element("asset-list")
    await users.delete_user(ADMIN, "otto")
    await produced("ide_produce_customers", 1)
    await ide.element("assets-empty", timeout=15)
    assert not ide.elements("asset-list") and not ide.elements("asset-link")

    # an asset's page, open while its user is deleted: no data at the refresh, no materialize
    password = await add_user(ide, "olga", "Op", "default")
    await log_in_as(ide, "olga", password)
    await ide.user.open(f"/assets/{ids['ide_orders']}")
    await ide.element("asset-uri")
    assert (await ide.element("asset-materialize")).enabled
    await users.delete_user(ADMIN, "olga")
    await produced("ide_produce_orders", 2)
    await wait_for(lambda: not ide.elements("asset-uri"), timeout=15,
                   what="the asset page to show nothing once its user is gone")
    assert not ide.elements("asset-events") and not ide.elements("event-source")
    (await ide.find("asset-materialize")).click()
    # the page no longer knows the asset's name: it says its id
    await ide.see(f"Cannot materialize {ids['ide_orders']}: your session has ended")
    async with ide.plane.store.connect() as conn:
        made = (await runs.list_runs(conn, dag_id="ide_produce_orders")).items
    assert [r.run_type for r in made if r.run_type == "asset_materialization"] == []
