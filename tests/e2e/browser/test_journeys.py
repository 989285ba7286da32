"""The journeys a person takes in Leoflow Lite's IDE, in Chromium, against ``leoflow lite``.

The tests share one Lite (starting it is most of the cost) and run in file order; each
leaves the workspace as the next one expects it (the main journey adds a task to hello).
"""

from __future__ import annotations

import re
import shutil
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import LiteServer, log_in, screenshot

pytestmark = pytest.mark.slow

WHISPER = '''
    @task
    def whisper(greeting: str) -> str:
        print("psst:", greeting.lower())
        return greeting.lower()

    whisper(make_greeting("Leoflow"))
'''


def replace_editor_text(page: Page, text: str) -> None:
    page.locator("[data-testid=code-editor] .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def test_a_stranger_is_sent_to_the_login_page(page: Page, lite: LiteServer) -> None:
    for path in ("/", "/dags", "/editor?file=examples/hello/dag.py", "/dags/hello"):
        page.goto(lite.url + path)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.get_by_text("Log in to your workspace")).to_be_visible()
    screenshot(page, lite, "login")
    log_in(page, lite, password="wrong-password")
    expect(page.locator("[data-testid=login-error]")).to_have_text("Invalid credentials")


def test_edit_save_run_read_the_log_and_xcom_then_clear(page: Page, lite: LiteServer) -> None:
    log_in(page, lite)
    expect(page.locator("[data-testid=dag-link-hello]")).to_be_visible()
    screenshot(page, lite, "dags")

    # open an example from its DAG page
    page.locator("[data-testid=dag-link-hello]").click()
    expect(page.locator("[data-testid=dag-id]")).to_have_text("hello")
    page.locator("[data-testid=dag-edit]").click()
    expect(page.locator("[data-testid=editor-path]")).to_have_text("examples/hello/dag.py")
    graph = page.locator("[data-testid=dag-graph] svg")
    expect(graph.get_by_text("shout", exact=True)).to_be_visible()
    expect(graph.get_by_text("whisper")).to_have_count(0)

    # edit and save with Ctrl+S: the unsaved marker goes, the graph gains the new task
    page.locator("[data-testid=code-editor] .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text(WHISPER)
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_visible()
    page.keyboard.press("Control+s")
    expect(graph.get_by_text("whisper")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_hidden()
    # a draft: no run yet, so the save keeps v1's number
    expect(page.locator("[data-testid=compile-status]")).to_contain_text("hello v1")
    assert "def whisper" in (lite.workspace / "examples/hello/dag.py").read_text()
    screenshot(page, lite, "editor")

    # trigger from the editor; the graph beside it turns green as the tasks succeed
    page.locator("[data-testid=editor-trigger]").click()
    page.locator("[data-testid=trigger-submit]").click()
    expect(graph.locator(".st_success")).to_have_count(4, timeout=60_000)

    # the DAG page: the grid, then the task instance's log and XCom
    page.locator("[data-testid=editor-dag-link]").click()
    cell = page.locator("[data-testid=dag-grid] [data-task=shout]").last
    expect(cell).to_have_attribute("data-state", "success")
    cell.click()
    panel = page.locator("[data-testid=task-panel]")
    expect(panel.locator("[data-testid=ti-state]")).to_have_attribute("data-state", "success")
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("HELLO, LEOFLOW!")
    expect(panel.locator("[data-testid=xcom-return_value]")).to_contain_text('"HELLO, LEOFLOW!"')
    expect(panel.locator("[data-testid=log-status]")).to_contain_text("try 1 finished")
    screenshot(page, lite, "task-instance", full_page=True)

    # clear it: it runs again, and the panel follows the new try live
    panel.locator("[data-testid=ti-clear]").click()
    page.locator("[data-testid=clear-confirm]").click()
    expect(panel.locator("[data-testid=log-status]")).to_contain_text("try 2", timeout=60_000)
    expect(panel.locator("[data-testid=ti-state]")).to_have_attribute(
        "data-state", "success", timeout=60_000)
    expect(panel.locator("[data-testid=log-status]")).to_contain_text("try 2 finished")
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("HELLO, LEOFLOW!")

    page.get_by_role("tab", name="Graph").click()
    expect(page.locator("[data-testid=dag-graph] svg").get_by_text("whisper")).to_be_visible()
    page.get_by_role("tab", name="Runs").click()
    expect(page.locator("[data-testid=run-history]")).to_contain_text("success")


def test_trigger_with_params_and_read_the_grid(page: Page, lite: LiteServer) -> None:
    log_in(page, lite, path="/dags/trigger_rules")
    for mode in ("incremental", "full"):
        page.locator("[data-testid=dag-trigger]").click()
        select = page.locator("[data-param=mode]")
        expect(select).to_be_visible()
        if mode == "full":
            select.click()
            page.get_by_role("option", name="full").click()
            screenshot(page, lite, "trigger-dialog")
        page.locator("[data-testid=trigger-submit]").click()
        expect(page.locator("[data-testid=trigger-submit]")).to_have_count(0)
    grid = page.locator("[data-testid=dag-grid]")
    expect(grid.locator("th [data-state=success]")).to_have_count(2, timeout=60_000)
    # the handled failure, the alert it raised, and each run's skipped branch
    expect(grid.locator("[data-task=call_flaky_api][data-state=failed]")).to_have_count(2)
    expect(grid.locator("[data-task=alert_on_failure][data-state=success]")).to_have_count(2)
    expect(grid.locator("[data-task=full_refresh][data-state=skipped]")).to_have_count(1)
    expect(grid.locator("[data-task=incremental_refresh][data-state=skipped]")).to_have_count(1)
    grid.locator("[data-task=call_flaky_api]").last.click()
    panel = page.locator("[data-testid=task-panel]")
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("simulated outage")
    screenshot(page, lite, "dag-grid")
    page.get_by_role("tab", name="Graph").click()
    graph = page.locator("[data-testid=dag-graph] svg")
    expect(graph.get_by_text("mode is full")).to_be_visible()
    expect(graph.locator(".st_skipped")).to_have_count(1)
    screenshot(page, lite, "dag-graph")


SENSOR_DAG = """
from datetime import datetime
from leoflow import DAG, FileSensor, task

with DAG("inbox_watch", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def load() -> str:
        return "loaded"

    FileSensor(task_id="wait_for_orders", filepath=INBOX, deferrable=True,
               poke_interval=0.5, timeout=600) >> load()
"""


def test_a_deferred_sensor_shows_what_it_waits_for(page: Page, lite: LiteServer) -> None:
    inbox = lite.workspace.parent / "inbox" / "orders.csv"
    project = lite.workspace / "inbox_watch"
    project.mkdir()
    (project / "leoflow.yaml").write_text("dag_id: inbox_watch\n")
    (project / "dag.py").write_text(SENSOR_DAG.replace("INBOX", repr(str(inbox))))
    log_in(page, lite, path="/dags")
    expect(page.locator("text=inbox_watch").first).to_be_visible(timeout=60_000)
    page.goto(lite.url + "/dags/inbox_watch")
    page.locator("[data-testid=dag-trigger]").click()
    page.locator("[data-testid=trigger-submit]").click()
    grid = page.locator("[data-testid=dag-grid]")
    cell = grid.locator("[data-task=wait_for_orders][data-state=deferred]")
    expect(cell).to_have_count(1, timeout=30_000)
    cell.click()
    panel = page.locator("[data-testid=task-panel]")
    expect(panel.locator("[data-testid=ti-trigger]")).to_contain_text(
        "Waiting for a file matching")
    expect(panel.locator("[data-testid=ti-trigger]")).to_contain_text("orders.csv")
    screenshot(page, lite, "task-deferred")
    inbox.parent.mkdir(parents=True, exist_ok=True)
    inbox.write_text("order,amount\n1,20\n")
    expect(grid.locator("[data-task=load][data-state=success]")).to_have_count(
        1, timeout=30_000)
    expect(panel.locator("[data-testid=ti-trigger]")).to_have_count(0)


def test_a_syntax_error_shows_at_its_line(page: Page, lite: LiteServer) -> None:
    path = lite.workspace / "examples/retries/dag.py"
    original = path.read_text()
    lines = original.splitlines()
    broken = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def ")) + 1
    lines[broken - 1] = "    def broken(:"
    log_in(page, lite, path="/editor?file=" + quote("examples/retries/dag.py"))
    expect(page.locator("[data-testid=editor-path]")).to_have_text("examples/retries/dag.py")
    replace_editor_text(page, "\n".join(lines) + "\n")
    page.keyboard.press("Control+s")

    badge = page.locator("[data-testid=diagnostic-line]")
    expect(badge).to_have_attribute("data-line", str(broken), timeout=30_000)
    expect(page.locator("[data-testid=diagnostic-text]")).to_contain_text(
        f"examples/retries/dag.py:{broken}")
    marked = page.locator("[data-testid=code-editor] .cm-line.leoflow-error-line")
    expect(marked).to_have_count(1)
    expect(marked).to_contain_text("def broken(:")
    expect(page.locator("[data-testid=compile-status]")).to_contain_text("does not compile")
    screenshot(page, lite, "editor-error")

    page.goto(lite.url + "/dags")
    expect(page.locator("[data-testid=import-errors]")).to_contain_text(
        "examples/retries/dag.py")
    screenshot(page, lite, "dags-import-error")

    page.goto(lite.url + "/editor?file=" + quote("examples/retries/dag.py"))
    # the file's text arrives after the page: replacing it before would be undone
    expect(page.locator("[data-testid=code-editor] .cm-content")).to_contain_text(
        "def broken(:", timeout=30_000)
    replace_editor_text(page, original)
    page.keyboard.press("Control+s")
    expect(page.locator("[data-testid=diagnostics]")).to_have_count(0, timeout=30_000)
    page.goto(lite.url + "/dags")
    expect(page.locator("[data-testid=import-errors]")).to_have_count(0)


def test_download_examples_asks_before_replacing_a_changed_file(page: Page,
                                                                 lite: LiteServer) -> None:
    examples = lite.workspace / "examples"
    shutil.rmtree(examples / "xcom_typed")
    mine = examples / "short_circuit" / "dag.py"
    changed = mine.read_text() + "# my note\n"
    mine.write_text(changed)
    log_in(page, lite)
    page.locator("[data-testid=download-examples]").click()
    expect(page.get_by_text("You changed some example files")).to_be_visible()
    expect(page.locator("[data-file='short_circuit/dag.py']")).to_be_visible()
    screenshot(page, lite, "download-examples")
    page.locator("[data-testid=examples-keep]").click()
    assert mine.read_text() == changed
    assert (examples / "xcom_typed" / "dag.py").is_file()  # the deleted example is back
    # hello was changed by the main journey: kept too
    assert "def whisper" in (examples / "hello" / "dag.py").read_text()


def test_push_dialog_and_dark_mode(page: Page, lite: LiteServer) -> None:
    log_in(page, lite, path="/dags/hello")
    page.locator("[data-testid=dag-push]").click()
    page.locator("[data-testid=push-server]").fill("http://127.0.0.1:9")
    page.locator("[data-testid=push-token]").fill("not-a-real-token")
    page.locator("[data-testid=push-submit]").click()
    expect(page.locator("[data-testid=push-result]")).to_contain_text("cannot reach",
                                                                      timeout=30_000)
    screenshot(page, lite, "push-dialog")
    assert (lite.workspace / ".leoflow" / "push.json").is_file()
    page.keyboard.press("Escape")
    page.goto(lite.url + "/dags")
    page.get_by_role("switch", name="Dark").click()
    expect(page.locator("body.body--dark")).to_have_count(1)
    screenshot(page, lite, "dags-dark")
    page.reload()
    expect(page.locator("body.body--dark")).to_have_count(1)  # remembered per user
    page.get_by_role("switch", name="Dark").click()


def test_reset_password_then_log_in_with_the_new_one(page: Page, lite: LiteServer) -> None:
    output = lite.command("lite", "reset-password")
    new = re.search(r"new password for admin: (\S+)", output)
    assert new, output
    log_in(page, lite, password=lite.password)
    expect(page.locator("[data-testid=login-error]")).to_have_text("Invalid credentials")
    lite.password = new.group(1)
    log_in(page, lite)
    expect(page.locator("[data-testid=download-examples]")).to_be_visible()
    page.locator("[data-testid=workspace-path]").is_visible()
    page.locator("[data-testid=user-menu]").click()  # not the Admin menu beside it
    page.locator("[data-testid=logout]").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(lite.url + "/dags")
    expect(page).to_have_url(re.compile(r"/login\?next="))
