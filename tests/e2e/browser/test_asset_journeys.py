"""Assets in Leoflow Lite's IDE, in Chromium, against ``leoflow lite`` (its own Lite: this
module's ``lite`` fixture): a consumer waits for its assets, a producer's run makes one seen,
the second starts the consumer's run, the asset's page lists the event with its source run
and the run it started, and Materialize runs an @asset DAG. The journey fails when the
server logged an error or a traceback meanwhile.

The documentation's asset pictures (docs/screenshots/ide-assets*.png, 1280 px wide) come
from here with ``LEOFLOW_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.browser.conftest import LiteServer, log_in, screenshot

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1] / "projects" / "ide_assets"
DOC_VIEWPORT = {"width": 1280, "height": 800}
PROBLEMS = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|\bCRITICAL\b")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """The documentation's width (1280 px)."""
    context = browser.new_context(viewport=DOC_VIEWPORT)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


def trigger(page: Page, lite: LiteServer, dag_id: str) -> None:
    page.goto(lite.url + f"/dags/{dag_id}")
    page.locator("[data-testid=dag-trigger]").click()
    page.locator("[data-testid=trigger-submit]").click()
    expect(page.locator("[data-testid=trigger-submit]")).to_have_count(0)
    expect(page.locator("[data-testid=dag-grid] th [data-state=success]")).to_have_count(
        1, timeout=60_000)


def leaf(page: Page, name: str) -> Locator:
    return page.locator(f"[data-testid=asset-leaf][data-asset={name}]")


def test_wait_see_run_and_materialize_assets(page: Page, lite: LiteServer) -> None:
    log_start = len(lite.log())
    shutil.copytree(PROJECT, lite.workspace / "ide_assets")
    log_in(page, lite, path="/dags")
    expect(page.locator("[data-testid=dag-link-ide_report]")).to_be_visible(timeout=90_000)

    # the consumer waits for every asset of its condition
    page.goto(lite.url + "/dags/ide_report")
    expect(page.locator("[data-testid=dag-consumes]")).to_have_text(
        "ide_orders & (ide_customers | ide_refunds)")
    for name in ("ide_orders", "ide_customers", "ide_refunds"):
        expect(leaf(page, name)).to_have_attribute("data-seen", "false")
        expect(leaf(page, name)).to_contain_text("waiting")

    # the orders producer runs: its page says what it produces; the consumer sees orders
    trigger(page, lite, "ide_produce_orders")
    expect(page.locator("[data-testid=dag-produces]")).to_contain_text("load_orders →")
    page.goto(lite.url + "/dags/ide_report")
    expect(leaf(page, "ide_orders")).to_have_attribute("data-seen", "true")
    expect(leaf(page, "ide_orders").locator("[data-testid=event-source]")).to_contain_text(
        "ide_produce_orders/manual__")
    expect(leaf(page, "ide_customers")).to_contain_text("waiting")
    expect(page.locator("[data-testid=grid-empty]")).to_be_visible()
    screenshot(page, lite, "ide-assets-consumer")

    # the customers producer completes the condition: the consumer's run appears by push
    page.goto(lite.url + "/dags")
    page.locator("[data-testid=trigger-ide_produce_customers]").click()
    page.locator("[data-testid=trigger-submit]").click()
    page.goto(lite.url + "/dags/ide_report")
    expect(page.locator("[data-testid=dag-grid] th [data-state=success]")).to_have_count(
        1, timeout=60_000)
    triggers = page.locator("[data-testid=run-triggers]")
    expect(triggers).to_contain_text("asset_triggered__")
    expect(page.locator("[data-testid=run-trigger-event]")).to_have_count(2)
    expect(triggers).to_contain_text('{"rows": 42}')
    expect(leaf(page, "ide_orders")).to_have_attribute("data-seen", "false")

    # the Assets page, then the asset's page: the event, its source run, the consumer run
    page.locator("header").get_by_role("button", name="Assets").click()
    expect(page.locator("[data-testid=asset-list]")).to_be_visible()
    expect(page.locator("[data-testid=asset-last-event][data-asset=ide_orders]")).to_contain_text(
        "ide_produce_orders/manual__")
    screenshot(page, lite, "ide-assets")
    page.locator("[data-testid=asset-link][data-asset=ide_orders]").click()
    expect(page.locator("[data-testid=asset-name]")).to_have_text("ide_orders")
    events = page.locator("[data-testid=asset-events]")
    expect(events.locator("[data-testid=event-source]")).to_contain_text(
        re.compile(r"ide_produce_orders/manual__"))
    expect(events).to_contain_text('{"rows": 42}')
    consumer_run = events.locator("[data-testid=event-run][data-dag=ide_report]")
    expect(consumer_run).to_have_count(1)
    screenshot(page, lite, "ide-assets-asset")
    consumer_run.click()
    expect(page.locator("[data-testid=dag-id]")).to_have_text("ide_report")
    expect(page.locator("[data-testid=run-triggers]")).to_be_visible()

    # Materialize an @asset: the notification names the run, whose event then lists here
    page.goto(lite.url + "/assets")
    page.locator("[data-testid=asset-link][data-asset=ide_prices]").click()
    expect(page.locator("[data-testid=materialize-hint]")).to_have_text("runs ide_prices")
    page.locator("[data-testid=asset-materialize]").click()
    expect(page.locator(".q-notification")).to_contain_text(
        re.compile(r"Materializing ide_prices: ide_prices run \S+"))
    source = page.locator("[data-testid=asset-events] [data-testid=event-source]")
    expect(source).to_contain_text("ide_prices/", timeout=60_000)

    # an asset no DAG produces is refused, clearly
    page.goto(lite.url + "/assets")
    page.locator("[data-testid=asset-link][data-asset=ide_refunds]").click()
    page.locator("[data-testid=asset-materialize]").click()
    expect(page.locator(".q-notification").last).to_contain_text(
        "Cannot materialize ide_refunds: No DAG produces this asset")

    logged = lite.log()[log_start:]
    assert not PROBLEMS.search(logged), "the server logged a problem:\n" + logged[-8000:]
