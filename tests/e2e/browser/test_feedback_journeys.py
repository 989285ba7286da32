"""The IDE says what happened, in Chromium, against ``leoflow lite`` (its own Lite: this
module's ``lite`` fixture): every action confirms, errors sit at the user's line, stale DAGs
are marked and refused by every face, a waiting task says why, mapped instance [5] shows
its own log and XCom, and the smaller things a new user met (bounds of a param, the paused
policy, the push dialog's token help, the login hint, long log lines, dark mode).

The conftest's ``no_server_exception`` fixture fails any of these journeys whose server
logged a traceback: the notifications from closed dialogs used to log one each.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import LAUNCH, START_TIMEOUT, LiteServer, screenshot
from tests.e2e.browser.conftest import log_in as submit_login

pytestmark = pytest.mark.slow

WAITS = """
import time
from datetime import datetime
from leoflow import DAG, task

with DAG("feedback_waits", schedule=None, start_date=datetime(2026, 1, 1),
         max_active_tasks=1):
    @task
    def slow_a() -> int:
        print("a " + "long-line-" * 60)
        time.sleep(10)
        return 1

    @task
    def slow_b() -> int:
        time.sleep(10)
        return 2

    @task
    def after(a: int, b: int) -> int:
        return a + b

    after(slow_a(), slow_b())
"""

MAPPED = """
from datetime import datetime
from leoflow import DAG, task

