"""The IDE's connection form offers the connection types of the providers installed in the
tenant's DAG environments, and shapes its fields by the chosen type's hook (Chromium).

The Lite's DAG lists the real Airflow 3.3.2 and providers; its environment is the session's
(``tests/real_airflow.py``), found under the Lite's home by its key: environments are named
by their contents, so a link named ``env-<key>`` is that environment.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import LAUNCH, START_TIMEOUT, LiteServer, _wait_for, log_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory, real_airflow) -> Iterator[LiteServer]:
    base = tmp_path_factory.mktemp("lite-providers")
    home, workspace, output = base / ".leoflow", base / "leoflow", base / "lite.log"
    env = real_airflow.environment
    (home / "venvs").mkdir(parents=True)
    (home / "venvs" / env.path.name).symlink_to(env.path, target_is_directory=True)
    real_airflow.project(workspace / "warehouse", "warehouse",
                         "from leoflow import DAG, task\n"
                         "with DAG('warehouse', schedule=None):\n"
                         "    @task\n"
                         "    def load():\n"
                         "        return 1\n"
                         "    load()\n")
    server = LiteServer("", "", home, workspace, None, output)  # type: ignore[arg-type]
    with open(output, "wb") as sink:
        server.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "lite", "--no-browser", "--port", "0",
             "--workspace", str(workspace)], env=server.env(), stdout=sink,
            stderr=subprocess.STDOUT, cwd=home)  # not base: its leoflow/ would shadow the package
    try:
        server.url = _wait_for(server, r"is ready in [\d.]+ s: (http://127\.0\.0\.1:\d+)",
                               START_TIMEOUT).group(1)
        server.password = _wait_for(server, r"password\s+(\S+)", 5).group(1)
        _wait_for(server, r"projects registered from", START_TIMEOUT)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGINT)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(10)


def test_the_connection_form_knows_the_providers_connection_types(
        page: Page, lite: LiteServer) -> None:
    log_in(page, lite, path="/admin/connections")
    page.locator("[data-testid=connections-add]").click()
    form = page.locator("[data-testid=connection-form]")
    choices = form.locator("[data-testid=conn_type-choices]")
    for kind in ("sqlite", "postgres", "http", "fs", "generic"):
        expect(choices.locator(f"[data-choice={kind}]")).to_be_visible()
    conn_type = form.locator("[data-field=conn_type]")  # on the native input

    def field(name: str) -> Any:  # the whole field: its label, input and hint
        return form.locator(f".q-field:has([data-field={name}])")

    # PostgreSQL's hook calls the schema "Database"
    choices.locator("[data-choice=postgres]").click()
    expect(conn_type).to_have_value("postgres")
    expect(field("schema")).to_contain_text("Database")
    expect(field("host")).to_be_visible()
    # a filesystem connection has no host, login, password or port
    choices.locator("[data-choice=fs]").click()
    expect(conn_type).to_have_value("fs")
    for hidden in ("host", "port", "login", "password"):
        expect(field(hidden)).to_be_hidden()
    expect(field("schema")).to_contain_text("Schema")  # back to the default label
    form.locator("[data-field=connection_id]").fill("landing")
    form.locator("[data-testid=connection-form-save]").click()
    expect(page.locator("[data-testid=connections-result]")).to_have_text(
        "Connection landing added")
    expect(page.locator("[data-testid=connections-table] tr", has_text="landing")
           ).to_contain_text("fs")
