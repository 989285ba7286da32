"""The run views in Debian's Chromium against a real ``leoflow lite`` (its scheduler and
agents run every run here): the grid (run headers, groups, mapped instances), the graph
(groups, legend), a run's page (actions with confirmations, note, conf, Gantt, what each
try ran), the list of all runs with filters, the admin pages (variables, connections with
their secrets kept out of the browser, pools), the audit log, the shortcuts, and what a
Viewer and another tenant's user may see and do there. Last, the tour of every page
(tests/e2e/browser/tour.py) on the same Lite: in dark mode, or with
``LEOFLOW_UPDATE_SCREENSHOTS=1`` in both modes with the documentation's pictures.

The conftest's autouse fixture fails any journey during which the server logged an
exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.browser import tour
from tests.e2e.browser.conftest import LiteServer, log_in
from tests.e2e.browser.run_data import Api

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(lite: LiteServer) -> Iterator[Api]:
    client = Api(lite.url, lite.password)
    yield client
    client.close()


@pytest.fixture(scope="module")
def runs(lite: LiteServer, api: Api) -> dict[str, str]:
    """One finished run of each DAG the journeys and the tour read (triggered together,
    then awaited), and the tour's variables and connection."""
    tour.add_asset_project(lite)
    made = {dag_id: api.trigger(dag_id, conf={"source": "journey"}) for dag_id in tour.DAGS}
    for dag_id, run_id in made.items():
        assert api.wait_run(dag_id, run_id) == "success", dag_id
    tour.add_resources(api)
    return made


def run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def confirm(page: Page) -> None:
    page.locator("[data-testid=run-confirm-ok]").click()
    expect(page.locator("[data-testid=run-confirm-ok]")).to_have_count(0)


def test_grid_has_run_headers_groups_and_mapped_instances(
        page: Page, lite: LiteServer, runs: dict[str, str]) -> None:
    log_in(page, lite, path="/dags/taskflow_etl")
    grid = page.locator("[data-testid=dag-grid]")
    run_id = runs["taskflow_etl"]
    expect(grid.locator(f'[data-testid=grid-run-bar][data-run="{run_id}"]')).to_have_attribute(
        "data-state", "success")
    expect(grid.locator(".leoflow-run-date").first).to_have_text(re.compile(r"\d\d-\d\d \d\d:\d\d"))
    # rows in dependency order: extract, the transform group and its tasks, load
    rows = grid.locator("tr[data-row]")
    expect(rows).to_have_count(5)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.row)") == [
        "extract", "transform", "transform.drop_invalid", "transform.total_by_region", "load"]
    # the group collapses into one row whose cell is its members' state
    grid.locator("[data-testid=grid-group][data-group=transform]").click()
    expect(rows).to_have_count(3)
    expect(grid.locator(f'[data-group=transform][data-run="{run_id}"]')).to_have_attribute(
        "data-state", "success")
    page.locator("[data-testid=grid-expand-all]").click()
    expect(rows).to_have_count(5)

    # a mapped task expands into one row per map index, each a cell per run
    page.goto(lite.url + "/dags/dynamic_mapping")
    mapped = page.locator("[data-testid=grid-mapped][data-task=thumbnail]")
    mapped.click()
    expect(page.locator('tr[data-row^="thumbnail["]')).to_have_count(6)
    run_id = runs["dynamic_mapping"]
    cell = page.locator(f'[data-task=thumbnail][data-map-index="5"][data-run="{run_id}"]')
    expect(cell).to_have_attribute("data-state", "success")
    cell.click()
    expect(page.locator("[data-testid=task-panel]")).to_be_visible()


def test_graph_colours_collapses_groups_and_has_a_legend(
        page: Page, lite: LiteServer, runs: dict[str, str]) -> None:
    log_in(page, lite, path="/dags/taskflow_etl")
    page.get_by_role("tab", name="Graph").click()
    expect(page.locator("[data-testid=graph-run]")).to_contain_text(runs["taskflow_etl"])
    svg = page.locator("[data-testid=dag-graph] svg")
    expect(svg.locator(".st_success")).to_have_count(4)
    expect(svg.get_by_text("drop_invalid")).to_be_visible()
    legend = page.locator("[data-testid=graph-legend]")
    for state in ("success", "failed", "running", "no status"):
        expect(legend).to_contain_text(state)
    page.locator("[data-testid=graph-group][data-group=transform]").click()
    expect(svg.get_by_text("transform (2)")).to_be_visible()
    expect(svg.get_by_text("drop_invalid")).to_have_count(0)
    svg.get_by_text("transform (2)").click()  # a collapsed group opens on a click
    expect(svg.get_by_text("drop_invalid")).to_be_visible()


