"""A tour of every page of the IDE and its dialogs: the pictures of docs/ide.md.

Shared by the run views' journeys (tests/e2e/browser/test_run_views.py), which take it
after their own steps on the same Lite, and by whoever works on how the pages look:
``LEOFLOW_UPDATE_SCREENSHOTS=1 pytest tests/e2e/browser/test_run_views.py -k every_page``
writes ``docs/screenshots/<page>-light.png`` and ``<page>-dark.png`` at 1280 px (viewport
pictures, not full pages, so they stay small). Each stop asserts what the page must show
before its picture is taken, and that no secret reached the page.

Without that variable the tour runs in dark mode only and takes no picture: the journeys
have already seen every page in light mode, and CI's time is counted.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Error, Page, expect

from tests.e2e.browser.conftest import LiteServer, log_in, screenshot
from tests.e2e.browser.run_data import Api

WIDTH, HEIGHT = 1280, 800
TIMEOUT = 30_000  # ms: a page of a Lite whose machine builds environments meanwhile
ASSETS = Path(__file__).resolve().parents[1] / "projects" / "ide_assets"
SECRET = "never-shown"  # the value of the tour's secrets: it must appear on no page
# The DAGs whose runs the pictures show (the journeys read the first three too).
DAGS = ("taskflow_etl", "dynamic_mapping", "bash_pipeline", "fan_out_aggregate",
        "ide_produce_orders")
Step = Callable[[Page], None]


def updating() -> bool:
    return os.environ.get("LEOFLOW_UPDATE_SCREENSHOTS") == "1"


def tab(name: str) -> Step:
    return lambda page: page.get_by_role("tab", name=name).click()


def click(selector: str) -> Step:
    return lambda page: page.locator(selector).first.click()


def see(selector: str) -> Step:
    return lambda page: expect(page.locator(selector).first).to_be_visible(timeout=TIMEOUT)


def add_asset_project(lite: LiteServer) -> None:
    """The asset project beside the examples (a producer, consumers, an asset page)."""
    shutil.copytree(ASSETS, lite.workspace / "ide_assets", dirs_exist_ok=True)


def add_resources(api: Api) -> None:
    """A variable, a secret variable and a connection for the admin pages' pictures."""
    api.client.post("/api/v2/variables", json={
        "key": "reports_bucket", "value": "s3://reports/daily",
        "description": "where the daily reports go"}).raise_for_status()
    api.client.post("/api/v2/variables", json={"key": "api_token", "value": SECRET}
                    ).raise_for_status()
    api.client.post("/api/v2/connections", json={
        "connection_id": "analytics_db", "conn_type": "postgres", "host": "db.internal",
        "port": 5432, "login": "etl", "password": SECRET, "schema": "analytics",
        "description": "the reporting database"}).raise_for_status()