with DAG("feedback_mapped", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def item(i: int) -> int:
        print(f"working on item {i}")
        return i * 10

    item.expand(i=list(range(8)))
"""

PARAMS = """
from datetime import datetime
from leoflow import DAG, Param, task

with DAG("feedback_params", schedule=None, start_date=datetime(2026, 1, 1),
         params={"workers": Param(8, type="integer", minimum=1, maximum=64)}):
    @task
    def work(params=None) -> int:
        return params["workers"]

    work()
"""

# 13 lines; line 6 reads an environment variable nobody set: os raises inside <frozen os>
LIBRARY_ERROR = """\
import os
from datetime import datetime

from leoflow import DAG, task

TOKEN = os.environ["FEEDBACK_TOKEN_NOBODY_SET"]

with DAG("feedback_env", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def use() -> str:
        return TOKEN

    use()
"""

CYCLE = """\
from datetime import datetime
from leoflow import DAG, EmptyOperator

with DAG("feedback_cycle", schedule=None, start_date=datetime(2026, 1, 1)):
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    c = EmptyOperator(task_id="c")
    a >> b >> c
    c >> a
"""

# parse() raises on line 6, called from load() on line 12: both are the user's lines
BOOM = """\
from datetime import datetime
from leoflow import DAG, task


def parse(text: str) -> int:
    return int(text)


with DAG("feedback_boom", schedule=None, start_date=datetime(2026, 1, 1)):
    @task(retries=0)
    def load() -> int:
        return parse("not a number")

    load()
"""

# Lite is stopped while ``hold`` runs: ``cleanup`` (all_done) is handed out while Lite
# stops, so it is failed without ever starting
STOPPED = """
import time
from datetime import datetime
from leoflow import DAG, task

with DAG("feedback_stopped", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def hold() -> None:
        print("holding", flush=True)
        time.sleep(300)

    @task(trigger_rule="all_done")
    def cleanup() -> None:
        print("cleaning up")

    hold() >> cleanup()
"""


@pytest.fixture(autouse=True)
def at_1280(page: Page) -> None:
    """The documentation's pictures are taken at 1280 px, a common laptop width."""
    page.set_viewport_size({"width": 1280, "height": 860})


def light_and_dark(page: Page, lite: LiteServer, name: str, *, full_page: bool = False) -> None:
    """``name``.png and ``name``-dark.png of what the page shows now."""
    screenshot(page, lite, name, full_page=full_page)
    switch = page.get_by_role("switch", name="Dark")
    switch.click()
    expect(page.locator("body.body--dark")).to_have_count(1)
    screenshot(page, lite, f"{name}-dark", full_page=full_page)
    switch.click()
    expect(page.locator("body.body--dark")).to_have_count(0)


def add_project(lite: LiteServer, name: str, source: str) -> Path:
    project = lite.workspace / name
    project.mkdir(exist_ok=True)
    (project / "leoflow.yaml").write_text(f"dag_id: {name}\n")
    (project / "dag.py").write_text(textwrap.dedent(source).lstrip("\n"))
    return project


def log_in(page: Page, lite: LiteServer, *, path: str = "/dags") -> None:
    """Log in and wait until the page behind the login shows (a ``goto`` right after the
    click would cancel the login's own navigation)."""
    submit_login(page, lite, path=path)
    expect(page.locator("[data-testid=login-card]")).to_have_count(0, timeout=60_000)
    expect(page.locator("header")).to_be_visible(timeout=60_000)


def notification(page: Page) -> object:
    return page.locator(".q-notification").last


def wait_for_dag(page: Page, lite: LiteServer, dag_id: str) -> None:
    page.goto(lite.url + "/dags")
    expect(page.locator(f"[data-testid=dag-link-{dag_id}]")).to_be_visible(timeout=90_000)


def trigger_from_dag_page(page: Page, lite: LiteServer, dag_id: str) -> None:
    page.goto(lite.url + f"/dags/{dag_id}")
    page.locator("[data-testid=dag-trigger]").click()
    page.locator("[data-testid=trigger-submit]").click()
    expect(notification(page)).to_contain_text("Triggered")


def test_the_login_hint_and_the_dags_page_say_what_they_mean(page: Page,
                                                              lite: LiteServer) -> None:
    page.goto(lite.url + "/login", timeout=60_000)  # the first page this Lite serves
    hint = page.locator("[data-testid=login-hint]")
    expect(hint).to_contain_text("leoflow lite reset-password")
    assert "`" not in hint.inner_text()
    screenshot(page, lite, "feedback-login")
    log_in(page, lite)
    policy = page.locator("[data-testid=paused-policy]")
    expect(policy).to_contain_text("start paused")
    # the scheduled examples wait for the user; a DAG run only by Trigger is active
    expect(page.locator("[data-testid=pause-taskflow_etl]")).to_have_attribute(
        "aria-checked", "false")
    expect(page.locator("[data-testid=pause-hello]")).to_have_attribute("aria-checked", "true")
    expect(page.locator("[data-testid=download-examples]")).to_have_text(
        "settings_backup_restoreRestore bundled examples")


def test_every_action_confirms_and_clear_runs_the_next_try(page: Page,
                                                            lite: LiteServer) -> None:
    log_in(page, lite)
    page.goto(lite.url + "/dags")
    page.locator("[data-testid=trigger-hello]").click()
    page.locator("[data-testid=trigger-submit]").click()
    expect(notification(page)).to_contain_text("Triggered manual__")
    page.locator("[data-testid=dag-link-hello]").click()
    cell = page.locator("[data-testid=dag-grid] [data-task=shout]").last
    expect(cell).to_have_attribute("data-state", "success", timeout=60_000)
    cell.click()
    panel = page.locator("[data-testid=task-panel]")
    expect(panel.locator("[data-testid=log-status]")).to_contain_text("try 1 finished")

    panel.locator("[data-testid=ti-clear]").click()
    page.locator("[data-testid=clear-confirm]").click()
    expect(notification(page)).to_contain_text("Cleared")
    # what follows the notification ran: the panel follows the new try
    expect(panel.locator("[data-testid=log-status]")).to_contain_text("try 2", timeout=60_000)
    expect(panel.locator("[data-testid=ti-state]")).to_have_attribute(
        "data-state", "success", timeout=60_000)

    panel.locator("[data-testid=ti-mark-failed]").click()
    expect(notification(page)).to_contain_text("shout marked failed")
    expect(panel.locator("[data-testid=ti-state]")).to_have_attribute("data-state", "failed")

    page.goto(lite.url + "/dags")
    restore = page.locator("[data-testid=download-examples]")
    restore.click()
    expect(notification(page)).to_contain_text("files written")
    # a file the user changed: the dialog asks, and keeping it says so too
    changed = lite.workspace / "examples" / "xcom_typed" / "dag.py"
    changed.write_text(changed.read_text() + "\n# the user's note\n")
    restore.click()
    expect(page.get_by_text("You changed some example files")).to_be_visible()
    page.locator("[data-testid=examples-keep]").click()
    expect(notification(page)).to_contain_text("Your 1 changed file(s) were kept")
    assert changed.read_text().endswith("# the user's note\n")


def test_a_library_error_and_a_cycle_sit_at_the_users_line(page: Page,
                                                             lite: LiteServer) -> None:
    add_project(lite, "feedback_env", LIBRARY_ERROR)
    add_project(lite, "feedback_cycle", CYCLE)
    log_in(page, lite)
    errors = page.locator("[data-testid=import-errors]")
    expect(errors).to_contain_text("feedback_cycle/dag.py", timeout=90_000)
    expect(errors).to_contain_text("feedback_env/dag.py", timeout=90_000)
    # the summary names the user's line; the traceback below it still shows every frame
    expect(errors).to_contain_text("feedback_env/dag.py:6: KeyError: 'FEEDBACK_TOKEN_NOBODY_SET'")
    expect(errors).to_contain_text("feedback_cycle/dag.py:9: DAG 'feedback_cycle' has a cycle")

    page.goto(lite.url + "/editor?file=" + quote("feedback_env/dag.py"))
    chip = page.locator("[data-testid=diagnostic-line]")
    expect(chip).to_have_attribute("data-line", "6", timeout=60_000)
    expect(page.locator("[data-testid=diagnostic-text]")).to_contain_text(
        "FEEDBACK_TOKEN_NOBODY_SET")
    marked = page.locator("[data-testid=code-editor] .cm-line.leoflow-error-line")
    expect(marked).to_contain_text('os.environ["FEEDBACK_TOKEN_NOBODY_SET"]')
    light_and_dark(page, lite, "feedback-library-error")
    # the "line 6" chip puts the cursor on line 6 (the address follows the cursor)
    code = page.locator("[data-testid=code-editor]")
    code.locator(".cm-line").first.click()
    expect(page).to_have_url(re.compile(r"[?&]line=1$"))
    chip.click()
    expect(page).to_have_url(re.compile(r"[?&]line=6$"))
    expect(code.locator(".cm-activeLine")).to_contain_text('os.environ["FEEDBACK_TOKEN')

    # a folder's name opens it, as its arrow does, and closes it again
    tree = page.locator("[data-testid=file-tree]")
    hello = tree.get_by_text("hello", exact=True)
    expect(hello).to_be_hidden()
    tree.get_by_text("examples", exact=True).click()
    expect(hello).to_be_visible()
    tree.get_by_text("examples", exact=True).click()
    expect(hello).to_be_hidden()

    page.goto(lite.url + "/editor?file=" + quote("feedback_cycle/dag.py"))
    expect(page.locator("[data-testid=diagnostic-line]")).to_have_attribute(
        "data-line", "9", timeout=60_000)
    expect(page.locator("[data-testid=diagnostic-text]")).to_contain_text(
        "has a cycle: a -> b -> c -> a")
    expect(page.locator("[data-testid=code-editor] .cm-line.leoflow-error-line")
           ).to_have_text("    c >> a")
    shutil.rmtree(lite.workspace / "feedback_env")
    shutil.rmtree(lite.workspace / "feedback_cycle")


def test_a_stale_dag_is_marked_and_every_face_refuses_it(page: Page,
                                                         lite: LiteServer) -> None:
    project = add_project(lite, "feedback_stale", MAPPED.replace("feedback_mapped",
                                                                 "feedback_stale"))
    log_in(page, lite)
    wait_for_dag(page, lite, "feedback_stale")
    expect(page.locator("[data-testid=trigger-feedback_stale]")).to_be_enabled()
    shutil.rmtree(project)
    row_chip = page.locator("[data-testid=dag-link-feedback_stale] + [data-testid=dag-stale]")
    expect(row_chip).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid=trigger-feedback_stale]")).to_be_disabled()
    light_and_dark(page, lite, "feedback-stale")
    page.goto(lite.url + "/dags/feedback_stale")
    expect(page.locator("[data-testid=dag-stale]")).to_be_visible()
    expect(page.locator("[data-testid=dag-trigger]")).to_be_disabled()
    # the API is the same service's answer
    token = httpx.post(f"{lite.url}/auth/token", json={"username": "admin",
                                                       "password": lite.password},
                       timeout=30).json()["access_token"]
    answer = httpx.post(f"{lite.url}/api/v2/dags/feedback_stale/dagRuns",
                        json={"logical_date": None},
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 404, answer.text
    assert "feedback_stale" in answer.text


def test_a_waiting_task_says_why_and_a_long_line_wraps(page: Page, lite: LiteServer) -> None:
    add_project(lite, "feedback_waits", WAITS)
    log_in(page, lite)
    wait_for_dag(page, lite, "feedback_waits")
    trigger_from_dag_page(page, lite, "feedback_waits")
    grid = page.locator("[data-testid=dag-grid]")
    expect(grid.locator("[data-task=slow_a][data-state=running],"
                        "[data-task=slow_b][data-state=running]")).to_have_count(
        1, timeout=60_000)
    held = grid.locator("[data-task=slow_a][data-state=scheduled],"
                        "[data-task=slow_b][data-state=scheduled]")
    expect(held).to_have_count(1, timeout=30_000)
    held.click()
    panel = page.locator("[data-testid=task-panel]")
    waiting = panel.locator("[data-testid=ti-waiting]")
    expect(waiting).to_contain_text("Waiting: max_active_tasks (1) of DAG 'feedback_waits'")
    assert "waiting: waiting" not in waiting.inner_text().lower()
    # never started: no "live · 0 lines"; the reason stands where the log would be
    expect(panel.locator("[data-testid=log-status]")).not_to_contain_text("live")
    expect(panel.locator("[data-testid=log-reason]")).to_contain_text("Not started: ")
    light_and_dark(page, lite, "feedback-waiting")

    grid.locator("[data-task=after]").last.click()
    expect(panel.locator("[data-testid=ti-waiting]")).to_contain_text(
        "Waiting: upstream tasks slow_a (")
    expect(panel.locator("[data-testid=log-reason]")).to_contain_text("to finish")

    expect(grid.locator("[data-task=after][data-state=success]")).to_have_count(
        1, timeout=90_000)
    grid.locator("[data-task=slow_a]").last.click()
    log = panel.locator("[data-testid=task-log]")
    expect(log).to_contain_text("long-line-long-line")
    line = log.locator("div", has_text="long-line-long-line").first
    wraps = line.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    box = log.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    assert wraps and box, "a long log line is cut at the panel's edge"


def test_mapped_instance_5_shows_its_own_log_and_xcom(page: Page, lite: LiteServer) -> None:
    add_project(lite, "feedback_mapped", MAPPED)
    log_in(page, lite)
    wait_for_dag(page, lite, "feedback_mapped")
    trigger_from_dag_page(page, lite, "feedback_mapped")
    grid = page.locator("[data-testid=dag-grid]")
    expect(grid.locator("[data-task=item][data-state=success]").first).to_be_visible(
        timeout=90_000)
    grid.locator("[data-task=item]").last.click()
    panel = page.locator("[data-testid=task-panel]")
    instances = panel.locator("[data-testid=ti-mapped] [data-map-index]")
    expect(instances).to_have_count(8)
    expect(instances.nth(5)).to_have_attribute("data-state", "success", timeout=60_000)
    instances.nth(5).click()
    expect(panel.get_by_text("item [5]", exact=True)).to_be_visible()
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("working on item 5")
    expect(panel.locator("[data-testid=task-log]")).not_to_contain_text("working on item 0")
    expect(panel.locator("[data-testid=xcom-return_value]")).to_contain_text("50")
    light_and_dark(page, lite, "feedback-mapped")
    instances.nth(2).click()
    expect(panel.get_by_text("item [2]", exact=True)).to_be_visible()
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("working on item 2")
    expect(panel.locator("[data-testid=xcom-return_value]")).to_contain_text("20")


def test_the_trigger_form_shows_bounds_and_never_clamps(page: Page, lite: LiteServer) -> None:
    add_project(lite, "feedback_params", PARAMS)
    log_in(page, lite)
    wait_for_dag(page, lite, "feedback_params")
    page.goto(lite.url + "/dags/feedback_params")
    page.locator("[data-testid=dag-trigger]").click()
    field = page.locator("[data-param=workers]")  # the input, labelled with its bounds
    expect(field).to_have_attribute("aria-label", "workers (1 to 64)")
    expect(page.get_by_text("workers (1 to 64)")).to_be_visible()
    field.fill("100")
    field.blur()
    expect(field).to_have_value("100")  # not clamped to 64 behind the user's back
    page.locator("[data-testid=trigger-submit]").click()
    expect(page.locator("[data-testid=trigger-error]")).to_contain_text(
        "workers: must be at most 64, got 100")
    screenshot(page, lite, "feedback-trigger-bounds")
    field.fill("64")
    page.locator("[data-testid=trigger-submit]").click()
    expect(notification(page)).to_contain_text("Triggered")


def test_the_push_dialog_says_how_to_get_a_token(page: Page, lite: LiteServer) -> None:
    log_in(page, lite, path="/dags/hello")
    page.locator("[data-testid=dag-push]").click()
    help_text = page.locator("[data-testid=push-token-help]")
    expect(help_text).to_contain_text("leoflow auth create-token")
    expect(help_text).to_contain_text("/auth/token")
    screenshot(page, lite, "feedback-push")


def test_dark_mode_keeps_agent_lines_readable(page: Page, lite: LiteServer) -> None:
    log_in(page, lite, path="/dags/hello")
    page.get_by_role("switch", name="Dark").click()
    expect(page.locator("body.body--dark")).to_have_count(1)
    try:
        cell = page.locator("[data-testid=dag-grid] [data-task=shout]").last
        cell.click()
        log = page.locator("[data-testid=task-panel] [data-testid=task-log]")
        agent = log.locator(".leoflow-log-agent").first
        expect(agent).to_be_visible(timeout=30_000)
        color = agent.evaluate("el => getComputedStyle(el).color")
        # light enough on the dark panel (#ce93d8), not the light theme's dark purple
        red, green, blue = (int(v) for v in color[color.index("(") + 1:-1].split(",")[:3])
        assert 0.2126 * red + 0.7152 * green + 0.0722 * blue > 120, color
        screenshot(page, lite, "feedback-task-dark", full_page=True)
        page.goto(lite.url + "/dags")
        screenshot(page, lite, "feedback-dags-dark")
    finally:
        page.get_by_role("switch", name="Dark").click()
        time.sleep(0.3)


def test_a_dag_file_without_leoflow_yaml_gets_a_hint_and_a_template(page: Page,
                                                                   lite: LiteServer) -> None:
    folder = lite.workspace / "feedback_noyaml"
    folder.mkdir()
    (folder / "dag.py").write_text(textwrap.dedent(MAPPED).replace("feedback_mapped",
                                                                   "feedback_noyaml"))
    log_in(page, lite)
    hint = page.locator("[data-testid=missing-yaml][data-folder=feedback_noyaml]")
    expect(hint).to_contain_text("feedback_noyaml/ has a dag.py but no leoflow.yaml")
    light_and_dark(page, lite, "feedback-missing-yaml")
    hint.locator("[data-testid=create-yaml]").click()
    expect(notification(page)).to_contain_text("Created feedback_noyaml/leoflow.yaml")
    assert "dag_id: feedback_noyaml" in (folder / "leoflow.yaml").read_text()
    expect(hint).to_have_count(0)
    expect(page.locator("[data-testid=dag-link-feedback_noyaml]")).to_be_visible(
        timeout=90_000)
    shutil.rmtree(folder)


def test_a_traceback_links_to_the_users_lines(page: Page, lite: LiteServer) -> None:
    add_project(lite, "feedback_boom", BOOM)
    log_in(page, lite)
    wait_for_dag(page, lite, "feedback_boom")
    trigger_from_dag_page(page, lite, "feedback_boom")
    cell = page.locator("[data-testid=dag-grid] [data-task=load]").last
    expect(cell).to_have_attribute("data-state", "failed", timeout=90_000)
    cell.click()
    panel = page.locator("[data-testid=task-panel]")
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("ValueError")
    # the user's two frames, outermost first; the runner's and Python's own are not linked
    links = panel.locator("[data-testid=log-link]")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_text("feedback_boom/dag.py:12")
    expect(links.nth(1)).to_have_text("feedback_boom/dag.py:6")
    screenshot(page, lite, "feedback-log-links")
    links.nth(1).click()
    expect(page.locator("[data-testid=editor-path]")).to_have_text("feedback_boom/dag.py")
    expect(page).to_have_url(re.compile(r"/editor\?file=feedback_boom/dag\.py&line=6$"))
    expect(page.locator("[data-testid=code-editor] .cm-activeLine")).to_have_text(
        "    return int(text)")
    shutil.rmtree(lite.workspace / "feedback_boom")


def restart(lite: LiteServer) -> None:
    """Stop the module's Lite with Ctrl-C, as a user does, and start it again on the same
    home and workspace (the ``lite`` fixture stops this new one at the end)."""
    lite.process.send_signal(signal.SIGINT)
    lite.process.wait(60)
    start = len(lite.log())
    with open(lite.output, "ab") as sink:
        lite.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "lite", "--no-browser", "--port", "0",
             "--workspace", str(lite.workspace)], env=lite.env(), stdout=sink,
            stderr=subprocess.STDOUT, cwd=lite.home)  # not beside the "leoflow" workspace
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        ready = re.search(r"is ready in [\d.]+ s: (http://127\.0\.0\.1:\d+)",
                          lite.log()[start:])
        if ready:
            lite.url = ready.group(1)
            return
        if lite.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"Lite did not start again:\n{lite.log()[start:][-3000:]}")
        time.sleep(0.2)