def test_run_page_conf_note_gantt_and_what_a_try_ran(
        page: Page, lite: LiteServer, runs: dict[str, str]) -> None:
    log_in(page, lite, path="/dags/taskflow_etl")
    page.locator("[data-testid=grid-open-run]").click()
    expect(page.locator("[data-testid=run-state]")).to_have_text("success")
    expect(page.locator("[data-testid=gantt-row]")).to_have_count(4)
    expect(page.locator("[data-testid=gantt-bar][data-state=success]")).to_have_count(4)
    page.get_by_role("tab", name="Note & conf").click()
    expect(page.locator("[data-testid=run-conf]")).to_contain_text('"source": "journey"')
    page.locator("[data-testid=run-note]").fill("checked by the journey")
    page.locator("[data-testid=run-note-save]").click()
    expect(page.locator("[data-testid=run-action-result]")).to_have_text("Note saved")
    page.goto(lite.url + "/runs?dag_id=taskflow_etl")
    expect(page.locator("[data-testid=runs-table]")).to_contain_text("checked by the journey")

    # what a bash try ran: the command with {{ ds }} rendered, beside the template
    page.goto(lite.url + run_path("bash_pipeline", runs["bash_pipeline"]))
    page.get_by_role("tab", name="Task instances").click()
    page.locator("tr", has_text="report").locator("[data-testid=rendered-button]").click()
    dialog = page.locator("[data-testid=rendered-dialog]")
    command = dialog.locator("[data-testid=rendered-command]")
    expect(command).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d: counted 42 lines"))
    expect(dialog.locator("[data-testid=rendered-template]").first).to_contain_text("{{ ds }}")


def test_run_actions_are_confirmed_and_say_what_they_did(
        page: Page, lite: LiteServer, api: Api) -> None:
    run_id = api.trigger("hello")
    assert api.wait_run("hello", run_id) == "success"
    log_in(page, lite, path=run_path("hello", run_id))
    state = page.locator("[data-testid=run-state]")
    result = page.locator("[data-testid=run-action-result]")
    # cancelling changes nothing
    page.locator("[data-testid=run-mark-failed]").click()
    page.locator("[data-testid=run-confirm-cancel]").click()
    expect(state).to_have_text("success")
    expect(result).to_be_hidden()
    page.locator("[data-testid=run-mark-failed]").click()
    confirm(page)
    expect(result).to_have_text("Run marked failed")
    expect(state).to_have_text("failed")
    assert api.run_state("hello", run_id) == "failed"
    # clear: the real scheduler runs it again, and the page follows by push
    page.locator("[data-testid=run-clear]").click()
    confirm(page)
    expect(result).to_contain_text("Cleared")
    expect(state).to_have_text("success", timeout=60_000)
    expect(page.locator("[data-testid=gantt-bar]").first).to_be_visible()
    page.locator("[data-testid=run-delete]").click()
    confirm(page)
    page.wait_for_url(re.compile(r".*/runs\?dag_id=hello.*"))
    expect(page.locator("[data-testid=run-action-result]")).to_contain_text(
        f"Run {run_id} deleted")
    expect(page.locator("[data-testid=runs-table]")).not_to_contain_text(run_id)
    assert api.client.get(f"/api/v2/dags/hello/dagRuns/{quote(run_id, safe='')}"
                          ).status_code == 404
    page.goto(lite.url + "/audit")
    page.locator("[data-testid=audit-filter-dag_id]").fill("hello")
    table = page.locator("[data-testid=audit-table]")
    for event in ("mark_run_failed", "clear", "delete_run"):
        expect(table).to_contain_text(event)


def test_runs_list_filters(page: Page, lite: LiteServer, runs: dict[str, str]) -> None:
    log_in(page, lite, path="/runs?dag_id=dynamic_mapping&state=success&run_type=manual")
    table = page.locator("[data-testid=runs-table]")
    expect(table).to_contain_text(runs["dynamic_mapping"])
    expect(table).not_to_contain_text("taskflow_etl")
    page.goto(lite.url + "/runs?state=failed&dag_id=dynamic_mapping")
    expect(page.locator("[data-testid=runs-count]")).to_have_text("0-0 of 0 runs")
    page.goto(lite.url + "/runs?dag_id=taskflow_etl")
    page.locator("[data-testid=runs-filter-after]").fill("2999-01-01")
    expect(page.locator("[data-testid=runs-count]")).to_have_text("0-0 of 0 runs")
    page.locator("[data-testid=runs-filter-after]").fill("yesterday")
    expect(page.locator("[data-testid=runs-filter-error]")).to_contain_text("YYYY-MM-DD")
    page.locator("[data-testid=runs-filter-after]").fill("2000-01-01")
    expect(table.locator("[data-testid=runs-link]").first).to_be_visible()
    table.locator("[data-testid=runs-link]").first.click()
    expect(page.locator("[data-testid=run-summary]")).to_be_visible()


