"""Apache Airflow's own web UI, unmodified, in front of a real ``leoflow-server``.

``leoflow ui install`` runs once per session (pip downloads the ``apache-airflow-core``
wheel; the test is skipped when the registry cannot be reached). A server per backend
(SQLite; PostgreSQL through pgserver, marked ``postgres``) compiles a DAGs folder of six
DAGs and runs four: ``ui_etl`` (params, XCom) succeeded, ``ui_report`` failed,
``ui_orders_producer`` updated an asset that started ``ui_orders_consumer``; ``ui_tail``
prints a line a second for the live tail of its logs. Then one Chromium session signs in
through Airflow's login page and opens each page (moving inside the app as a user's clicks
do, without reloading its 5 MB bundle for each page). The PostgreSQL variant runs the pages
journey only.

On every page: no response of 400 or more that the page did not ask for on purpose
(``EXPECTED_MISSES``), no error alert, the page's data visible. Screenshots go to a
temporary folder, or to ``docs/screenshots/airflow-ui/`` with
``LEOFLOW_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    Response,
    expect,
)

from tests.e2e.browser.conftest import LAUNCH, ROOT, SCRUB

pytestmark = pytest.mark.slow

UI_VERSION = "3.3.2"
PASSWORD = "airflow-ui-password-14"
VIEWER_PASSWORD = "viewer-password-14"
VIEWPORT = {"width": 1280, "height": 800}
# A page's data may take this long on a loaded CI machine (2 cores, a scheduler running).
WAIT_MS = 45_000
SHOTS = ROOT / "docs" / "screenshots" / "airflow-ui"
# Asked for by Airflow's own bundle and absent from its own wheel (the SQL highlighter's
# loader): Airflow's server answers 404 for it too.
EXPECTED_MISSES = (re.compile(r"/static/wasm/sqlparser_rs_wasm\.js$"),)
ERROR_ALERTS = "[data-scope=alert][data-status=error], [data-scope=toast][data-type=error]"

ETL = '''
from datetime import datetime

from airflow.sdk import DAG, task

with DAG("ui_etl", start_date=datetime(2026, 1, 1), schedule=None, tags=["etl", "ui"],
         params={"rows": 3}, doc_md="Extract, transform, load.") as dag:
    @task
    def extract(params=None):
        return list(range(int(params["rows"])))

    @task
    def double(values):
        return [v * 2 for v in values]

    @task
    def load(values):
        print("loaded", sum(values))
        return sum(values)

    load(double(extract()))
'''

REPORT = '''
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("ui_report", start_date=datetime(2026, 1, 1), schedule="@daily", catchup=False,
         tags=["report"]) as dag:
    gather = BashOperator(task_id="gather", bash_command="echo gather")
    publish = BashOperator(task_id="publish", bash_command="echo publish; exit 1")
    gather >> publish
'''

IDLE = '''
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("ui_idle", start_date=datetime(2026, 1, 1), schedule=None, tags=["idle"]) as dag:
    EmptyOperator(task_id="nothing")
'''

ORDERS = '''
from datetime import datetime

from airflow.sdk import DAG, Asset, task

orders = Asset(name="ui_orders", uri="s3://warehouse/ui_orders")

with DAG("ui_orders_producer", start_date=datetime(2026, 1, 1), schedule=None,
         tags=["assets"]) as producer:
    @task(outlets=[orders])
    def write_orders():
        return 3

    write_orders()

with DAG("ui_orders_consumer", start_date=datetime(2026, 1, 1), schedule=[orders],
         tags=["assets"]) as consumer:
    @task
    def read_orders():
        print("orders arrived")

    read_orders()
'''

TAIL = '''
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("ui_tail", start_date=datetime(2026, 1, 1), schedule=None, tags=["tail"]) as dag:
    BashOperator(task_id="count",
                 bash_command="for i in $(seq 1 60); do echo tick-$i; sleep 1; done")
'''
DAG_FILES = {"etl.py": ETL, "report.py": REPORT, "idle.py": IDLE, "orders.py": ORDERS,
             "tail.py": TAIL}


@pytest.fixture(scope="session")
def airflow_ui_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``leoflow ui install`` once for the whole session, as a user runs it."""
    root = tmp_path_factory.mktemp("airflow-ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env["LEOFLOW_HOME"] = str(root / "home")
    result = subprocess.run([sys.executable, "-c", LAUNCH, "ui", "install", "--version",
                             UI_VERSION, "--dir", str(root / "ui")], env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        if "could not download" in result.stderr:
            pytest.skip(f"the package registry is not reachable: {result.stderr[-300:]}")
        raise AssertionError(result.stdout + result.stderr)
    assert (root / "ui" / UI_VERSION / "ui" / "index.html").is_file()
    return root / "ui"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class UiServer:
    url: str
    client: httpx.Client
    backend: str
    base: Path
    runs: dict[str, str] = field(default_factory=dict)


def _wait_run(client: httpx.Client, dag_id: str, run_id: str, states: set[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()
        if state.get("state") in states:
            return
        time.sleep(0.3)
    raise AssertionError(f"{dag_id}/{run_id} did not reach {states}")


def _unpause(client: httpx.Client, dag_id: str) -> None:
    client.patch(f"/api/v2/dags/{dag_id}", params={"update_mask": "is_paused"},
                 json={"is_paused": False}).raise_for_status()


def _trigger(client: httpx.Client, dag_id: str, conf: dict[str, Any]) -> str:
    made = client.post(f"/api/v2/dags/{dag_id}/dagRuns",
                       json={"logical_date": None, "conf": conf})
    made.raise_for_status()
    run_id: str = made.json()["dag_run_id"]
    return run_id


def _seed(client: httpx.Client) -> dict[str, str]:
    """Unpause and run the DAGs (all at once); the run ids, once they have ended."""
    for dag_id in ("ui_etl", "ui_report", "ui_orders_producer", "ui_orders_consumer",
                   "ui_tail"):
        _unpause(client, dag_id)
    ends = {"ui_etl": ({"rows": 4}, {"success"}), "ui_report": ({}, {"failed"}),
            "ui_orders_producer": ({}, {"success"})}
    runs = {dag_id: _trigger(client, dag_id, conf) for dag_id, (conf, _) in ends.items()}
    for dag_id, (_, states) in ends.items():
        _wait_run(client, dag_id, runs[dag_id], states)
    # The asset event starts the consumer.
    deadline = time.monotonic() + 120
    while not (found := client.get("/api/v2/dags/ui_orders_consumer/dagRuns").json()
               .get("dag_runs")):
        assert time.monotonic() < deadline, "the asset event started no consumer run"
        time.sleep(0.3)
    runs["ui_orders_consumer"] = found[0]["dag_run_id"]
    _wait_run(client, "ui_orders_consumer", runs["ui_orders_consumer"], {"success"})
    # One of each for the admin pages to list.
    client.post("/api/v2/variables", json={"key": "ui_seed_variable", "value": "1"}
                ).raise_for_status()
    client.post("/api/v2/pools", json={"name": "ui_seed_pool", "slots": 2}
                ).raise_for_status()
    client.post("/api/v2/connections", json={"connection_id": "ui_seed_connection",
                                             "conn_type": "http", "host": "example.invalid"}
                ).raise_for_status()
    client.post("/api/leoflow/users", json={
        "username": "ui_viewer", "password": VIEWER_PASSWORD, "role": "Viewer"}
                ).raise_for_status()
    return runs


@contextlib.contextmanager
def _server(base: Path, ui_dir: Path, database_url: str | None) -> Iterator[UiServer]:
    backend = "postgres" if database_url else "sqlite"
    dags = base / "dags"
    dags.mkdir()
    for name, text in DAG_FILES.items():
        (dags / name).write_text(text, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(LEOFLOW_HOME=str(base / "home"), LEOFLOW_BOOTSTRAP_PASSWORD=PASSWORD,
               LEOFLOW_AIRFLOW_UI_DIR=str(ui_dir), PYTHONUNBUFFERED="1")
    if database_url:
        env["LEOFLOW_DATABASE_URL"] = database_url
    port = _free_port()
    log = base / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1", "--port",
             str(port), "--dags-folder", str(dags)], env=env, stdout=sink,
            stderr=subprocess.STDOUT, cwd=base)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text("utf-8", "replace")[-4000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v2/version", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "leoflow-server did not start"
            time.sleep(0.2)
        token = httpx.post(f"{url}/auth/token", json={
            "username": "admin", "password": PASSWORD}, timeout=60).json()["access_token"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=60) as client:
            deadline = time.monotonic() + 120
            while client.get("/api/v2/dags").json()["total_entries"] < 6:
                assert time.monotonic() < deadline, client.get("/api/v2/importErrors").text
                time.sleep(0.3)
            yield UiServer(url, client, backend, base, _seed(client))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def ui_server(request: pytest.FixtureRequest, airflow_ui_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_url_module")
    with _server(tmp_path_factory.mktemp(f"ui-{request.param}"), airflow_ui_dir,
                 database_url) as server:
        yield server


@pytest.fixture(scope="module")
def postgres_url_module(postgres_server: Any) -> str:
    """A new PostgreSQL database for this module's server."""
    import uuid

    from tests.conftest import _asyncpg_url, create_database

    name = f"ui_{uuid.uuid4().hex[:12]}"
    create_database(postgres_server, name)
    return _asyncpg_url(postgres_server, name)


class Watch:
    """The page's responses of 400 or more since the last ``reset`` (minus the expected
    ones), the API requests it made, and how many are still in flight."""

    def __init__(self, page: Page) -> None:
        self.bad: list[str] = []
        self.asked: list[str] = []
        self.in_flight = 0
        page.on("response", self._seen)
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Request) -> None:
        self.in_flight += 1
        if "/api/" in request.url or "/ui/" in request.url:
            self.asked.append(f"{request.method} {request.url}")

    def _ended(self, _request: Request) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def _seen(self, response: Response) -> None:
        if response.status >= 400 and not any(p.search(response.url)
                                              for p in EXPECTED_MISSES):
            self.bad.append(f"{response.status} {response.request.method} {response.url}")

    def reset(self) -> None:
        self.bad.clear()
        self.asked.clear()

    def settle(self, page: Page, quiet_ms: int = 400, limit_s: float = 15) -> None:
        """Wait until no request has been in flight for ``quiet_ms`` (the page's polling
        aside, this is when it has what it asked for)."""
        deadline = time.monotonic() + limit_s
        quiet = 0
        while quiet < quiet_ms and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            quiet = quiet + 100 if self.in_flight == 0 else 0


def shoot(page: Page, name: str, base: Path, server: UiServer) -> None:
    """A PNG of the page; the server's temporary folder reads ``~`` on it."""
    update = os.environ.get("LEOFLOW_UPDATE_SCREENSHOTS") == "1"
    folder = SHOTS if update else base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate(SCRUB, str(server.base))
    page.mouse.move(1, 1)
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / f"{name}.png"))


# Client-side navigation, as the app's own links do (React Router listens to popstate).
NAVIGATE = ("path => { history.pushState({}, '', path);"
            " dispatchEvent(new PopStateEvent('popstate')); }")


@dataclass
class Journey:
    page: Page
    server: UiServer
    watch: Watch
    shots: Path
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def go(self, path: str, *, reload: bool = False) -> None:
        """Open ``path`` inside the running app (a full load the first time, or with
        ``reload``: before clicking a page's buttons, so none of the last page's is left)."""
        if (not reload and self.page.url.startswith(self.server.url)
                and "/auth/" not in self.page.url):
            self.page.evaluate(NAVIGATE, path)
        else:
            self.page.goto(self.server.url + path)

    def visit(self, name: str, path: str, *expected: str, absent: tuple[str, ...] = ()) -> None:
        """Open ``path``, wait for each ``expected`` text, check for errors, screenshot."""
        self.watch.reset()
        started = time.monotonic()
        self.go(path)
        self.check(name, *expected, absent=absent)
        print(f"{name}: {time.monotonic() - started:.1f} s")

    def check(self, name: str, *expected: str, absent: tuple[str, ...] = ()) -> None:
        problems = []
        for text in expected:
            try:
                expect(self.page.get_by_text(text, exact=False).first).to_be_visible(
                    timeout=WAIT_MS)
            except AssertionError:
                problems.append(f"{text!r} not visible")
        self.watch.settle(self.page)
        for text in absent:
            try:
                expect(self.page.get_by_text(text, exact=True)).to_have_count(0)
            except AssertionError:
                problems.append(f"{text!r} shown")
        alerts = self.page.locator(ERROR_ALERTS)
        if alerts.count():
            problems.append(f"error alert: {alerts.first.inner_text()[:200]!r}")
        if self.watch.bad:
            problems.append(f"answers: {self.watch.bad}")
        shoot(self.page, name, self.shots, self.server)
        (self.failed if problems else self.passed).append(
            f"{name}: {'; '.join(problems)}" if problems else name)

    def asked(self, pattern: str) -> list[str]:
        return [a for a in self.watch.asked if re.search(pattern, a)]


def log_in(page: Page, url: str, username: str = "admin", password: str = PASSWORD) -> None:
    """Log in as a user does: open the UI, land on its login page, sign in.

    The URL is polled (`to_have_url`) rather than awaited as one navigation event: the
    UI's redirect to the login page can be superseded by a second redirect (several
    requests answered 401 at once), which aborts the first navigation; a user still
    lands on the login page, and so must the test.
    """
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.get_by_label(re.compile("username", re.I)).fill(username)
    page.get_by_label(re.compile("password", re.I)).fill(password)
    page.get_by_role("button", name=re.compile("sign in|login|log in", re.I)).click()
    expect(page).to_have_url(url + "/")


@pytest.fixture(autouse=True, scope="module")
def _patient_expect() -> Iterator[None]:
    expect.set_options(timeout=WAIT_MS)
    yield
    expect.set_options(timeout=15_000)  # the suite's default (conftest)


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(2 * WAIT_MS)
    return context


@pytest.fixture(scope="module")
def journey(browser: Browser, ui_server: UiServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    context = _context(browser)
    page = context.new_page()
    watch = Watch(page)
    log_in(page, ui_server.url)
    yield Journey(page, ui_server, watch, tmp_path_factory.mktemp("shots"))
    context.close()


def _sqlite_only(journey: Journey) -> None:
    if journey.server.backend != "sqlite":
        pytest.skip("the PostgreSQL variant runs the pages, the actions, the forms and Backfill")


def test_pages_of_the_airflow_ui(journey: Journey) -> None:
    """Every page a user opens while browsing shows its data without an error."""
    server = journey.server
    etl, report = server.runs["ui_etl"], server.runs["ui_report"]
    etl_run = f"/dags/ui_etl/runs/{quote(etl, safe='')}"
    visit = journey.visit
    visit("home", "/", "Failed Dags", "Active Dags", "Dag Runs")
    visit("dags", "/dags", "ui_etl", "ui_report", "ui_idle", "ui_orders_producer")
    visit("dags-filtered-by-tag", "/dags?tags=etl", "ui_etl", absent=("ui_report", "ui_idle"))
    assert journey.asked(r"/ui/dags\?.*tags=etl"), journey.watch.asked
    visit("dags-filtered-failed", "/dags?last_dag_run_state=failed", "ui_report",
          absent=("ui_etl", "ui_idle"))
    visit("dag-grid", "/dags/ui_etl", "extract", "double", "load", "Latest Run")
    with journey.page.expect_response(re.compile(r"/ui/structure/structure_data")) as graph:
        journey.page.get_by_title(re.compile("graph", re.I)).first.click()
    assert graph.value.status == 200
    journey.check("dag-graph", "extract", "double", "load")
    visit("dag-runs", "/dags/ui_etl/runs", etl)
    visit("dag-tasks", "/dags/ui_etl/tasks", "extract", "double", "load")
    visit("dag-calendar", "/dags/ui_etl/calendar", "ui_etl")
    visit("dag-code", "/dags/ui_etl/code", "Extract, transform, load")
    assert journey.asked(r"/dagSources/ui_etl\?version_number=1"), journey.watch.asked
    visit("dag-audit-log", "/dags/ui_etl/events", "trigger")
    visit("dag-details", "/dags/ui_etl/details", "ui_etl")
    visit("run", etl_run, etl, "extract", "load")
    with journey.page.expect_response(re.compile(r"/ui/gantt/ui_etl/")) as gantt:
        journey.page.get_by_title(re.compile("gantt", re.I)).first.click()
    assert gantt.value.status == 200
    journey.check("run-gantt", "extract")
    visit("task-instance-logs", f"{etl_run}/tasks/extract", "reported success")
    visit("task-instance-xcom", f"{etl_run}/tasks/load/xcom", "return_value")
    visit("task-instance-rendered", f"{etl_run}/tasks/extract/rendered_templates", "extract")
    visit("failed-run", f"/dags/ui_report/runs/{quote(report, safe='')}", "publish")
    visit("dag-runs-all", "/dag_runs", etl)
    visit("task-instances-all", "/task_instances", "extract")
    visit("assets", "/assets", "ui_orders")
    asset = next(a for a in server.client.get("/api/v2/assets").json()["assets"]
                 if a["name"] == "ui_orders")
    visit("asset", f"/assets/{asset['id']}", "ui_orders", "ui_orders_producer",
          "ui_orders_consumer")
    visit("variables", "/variables", "ui_seed_variable")
    visit("connections", "/connections", "ui_seed_connection")
    visit("pools", "/pools", "default_pool", "ui_seed_pool")
    visit("audit-log", "/events", "trigger")
    visit("xcoms", "/xcoms", "return_value")
    provider = server.client.get("/api/v2/providers").json()["providers"][0]
    visit("providers", "/providers", provider["package_name"])
    visit("plugins", "/plugins", "Plugins")
    section = server.client.get("/api/v2/config").json()["sections"][0]["name"]
    visit("config", "/configs", section)
    visit("required-actions", "/required_actions", "Required Actions")
    print("\npassed:", ", ".join(journey.passed))
    assert not journey.failed, "\n".join(journey.failed)


def _run_state(server: UiServer, dag_id: str, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.client.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()
    return found


def _ti(server: UiServer, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.client.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    ).json()
    return found


def _answered(journey: Journey, method: str, pattern: str, click: Any) -> Response:
    """Run ``click`` and return the response to the request it makes."""
    with journey.page.expect_response(lambda r: r.request.method == method
                                      and re.search(pattern, r.url) is not None) as seen:
        click()
    return seen.value


def _until(what: str, probe: Any, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while not probe():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_trigger_clear_and_mark(journey: Journey) -> None:
    """Trigger with a param, clear a task instance, mark a failed one as success."""
    page, server = journey.page, journey.server
    journey.watch.reset()
    journey.go("/dags/ui_etl", reload=True)
    page.get_by_role("button", name="Trigger Dag").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=element_rows]").fill("6")
    made = _answered(journey, "POST", r"/dags/ui_etl/dagRuns$",
                     dialog.get_by_role("button", name="Trigger").click)
    assert made.status == 200, made.text()
    run_id = made.json()["dag_run_id"]
    _wait_run(server.client, "ui_etl", run_id, {"success"})
    assert _run_state(server, "ui_etl", run_id)["conf"] == {"rows": 6}
    journey.check("trigger-with-params", "ui_etl")

    etl_run = f"/dags/ui_etl/runs/{quote(run_id, safe='')}"
    journey.watch.reset()
    journey.go(f"{etl_run}/tasks/double", reload=True)
    page.get_by_role("button", name="Press shift+c to clear").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Affected Tasks: 2")).to_be_visible()  # double and load
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/clearTaskInstances")
                              and r.request.post_data_json.get("dry_run") is False) as seen:
        dialog.get_by_role("button", name="Confirm").click()
    cleared = seen.value
    assert cleared.status == 200, cleared.text()
    _until("double ran again", lambda: _ti(server, "ui_etl", run_id, "double")["try_number"] == 2
           and _ti(server, "ui_etl", run_id, "load")["state"] == "success")
    journey.check("task-instance-cleared", "double")

    report = server.runs["ui_report"]
    journey.watch.reset()
    journey.go(f"/dags/ui_report/runs/{quote(report, safe='')}/tasks/publish", reload=True)
    page.get_by_role("button", name="Mark Task Instance as...").click()
    page.get_by_role("menuitem", name="Success").click()
    dialog = page.get_by_role("dialog")
    marked = _answered(journey, "PATCH", r"/taskInstances/publish",
                       dialog.get_by_role("button", name="Confirm").click)
    assert marked.status == 200, marked.text()
    assert _ti(server, "ui_report", report, "publish")["state"] == "success"
    journey.check("task-instance-marked", "publish")


def test_live_tail_of_a_running_task(browser: Browser, journey: Journey) -> None:
    """A running task's log page shows new lines as the task prints them, with no reload."""
    _sqlite_only(journey)
    server = journey.server
    run_id = _trigger(server.client, "ui_tail", {})
    _until("count runs", lambda: _ti(server, "ui_tail", run_id, "count").get("state") == "running")
    # A page of its own, signed in with the journey's cookie.
    context = browser.new_context(viewport=VIEWPORT,
                                  storage_state=journey.page.context.storage_state())
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    watch = Watch(page)
    tail = Journey(page, server, watch, journey.shots)
    try:
        _tail(tail, run_id)
    finally:
        context.close()


def _tail(journey: Journey, run_id: str) -> None:
    page, server = journey.page, journey.server
    journey.watch.reset()
    journey.go(f"/dags/ui_tail/runs/{quote(run_id, safe='')}/tasks/count")
    expect(page.get_by_text("tick-2", exact=True).first).to_be_visible(timeout=30_000)
    loads = page.evaluate("performance.getEntriesByType('navigation').length")
    later = page.get_by_text("tick-12", exact=True).first
    expect(later).to_be_visible(timeout=60_000)
    assert _ti(server, "ui_tail", run_id, "count")["state"] == "running"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == loads
    journey.check("task-instance-live-log", "tick-12")


def confirm_delete(page: Page) -> Locator:
    """The delete dialog's button ("Yes, Delete" for variables, "Delete" elsewhere)."""
    return page.get_by_role("dialog").get_by_role("button",
                                                  name=re.compile(r"^(Yes, )?Delete$"))


def test_variables_pools_connections(journey: Journey) -> None:
    """Create, edit and delete a variable, a pool and a connection through their forms."""
    page, server = journey.page, journey.server
    journey.watch.reset()
    journey.go("/variables", reload=True)
    page.get_by_role("button", name="Add Variable").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=key]").fill("ui_threshold")
    dialog.locator("textarea[name=value]").fill("41")
    assert _answered(journey, "POST", r"/api/v2/variables$",
                     dialog.get_by_role("button", name="Save").click).status == 201
    row = page.get_by_role("row").filter(has_text="ui_threshold")
    expect(row).to_be_visible()
    row.get_by_role("button", name="Edit Variable").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("textarea[name=value]").fill("42")
    assert _answered(journey, "PATCH", r"/api/v2/variables/ui_threshold",
                     dialog.get_by_role("button", name="Save").click).status == 200
    assert server.client.get("/api/v2/variables/ui_threshold").json()["value"] == "42"
    journey.check("variable-edited", "ui_threshold")
    row.get_by_role("button", name="Delete Variable").click()
    assert _answered(journey, "DELETE", r"/api/v2/variables/ui_threshold",
                     confirm_delete(page).click).status == 204
    assert server.client.get("/api/v2/variables/ui_threshold").status_code == 404

    journey.watch.reset()
    journey.go("/pools", reload=True)
    page.get_by_role("button", name="Add Pool").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=name]").fill("ui_pool")
    dialog.locator("input[type=number]").fill("3")
    assert _answered(journey, "POST", r"/api/v2/pools$",
                     dialog.get_by_role("button", name="Save").click).status == 201
    assert server.client.get("/api/v2/pools/ui_pool").json()["slots"] == 3
    journey.check("pool-created", "ui_pool")
    edit = page.get_by_role("button", name="Edit Pool")
    card = page.locator("div").filter(has_text="ui_pool").filter(has=edit).last
    card.get_by_role("button", name="Edit Pool").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[type=number]").fill("5")
    assert _answered(journey, "PATCH", r"/api/v2/pools/ui_pool",
                     dialog.get_by_role("button", name="Save").click).status == 200
    assert server.client.get("/api/v2/pools/ui_pool").json()["slots"] == 5
    card.get_by_role("button", name="Delete Pool").click()
    assert _answered(journey, "DELETE", r"/api/v2/pools/ui_pool",
                     confirm_delete(page).click).status == 204
    assert server.client.get("/api/v2/pools/ui_pool").status_code == 404

    journey.watch.reset()
    journey.go("/connections", reload=True)
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill("ui_http")
    # react-select: its own box takes the pointer; typing filters the options.
    dialog.get_by_text("Select Connection Type").click(force=True)
    page.keyboard.type("HTTP")
    page.get_by_role("option", name=re.compile("^HTTP$")).click()
    dialog.locator("input[name=host]").fill("example.invalid")
    assert _answered(journey, "POST", r"/api/v2/connections$",
                     dialog.get_by_role("button", name="Save").click).status == 201
    row = page.get_by_role("row").filter(has_text="ui_http")
    expect(row).to_be_visible()
    assert server.client.get("/api/v2/connections/ui_http").json()["conn_type"] == "http"
    journey.check("connection-created", "ui_http")
    row.get_by_role("button", name=re.compile("Edit Connection", re.I)).click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=host]").fill("api.example.invalid")
    assert _answered(journey, "PATCH", r"/api/v2/connections/ui_http",
                     dialog.get_by_role("button", name="Save").click).status == 200
    assert server.client.get("/api/v2/connections/ui_http").json()["host"] == \
        "api.example.invalid"
    row.get_by_role("button", name=re.compile("Delete Connection", re.I)).click()
    assert _answered(journey, "DELETE", r"/api/v2/connections/ui_http",
                     confirm_delete(page).click).status == 204
    assert server.client.get("/api/v2/connections/ui_http").status_code == 404