# Last in the module: it stops the module's Lite (and starts it again).
def test_after_ctrl_c_the_reason_stands_where_the_log_would_be(page: Page,
                                                               lite: LiteServer) -> None:
    add_project(lite, "feedback_stopped", STOPPED)
    log_in(page, lite)
    wait_for_dag(page, lite, "feedback_stopped")
    trigger_from_dag_page(page, lite, "feedback_stopped")
    grid = page.locator("[data-testid=dag-grid]")
    grid.locator("[data-task=hold][data-state=running]").last.click(timeout=60_000)
    panel = page.locator("[data-testid=task-panel]")
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("holding", timeout=60_000)

    restart(lite)  # Ctrl-C while hold runs
    assert "cancelled 1 running task instance" in lite.log()
    page.context.clear_cookies()  # a new visit, as after any restart
    log_in(page, lite, path="/dags/feedback_stopped")
    cleanup = grid.locator("[data-task=cleanup]").last
    expect(cleanup).to_have_attribute("data-state", "failed", timeout=30_000)
    cleanup.click()
    # never started: the reason is where its log would be, not in the collapsed tries
    reason = panel.locator("[data-testid=log-reason]")
    expect(reason).to_contain_text(
        "Try 1 did not run: Lite was stopping, so the task was not started")
    expect(panel.locator("[data-testid=task-log]")).to_be_hidden()
    expect(panel.locator("[data-testid=log-status]")).not_to_contain_text("live")
    light_and_dark(page, lite, "feedback-stopped")
    grid.locator("[data-task=hold]").last.click()
    expect(panel.locator("[data-testid=task-log]")).to_contain_text("holding")
    expect(panel.locator("[data-testid=log-reason]")).to_be_hidden()  # its log speaks