def admin_form(page: Page, form: str, **values: str) -> None:
    for name, value in values.items():
        page.locator(f"[data-testid={form}] [data-field={name}]").fill(value)
    page.locator(f"[data-testid={form}-save]").click()


def field(page: Page, form: str, name: str) -> Locator:
    """A form field with its message (the data-field attribute is on its native input)."""
    return page.locator(f"[data-testid={form}] .q-field:has([data-field={name}])")


def test_admin_pages_create_edit_delete_with_field_errors(
        page: Page, lite: LiteServer, api: Api) -> None:
    log_in(page, lite, path="/admin/variables")
    page.locator("[data-testid=variables-add]").click()
    admin_form(page, "variable-form", key="", value="x")
    expect(field(page, "variable-form", "key")).to_contain_text(
        "Key is required")
    admin_form(page, "variable-form", key="region", value="emea")
    expect(page.locator("[data-testid=variables-result]")).to_have_text("Variable region added")
    page.locator("[data-testid=variables-add]").click()
    admin_form(page, "variable-form", key="region", value="apac")
    expect(field(page, "variable-form", "key")).to_contain_text(
        "already exists")
    page.locator("[data-testid=variable-form-cancel]").click()
    page.locator("tr", has_text="region").locator("[data-testid=variables-edit]").click()
    admin_form(page, "variable-form", value="americas")
    expect(page.locator("[data-testid=variables-table]")).to_contain_text("americas")
    assert api.client.get("/api/v2/variables/region").json()["value"] == "americas"
    page.locator("tr", has_text="region").locator("[data-testid=variables-delete]").click()
    page.locator("[data-testid=variables-confirm-ok]").click()
    expect(page.locator("[data-testid=variables-result]")).to_have_text("Variable region deleted")

    # a connection's password never reaches the browser, and editing keeps it
    page.goto(lite.url + "/admin/connections")
    page.locator("[data-testid=connections-add]").click()
    admin_form(page, "connection-form", connection_id="warehouse", conn_type="postgres",
               host="db.internal", password="s3cret-Passw0rd", port="99999")
    expect(field(page, "connection-form", "port")).to_contain_text(
        "between 1 and 65535")
    admin_form(page, "connection-form", port="5432")
    expect(page.locator("[data-testid=connections-result]")).to_have_text(
        "Connection warehouse added")
    table = page.locator("[data-testid=connections-table]")
    expect(table).to_contain_text("db.internal")
    expect(table).to_contain_text("***")
    page.locator("tr", has_text="warehouse").locator("[data-testid=connections-edit]").click()
    admin_form(page, "connection-form", host="db2.internal")
    expect(table).to_contain_text("db2.internal")
    assert "s3cret-Passw0rd" not in page.content()
    stored = api.client.get("/api/v2/connections/warehouse").json()
    assert stored["host"] == "db2.internal" and stored["password"] == "***"

    # pools: the default pool cannot be deleted; a new one is made, resized, deleted
    page.goto(lite.url + "/admin/pools")
    page.locator("tr", has_text="default_pool").locator("[data-testid=pools-delete]").click()
    page.locator("[data-testid=pools-confirm-ok]").click()
    expect(page.locator("[data-testid=pools-result]")).to_contain_text("can't be deleted")
    page.locator("[data-testid=pools-add]").click()
    admin_form(page, "pool-form", name="gpu", slots="-5")
    expect(field(page, "pool-form", "slots")).to_contain_text(
        "0 or more")
    admin_form(page, "pool-form", slots="2")
    expect(page.locator("[data-testid=pools-result]")).to_have_text("Pool gpu added with 2 slots")
    page.locator("tr", has_text="gpu").locator("[data-testid=pools-edit]").click()
    admin_form(page, "pool-form", slots="4")
    expect(page.locator("[data-testid=pools-result]")).to_have_text("Pool gpu saved: 4 slots")
    assert api.client.get("/api/v2/pools/gpu").json()["slots"] == 4
    page.locator("tr", has_text="gpu").locator("[data-testid=pools-delete]").click()
    page.locator("[data-testid=pools-confirm-ok]").click()
    expect(page.locator("[data-testid=pools-result]")).to_have_text("Pool gpu deleted")

    page.goto(lite.url + "/audit")
    table = page.locator("[data-testid=audit-table]")
    for event in ("post_variable", "patch_connection", "delete_pool"):
        expect(table).to_contain_text(event)
    page.locator("[data-testid=audit-filter-event]").fill("post_pool")
    expect(page.locator("[data-testid=audit-count]")).to_have_text("1-1 of 1 events")