def _pick_date(page: Page, which: int, day: str, time_of_day: str) -> None:
    """The backfill form's date pickers: a popover with a date and a time text input."""
    page.get_by_role("dialog").get_by_test_id("datetime-input").nth(which).click()
    date_box = page.get_by_placeholder("YYYY/MM/DD").last
    expect(date_box).to_be_visible()
    date_box.fill(day)
    page.get_by_placeholder("HH:mm").last.fill(time_of_day)
    page.get_by_role("dialog").get_by_text("Date Range").click()  # closes the popover


def test_backfill_from_the_trigger_dialog(journey: Journey) -> None:
    """Trigger -> Backfill on a daily DAG: a date range, the dry run's count, Run Backfill;
    the banner shows the backfill in progress and its runs exist with run_type backfill."""
    page, server = journey.page, journey.server
    journey.watch.reset()
    journey.go("/dags/ui_report", reload=True)
    page.get_by_role("button", name="Trigger Dag").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run this Dag for a range of dates").click()
    # All three at once: they exist (queued) even while another DAG's task holds a slot.
    dialog.locator("input[type=number]").fill("3")
    _pick_date(page, 0, "2026/03/01", "00:00")
    with page.expect_response(lambda r: r.url.endswith("/api/v2/backfills/dry_run")
                              and '"to_date":"2026-03-03' in (r.request.post_data or "")
                              ) as dry:
        _pick_date(page, 1, "2026/03/03", "00:00")
    assert dry.value.status == 200, dry.value.text()
    dates = [d["logical_date"][:10] for d in dry.value.json()["backfills"]]
    assert dates == ["2026-03-01", "2026-03-02", "2026-03-03"], dates
    expect(dialog.get_by_text("3 runs will be triggered.")).to_be_visible()
    journey.check("backfill-dry-run", "3 runs will be triggered.")
    made = _answered(journey, "POST", r"/api/v2/backfills$",
                     dialog.get_by_role("button", name="Run Backfill").click)
    assert made.status == 200, made.text()
    backfill = made.json()
    assert backfill["dag_id"] == "ui_report" and backfill["max_active_runs"] == 3
    expect(page.get_by_text("Backfill in progress")).to_be_visible()
    journey.check("backfill-banner", "Backfill in progress")

    def runs() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = server.client.get(
            "/api/v2/dags/ui_report/dagRuns", params={"run_type": "backfill"}).json()["dag_runs"]
        return found

    _until("the backfill's three runs", lambda: len(runs()) == 3)
    assert sorted(r["logical_date"][:10] for r in runs()) == dates
    assert {r["run_type"] for r in runs()} == {"backfill"}
    journey.visit("backfill-runs", "/dags/ui_report/runs?run_type=backfill",
                  *(r["dag_run_id"] for r in runs()))


