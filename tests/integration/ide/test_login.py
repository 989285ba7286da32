"""Logging in: every page needs it; a wrong password says so; logging out ends it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.ide.conftest import Ide

PAGES = ["/", "/dags", "/editor", "/dags/hello", "/dags/hello/runs/r1/tasks/t1",
         "/editor?file=examples/hello/dag.py"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_sends_a_stranger_to_the_login_page(ide: Ide, path: str) -> None:
    await ide.user.open(path)
    await ide.see("Log in to your workspace")
    await ide.user.should_not_see("Restore bundled examples")


async def test_the_redirect_remembers_where_the_user_was_going(ide: Ide) -> None:
    response = await ide.user.http_client.get("/editor?file=a.py")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Feditor%3Ffile%3Da.py"


async def test_a_wrong_password_is_refused_with_a_message(ide: Ide) -> None:
    await ide.user.open("/login")
    (await ide.find("login-username")).type("admin")
    (await ide.find("login-password")).type("not-the-password")
    (await ide.find("login-submit")).click()
    await ide.see("Invalid credentials")
    await ide.user.should_not_see("Restore bundled examples")


async def test_login_shows_the_header_and_logout_ends_the_session(ide: Ide) -> None:
    await ide.login()
    await ide.see("LITE")
    await ide.see(str(ide.workspace))
    await ide.see("admin")
    (await ide.find("logout")).click()
    await ide.see("Log in to your workspace")
    await ide.user.open("/dags")
    await ide.see("Log in to your workspace")


async def test_login_leads_to_the_page_asked_for(ide: Ide) -> None:
    await ide.user.open("/editor")
    (await ide.find("login-username")).type("admin")
    (await ide.find("login-password")).type("ide-test-password-1")
    (await ide.find("login-submit")).click()
    await ide.element("file-tree")


async def test_next_never_leads_off_the_server(ide: Ide) -> None:
    from leoflow.ide.session import safe_next

    assert safe_next("https://evil.example/") == "/"
    assert safe_next("//evil.example/x") == "/"
    assert safe_next("/dags/x?run_id=1") == "/dags/x?run_id=1"
    assert safe_next(None) == "/"


async def test_a_viewer_reads_but_cannot_change_files_or_runs(ide: Ide, auth: Any) -> None:
    from leoflow.engine.auth.permissions import Principal

    admin = Principal("admin", "Admin")
    await auth.users.create_user(admin, "viewer", "viewer-password-1", "Viewer")
    await ide.register("examples/hello")
    await ide.user.open("/login")
    (await ide.find("login-username")).type("viewer")
    (await ide.find("login-password")).type("viewer-password-1")
    (await ide.find("login-submit")).click()
    toggle = await ide.element("pause-hello")
    assert not toggle.enabled
    assert not (await ide.element("trigger-hello")).enabled
    await ide.user.open("/editor?file=examples/hello/dag.py")
    editor = await ide.element("code-editor")
    assert not editor.enabled
    (await ide.find("new-file")).click()
    await ide.see("Role Viewer may read files here but not change them")
    assert ide.elements("name-input") == []