def test_a_viewer_reads_and_another_tenant_sees_nothing(
        page: Page, lite: LiteServer, api: Api, runs: dict[str, str]) -> None:
    api.client.post("/api/v2/variables", json={"key": "owned_by_default", "value": "x"}
                    ).raise_for_status()
    for username, role, tenant in (("vic", "Viewer", "default"), ("otto", "Op", "acme")):
        api.client.post("/api/leoflow/users", json={
            "username": username, "password": f"{username}-password-123", "role": role,
            "tenant": tenant}).raise_for_status()
    run = run_path("taskflow_etl", runs["taskflow_etl"])

    log_in_as(page, lite, "vic", run)
    expect(page.locator("[data-testid=run-state]")).to_have_text("success")
    for action in ("clear", "mark-success", "mark-failed", "delete"):
        expect(page.locator(f"[data-testid=run-{action}]")).to_be_disabled()
    page.get_by_role("tab", name="Note & conf").click()
    expect(page.locator("[data-testid=run-note-save]")).to_be_disabled()
    page.goto(lite.url + "/admin/variables")
    expect(page.locator("[data-testid=variables-table]")).to_contain_text("owned_by_default")
    expect(page.locator("[data-testid=variables-add]")).to_be_disabled()
    expect(page.locator("[data-testid=variables-edit]").first).to_be_disabled()

    page.context.clear_cookies()
    log_in_as(page, lite, "otto", run)
    expect(page.locator("[data-testid=no-dag]")).to_be_visible()
    expect(page.locator("[data-testid=run-summary]")).to_have_count(0)
    page.goto(lite.url + "/runs")
    expect(page.locator("[data-testid=runs-count]")).to_have_text("0-0 of 0 runs")
    page.goto(lite.url + "/admin/variables")
    expect(page.locator("[data-testid=variables-empty]")).to_be_visible()
    expect(page.locator("[data-testid=variables-add]")).to_be_enabled()  # its own tenant's
    page.goto(lite.url + "/admin/pools")  # shared by every tenant: read, not changed
    expect(page.locator("[data-testid=pools-table]")).to_contain_text("default_pool")
    expect(page.locator("[data-testid=pools-add]")).to_be_disabled()
    page.goto(lite.url + "/audit")
    expect(page.locator("[data-testid=audit-table]")).not_to_contain_text("taskflow_etl")


def log_in_as(page: Page, lite: LiteServer, username: str, path: str) -> None:
    page.goto(lite.url + "/login?next=" + quote(path, safe=""))
    page.locator("[data-testid=login-username]").fill(username)
    page.locator("[data-testid=login-password]").fill(f"{username}-password-123")
    page.locator("[data-testid=login-submit]").click()
    page.wait_for_url(re.compile(re.escape(path.split("?")[0].split("/runs/")[0]) + ".*"))


def test_shortcuts_are_listed_and_work(page: Page, lite: LiteServer) -> None:
    log_in(page, lite, path="/dags")
    expect(page.locator("[data-testid=shortcuts-button]")).to_be_visible()
    page.wait_for_url(re.compile(r".*/dags$"))
    page.keyboard.press("?")
    dialog = page.locator("[data-testid=shortcuts-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Go to Runs of every DAG")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r".*/runs$"))
    page.locator("[data-testid=runs-filter-after]").press_sequentially("d")  # typing
    expect(page.locator("[data-testid=runs-filter-error]")).to_contain_text("YYYY-MM-DD")
    assert "/runs" in page.url and "/dags" not in page.url
    page.locator("[data-testid=shortcuts-button]").click()
    expect(dialog).to_be_visible()


def test_every_page_light_and_dark(browser: Browser, lite: LiteServer,
                                   runs: dict[str, str]) -> None:
    context = browser.new_context(viewport={"width": tour.WIDTH, "height": tour.HEIGHT})
    context.set_default_timeout(tour.TIMEOUT)
    try:
        seen = tour.take(context.new_page(), lite, runs)
    finally:
        context.close()
    themes = 2 if tour.updating() else 1
    assert len(seen) == themes * len(tour.stops(runs))