def _folded_values(page: Page) -> list[str]:
    """The XCom values the page shows, whitespace removed (the UI's JSON editor indents)."""
    return [re.sub(r"\s+", "", text).removesuffix("Copy")
            for text in page.get_by_test_id("xcom-value").all_inner_texts()]


def test_xcom_list_values_unfold(journey: Journey) -> None:
    """A list XCom (extract's, double's) shows folded, as '[ ]', like on Airflow: the API
    answers the list itself for the UI's deserialize=true&stringify=false, and the page's
    expand toggle unfolds it to its items."""
    _sqlite_only(journey)
    page, server = journey.page, journey.server
    etl = server.runs["ui_etl"]
    run = f"/dags/ui_etl/runs/{quote(etl, safe='')}"
    answer = server.client.get(f"/api/v2/dags/ui_etl/dagRuns/{quote(etl, safe='')}"
                               "/taskInstances/extract/xcomEntries/return_value",
                               params={"deserialize": "true", "stringify": "false"}).json()
    assert answer["value"] == [0, 1, 2, 3], answer
    journey.watch.reset()
    journey.go(f"{run}/tasks/extract/xcom", reload=True)
    expect(page.get_by_test_id("xcom-value").first).to_contain_text("[")
    page.get_by_role("button", name=re.compile("expand", re.I)).first.click()
    expect(page.get_by_test_id("xcom-value").first).to_contain_text("3")
    assert _folded_values(page) == ["[0,1,2,3]"], _folded_values(page)
    journey.check("task-instance-xcom-unfolded", "return_value")
    journey.go("/xcoms", reload=True)
    double = page.get_by_role("row").filter(has_text="double").first.get_by_test_id("xcom-value")
    expect(double).to_contain_text("[")
    page.get_by_role("button", name=re.compile("expand", re.I)).first.click()
    expect(double).to_contain_text("6")
    assert re.sub(r"\s+", "", double.inner_text()).removesuffix("Copy") == "[0,2,4,6]"
    journey.check("xcoms-unfolded", "double")


