"""Tenants and stale permissions in the IDE, in Chromium against a real ``leoflow lite``
(docs/security.md, "The IDE: tenants and permissions").

* A Viewer of another tenant logs in: the DAGs page lists none of the default tenant's
  DAGs, the DAG page of one answers that there is no such DAG, and its editor shows no
  file of the default tenant.
* An Op opens a file in the editor and types; an administrator demotes it to Viewer over
  the API while the page stays open; Ctrl+S then refuses and the file on disk is unchanged.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import LiteServer

pytestmark = pytest.mark.slow


def admin(lite: LiteServer) -> httpx.Client:
    answer = httpx.post(f"{lite.url}/auth/token",
                        json={"username": "admin", "password": lite.password}, timeout=30)
    assert answer.status_code == 201, answer.text
    return httpx.Client(base_url=lite.url, timeout=30, headers={
        "Authorization": f"Bearer {answer.json()['access_token']}"})


def add_user(lite: LiteServer, username: str, role: str, tenant: str) -> str:
    password = f"{username}-password-1"
    with admin(lite) as client:
        answer = client.post("/api/leoflow/users", json={
            "username": username, "password": password, "role": role, "tenant": tenant})
        assert answer.status_code == 201, answer.text
    return password


def log_in_as(page: Page, lite: LiteServer, username: str, password: str) -> None:
    page.goto(lite.url + "/dags")
    page.locator("[data-testid=login-username]").fill(username)
    page.locator("[data-testid=login-password]").fill(password)
    page.locator("[data-testid=login-submit]").click()
    expect(page.locator("[data-testid=download-examples]")).to_be_visible()


def test_a_viewer_of_another_tenant_sees_none_of_its_dags(page: Page, lite: LiteServer) -> None:
    with admin(lite) as client:  # the default tenant's DAGs exist
        dags = client.get("/api/v2/dags").json()["dags"]
    assert any(d["dag_id"] == "hello" for d in dags)
    password = add_user(lite, "vera", "Viewer", "acme")
    log_in_as(page, lite, "vera", password)
    expect(page.get_by_text("No DAGs yet.")).to_be_visible()
    expect(page.locator("[data-testid^=dag-link-]")).to_have_count(0)
    page.goto(lite.url + "/dags/hello")
    expect(page.locator("[data-testid=no-dag]")).to_have_text("There is no DAG 'hello'.")
    expect(page.locator("[data-testid=dag-grid]")).to_have_count(0)
    page.goto(lite.url + "/editor?file=examples/hello/dag.py")
    expect(page.get_by_text("no such file")).to_be_visible()
    expect(page.locator("[data-testid=editor-path]")).to_have_text("No file open")
    expect(page.locator("[data-testid=file-tree]").get_by_text("examples")).to_have_count(0)


def test_an_open_editor_of_a_demoted_user_cannot_save(page: Page, lite: LiteServer) -> None:
    path = lite.workspace / "examples/hello/dag.py"
    before = path.read_text("utf-8")
    password = add_user(lite, "dora", "Op", "default")
    log_in_as(page, lite, "dora", password)
    page.goto(lite.url + "/editor?file=examples/hello/dag.py")
    expect(page.locator("[data-testid=editor-path]")).to_have_text("examples/hello/dag.py")
    page.locator("[data-testid=code-editor] .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\n# typed by dora\n")
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_visible()
    with admin(lite) as client:  # demoted while the page stays open
        answer = client.patch("/api/leoflow/users/dora", json={"role": "Viewer"})
        assert answer.status_code == 200, answer.text
    page.keyboard.press("Control+s")
    expect(page.get_by_text("may not change DAG files")).to_be_visible()
    expect(page.locator("[data-testid=unsaved-marker]")).to_be_visible()
    assert path.read_text("utf-8") == before