def stops(runs: dict[str, str]) -> list[tuple[str, str, list[Step]]]:
    """(picture, address, what to do and see before taking it): every page, the dialogs."""
    def run(dag_id: str) -> str:
        return f"/dags/{dag_id}/runs/{quote(runs[dag_id], safe='')}"

    bash_run = run("bash_pipeline")
    rendered = "tr:has-text('report') [data-testid=rendered-button]"
    return [
        ("dags", "/dags", [see("[data-testid=dag-link-hello]")]),
        ("dag-grid", "/dags/taskflow_etl", [see("[data-testid=grid-run-bar]")]),
        ("dag-grid-mapped", "/dags/dynamic_mapping",
         [click("[data-testid=grid-mapped][data-task=thumbnail]"),
          see('tr[data-row="thumbnail[5]"]')]),
        ("dag-graph", "/dags/fan_out_aggregate",
         [tab("Graph"), see("[data-testid=dag-graph] svg"),
          click("[data-testid=graph-group][data-group=apac]"),
          see("[data-testid=dag-graph] svg >> text=apac (2)")]),
        ("dag-code", "/dags/taskflow_etl", [tab("Code"), see("[data-testid=version-code]")]),
        ("dag-runs", "/dags/taskflow_etl", [tab("Runs"), see("[data-testid=run-history]")]),
        ("task-instance", f"/dags/bash_pipeline?run_id={quote(runs['bash_pipeline'])}"
                          "&task_id=report", [see("[data-testid=task-panel]")]),
        ("trigger-dialog", "/dags/trigger_rules",
         [click("[data-testid=dag-trigger]"), see("[data-testid=trigger-submit]")]),
        ("push-dialog", "/dags/hello", [click("[data-testid=dag-push]"),
                                        see("[data-testid=push-token]")]),
        ("editor", "/editor?file=examples/bash_pipeline/dag.py",
         [see("[data-testid=dag-graph] svg")]),
        ("assets", "/assets", [see("text=ide_orders")]),
        ("runs", "/runs", [see("[data-testid=runs-link]")]),
        ("run-gantt", run("taskflow_etl"), [see("[data-testid=gantt-bar]")]),
        ("run-task-instances", bash_run, [tab("Task instances"),
                                          see("[data-testid=rendered-button]")]),
        ("run-rendered", bash_run, [tab("Task instances"), click(rendered),
                                    see("[data-testid=rendered-command]")]),
        ("run-note-conf", run("taskflow_etl"), [tab("Note & conf"),
                                                see("[data-testid=run-conf]")]),
        ("run-confirm", bash_run, [click("[data-testid=run-clear]"),
                                   see("[data-testid=run-confirm-ok]")]),
        ("variables", "/admin/variables", [see("text=reports_bucket")]),
        ("variable-form", "/admin/variables", [click("[data-testid=variables-add]"),
                                               see("[data-testid=variable-form]")]),
        ("connections", "/admin/connections", [see("text=analytics_db")]),
        ("connection-form", "/admin/connections",
         [click("tr:has-text('analytics_db') [data-testid=connections-edit]"),
          see("[data-testid=connection-form]")]),
        ("pools", "/admin/pools", [see("text=default_pool")]),
        ("audit", "/audit", [see("[data-testid=audit-table]")]),
        ("shortcuts", "/dags", [click("[data-testid=shortcuts-button]"),
                                see("[data-testid=shortcuts-dialog]")]),
    ]


def visit(page: Page, lite: LiteServer, path: str, steps: list[Step]) -> None:
    """Open ``path`` and do its steps, once more if the page reloaded itself meanwhile.

    NiceGUI reloads a page whose websocket came too late for the server's client (a
    machine under load); the stop then starts again on the fresh page, once."""
    for attempt in (1, 2):
        try:
            page.goto(lite.url + path)
            for step in steps:
                step(page)
            return
        except Error as error:
            if attempt == 2 or "context was destroyed" not in str(error):
                # what the page showed instead, beside the Lite's log
                page.screenshot(path=str(lite.home.parent / "tour-failed.png"))
                raise


def set_dark(page: Page, lite: LiteServer) -> None:
    page.goto(lite.url + "/dags")  # no dialog left open over the header
    page.locator(".q-header .q-toggle").click()
    expect(page.locator("body.body--dark")).to_have_count(1, timeout=TIMEOUT)


def take(page: Page, lite: LiteServer, runs: dict[str, str]) -> list[str]:
    """The tour: the names of the pictures taken (or, not updating, of the pages seen)."""
    themes = ("light", "dark") if updating() else ("dark",)
    seen: list[str] = []
    page.goto(lite.url + "/login")
    expect(page.locator("[data-testid=login-submit]")).to_be_visible()
    if updating():
        screenshot(page, lite, "login-light")
    log_in(page, lite, path="/dags")
    page.wait_for_url(re.compile(r".*/dags$"), timeout=60_000)
    see("[data-testid=dag-link-hello]")(page)
    for theme in themes:
        if theme == "dark":
            set_dark(page, lite)
        for name, path, steps in stops(runs):
            visit(page, lite, path, steps)
            if SECRET in page.content():
                raise AssertionError(f"a secret reached the page {name} ({theme})")
            if updating():
                screenshot(page, lite, f"{name}-{theme}")
            seen.append(f"{name}-{theme}")
    if updating():
        page.goto(lite.url + "/dags")
        page.locator("[data-testid=user-menu]").click()  # not the Admin menu beside it
        page.locator("[data-testid=logout]").click()
        see("[data-testid=login-submit]")(page)
        expect(page.locator("body.body--dark")).to_have_count(1, timeout=TIMEOUT)
        screenshot(page, lite, "login-dark")
    return seen