def test_dag_dependencies_graph(journey: Journey) -> None:
    """/ui/dependencies answers Airflow's graph: producer -> asset -> consumer, and the
    asset page's graph draws both DAGs from it."""
    _sqlite_only(journey)
    page, server = journey.page, journey.server
    asset = next(a for a in server.client.get("/api/v2/assets").json()["assets"]
                 if a["name"] == "ui_orders")
    node = f"asset:{asset['id']}"
    graph = server.client.get("/ui/dependencies").json()
    edges = {(e["source_id"], e["target_id"]) for e in graph["edges"]}
    assert {("dag:ui_orders_producer", node), (node, "dag:ui_orders_consumer")} <= edges, graph
    assert {"id": node, "label": "ui_orders", "type": "asset"} in graph["nodes"]
    assert "dag:ui_idle" not in {n["id"] for n in graph["nodes"]}  # no link, not drawn
    part = server.client.get("/ui/dependencies", params={"node_id": "dag:ui_orders_consumer"})
    assert {n["id"] for n in part.json()["nodes"]} == {
        "dag:ui_orders_producer", node, "dag:ui_orders_consumer"}, part.text
    data = server.client.get("/ui/dependencies", params={"node_id": node,
                                                         "dependency_type": "data"}).json()
    assert {"source_id": "task:ui_orders_producer__SEPARATOR__write_orders",
            "target_id": node} in data["edges"], data
    assert server.client.get("/ui/dependencies", params={"node_id": "dag:nowhere"}
                             ).status_code == 404
    journey.watch.reset()
    with page.expect_response(lambda r: "/ui/dependencies" in r.url
                              and quote(node, safe="") in r.url) as seen:
        journey.go(f"/assets/{asset['id']}", reload=True)
    assert seen.value.status == 200 and seen.value.json()["edges"], seen.value.text()
    for dag_id in ("ui_orders_producer", "ui_orders_consumer"):
        expect(page.locator(".react-flow__node").filter(has_text=dag_id).first).to_be_visible()
    journey.check("asset-dependencies-graph", "ui_orders")


def test_code_of_each_version(journey: Journey) -> None:
    """A DAG with runs whose file changes gets a second version (one without runs is
    updated in place, as in Airflow): its Code tab shows version 2's source, and
    version 1's when the page asks for that version."""
    _sqlite_only(journey)
    page, server = journey.page, journey.server
    (server.base / "dags" / "report.py").write_text(
        REPORT.replace('tags=["report"]', 'tags=["report"], doc_md="Report, version two."'),
        "utf-8")
    _until("ui_report's second version", lambda: server.client.get(
        "/api/v2/dags/ui_report/dagVersions").json()["total_entries"] == 2, limit_s=60)
    sources = re.compile(r"/api/v2/dagSources/ui_report")
    journey.watch.reset()
    with page.expect_response(sources) as latest:
        journey.go("/dags/ui_report/code", reload=True)
    assert "version two" in latest.value.json()["content"], latest.value.url
    journey.check("dag-code-version-2", "Report, version two.")
    journey.watch.reset()
    with page.expect_response(lambda r: sources.search(r.url) is not None
                              and "version_number=1" in r.url) as first:
        journey.go("/dags/ui_report/code?version_number=1")
    assert first.value.status == 200, first.value.text()
    assert "version two" not in first.value.json()["content"]
    expect(page.get_by_text("Report, version two.")).to_have_count(0)
    journey.check("dag-code-version-1", "publish")
    assert not journey.failed, "\n".join(journey.failed)


def test_a_viewer_cannot_trigger_and_logs_out(browser: Browser, journey: Journey) -> None:
    """A Viewer signs in, sees the DAG with Trigger disabled and an Admin menu without
    Variables and Pools; the admin
    logs out through the user menu and is back on the login page."""
    _sqlite_only(journey)
    server = journey.server
    context = _context(browser)
    try:
        page = context.new_page()
        viewer = Journey(page, server, Watch(page), journey.shots)
        log_in(page, server.url, "ui_viewer", VIEWER_PASSWORD)
        viewer.visit("viewer-dag", "/dags/ui_etl", "extract")
        expect(page.get_by_test_id("trigger-dag-button").first).to_be_disabled()
        page.get_by_role("button", name="Admin").click()  # what a Viewer may read only
        expect(page.get_by_role("menuitem", name="Providers")).to_be_visible()
        expect(page.get_by_role("menuitem", name="Variables")).to_have_count(0)
        expect(page.get_by_role("menuitem", name="Pools")).to_have_count(0)
        assert not viewer.failed, viewer.failed
    finally:
        context.close()

    page = journey.page
    journey.go("/")
    page.get_by_role("button", name="User").click()
    page.get_by_role("menuitem", name="Logout").click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile("Confirm|Logout")).click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    assert httpx.get(server.url + "/ui/auth/me", cookies={
        c["name"]: c["value"] for c in page.context.cookies()}).status_code == 401
