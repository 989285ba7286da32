"""The IDE's tenants and stale permissions, attacked through the IDE's own pages and
buttons (docs/security.md, "The IDE: tenants and permissions").

Everything is real behind the simulated browser: the control plane on SQLite, the
AuthService and its users in the store, the compiler, agents running the example DAGs.

* A Viewer of tenant ``acme`` lists no DAG of the default tenant, cannot open its DAG page,
  its run, its log or its XCom, and sees none of its workspace files.
* An Op of ``acme`` cannot open or overwrite the default tenant's files: its editor is its
  tenant's folder (``tenants/acme/``), and what it creates lands there; a project there
  registers ``acme``'s DAGs (and cannot take a default tenant's dag_id).
* A page opened before its user was demoted or deleted acts as the user is now: the open
  editor cannot save, the open task panel cannot mark or clear, the open Trigger dialog
  cannot trigger.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from leoflow.engine.auth.permissions import Principal
from leoflow.engine.store import dags, runs, task_instances
from tests.integration.ide.conftest import Ide, wait_for
from tests.integration.ide.test_runs import wait_run
from tests.task_user_reach import passage_for_task_users

ADMIN = Principal("admin", "Admin", "default")
SECRET_WORD = "Hello"  # hello's shout task logs and returns text with it


async def add_user(ide: Ide, username: str, role: str, tenant: str) -> str:
    password = f"{username}-password-1"
    await ide.services.auth.users.create_user(ADMIN, username, password, role, tenant=tenant)
    return password


async def log_in_as(ide: Ide, username: str, password: str) -> None:
    await ide.user.open("/login")
    (await ide.find("login-username")).type(username)
    (await ide.find("login-password")).type(password)
    (await ide.find("login-submit")).click()
    await ide.element("download-examples")


async def hello_run(ide: Ide) -> str:
    """hello, registered from the workspace (default tenant) and run once to success."""
    await ide.register("examples/hello")
    await ide.plane.operations.set_paused("hello", False)
    run = await ide.plane.operations.trigger_run("hello", triggered_by="test")
    assert await wait_run(ide, "hello") == "success"
    return run.run_id


@pytest.fixture
def tenant_compiles(ide: Ide, ide_home: Path) -> Iterator[None]:
    """A tenant's project compiles as its tenant's user (docs/security.md, "What isolates
    tenants"): as root, that user passes through the suite's private folders; not root,
    the control plane compiles it as itself only with LEOFLOW_ALLOW_SHARED_UID's consent."""
    users = ide.plane.subprocess_executor.task_users
    if os.geteuid() != 0 and users is not None:
        users.allow_shared = True
    with passage_for_task_users(ide_home, ide.workspace):
        yield


def tree_ids(ide: Ide) -> list[str]:
    ids: list[str] = []

    def walk(nodes: list[dict]) -> None:
        for node in nodes:
            ids.append(node["id"])
            walk(node.get("children") or [])

    for tree in ide.elements("file-tree"):
        walk(tree.props.get("nodes") or [])
    return ids


async def test_a_viewer_of_another_tenant_sees_no_dag_run_log_xcom_or_file(
        ide: Ide, environments: dict[str, Path]) -> None:
    run_id = await hello_run(ide)
    password = await add_user(ide, "vera", "Viewer", "acme")
    await log_in_as(ide, "vera", password)
    # the DAGs page: none of the default tenant's DAGs
    await ide.see("No DAGs yet.")
    assert not ide.elements("dag-link-hello")
    # the DAG page, its run, its task's log and XCom: as if there were no such DAG
    await ide.user.open(f"/dags/hello?run_id={quote(run_id)}&task_id=shout")
    await ide.element("no-dag")
    assert not ide.elements("dag-grid") and not ide.elements("task-log")
    await ide.user.open(f"/dags/hello/runs/{quote(run_id)}/tasks/shout")
    await ide.element("no-dag")
    assert not ide.elements("task-panel")
    # the workspace: its own (empty) folder only; the default tenant's file does not open
    await ide.user.open("/editor?file=examples/hello/dag.py")
    await ide.element("file-tree")
    await ide.see("no such file")
    assert ide.elements("editor-path")[0].text == "No file open"
    assert not any(i.startswith(("examples", "tenants")) for i in tree_ids(ide))
    assert (ide.workspace / "tenants" / "acme").is_dir()


@pytest.mark.usefixtures("tenant_compiles")
async def test_an_op_of_another_tenant_cannot_touch_the_default_tenants_files(
        ide: Ide, environments: dict[str, Path]) -> None:
    await ide.register("examples/hello")
    original = (ide.workspace / "examples/hello/dag.py").read_text("utf-8")
    password = await add_user(ide, "olga", "Op", "acme")
    await log_in_as(ide, "olga", password)
    await ide.user.open("/editor?file=examples/hello/dag.py")
    await ide.element("file-tree")
    await ide.see("no such file")
    assert ide.elements("editor-path")[0].text == "No file open"
    # a path climbing out of its folder is refused by the same check
    await ide.user.open("/editor?file=../../examples/hello/dag.py")
    await ide.see("'.' and '..' are not allowed")
    # what it creates lands in its own folder, never over the default tenant's file
    (await ide.find("new-folder")).click()
    (await ide.find("name-input")).type("examples")
    (await ide.find("name-ok")).click()
    await wait_for(lambda: (ide.workspace / "tenants/acme/examples").is_dir(),
                   what="the new folder")
    assert (ide.workspace / "examples/hello/dag.py").read_text("utf-8") == original
    # its own project registers acme's DAGs, shown to it and not to the default tenant
    shutil.copytree(ide.workspace / "examples/montecarlo_pi",
                    ide.workspace / "tenants/acme/montecarlo_pi")
    await ide.user.open("/editor?file=montecarlo_pi/dag.py")
    editor = await ide.element("code-editor")
    await wait_for(lambda: editor.enabled, what="the editor to open the file")
    editor.value = editor.value + "\n"
    (await ide.find("save")).click()
    await ide.see("Saved montecarlo_pi/dag.py")

    async def tenant_of(dag_id: str) -> str | None:
        async with ide.plane.store.connect() as conn:
            row = await dags.get_dag(conn, dag_id)
        return row.tenant if row else None

    assert await wait_for(lambda: tenant_of("montecarlo_pi"), 120,
                          "montecarlo_pi to register") == "acme"
    await ide.user.open("/dags")
    await ide.element("dag-link-montecarlo_pi")
    assert not ide.elements("dag-link-hello")
    # a project of its folder naming the default tenant's dag_id does not take it over
    shutil.copytree(ide.workspace / "examples/hello", ide.workspace / "tenants/acme/hello")
    await ide.user.open("/editor?file=hello/dag.py")
    editor = await ide.element("code-editor")
    await wait_for(lambda: editor.enabled, what="the editor to open the file")
    editor.value = editor.value + "\n"
    (await ide.find("save")).click()
    await ide.see("is not available")
    assert await tenant_of("hello") == "default"


async def test_an_editor_opened_before_a_demotion_or_deletion_cannot_save(ide: Ide) -> None:
    path = ide.workspace / "examples/hello/dag.py"
    original = path.read_text("utf-8")
    password = await add_user(ide, "dora", "Op", "default")
    await log_in_as(ide, "dora", password)
    await ide.user.open("/editor?file=examples/hello/dag.py")
    editor = await ide.element("code-editor")
    await wait_for(lambda: editor.enabled, what="the editor to be writable")
    # demoted to Viewer while the page stays open
    await ide.services.auth.users.update_user(ADMIN, "dora", role="Viewer")
    editor.value = original + "# written after the demotion\n"
    (await ide.find("save")).click()
    await ide.see("may not change DAG files")
    assert path.read_text("utf-8") == original
    # promoted again, then deleted: the same open page still cannot save
    await ide.services.auth.users.update_user(ADMIN, "dora", role="Op")
    (await ide.find("save")).click()
    await ide.see("Saved examples/hello/dag.py")
    await ide.services.auth.users.delete_user(ADMIN, "dora")
    editor.value = original + "# written after the deletion\n"
    (await ide.find("save")).click()
    await ide.see("your session has ended")
    assert "after the deletion" not in path.read_text("utf-8")
    # and nothing else that needs writing goes through: creating a file
    (await ide.find("new-file")).click()
    (await ide.find("name-input")).type("planted.py")
    (await ide.find("name-ok")).click()
    await ide.see("your session has ended")
    assert not (ide.workspace / "examples/hello/planted.py").exists()


async def test_a_task_panel_and_trigger_dialog_opened_before_a_demotion_cannot_act(
        ide: Ide, environments: dict[str, Path]) -> None:
    run_id = await hello_run(ide)
    password = await add_user(ide, "uma", "User", "default")
    await log_in_as(ide, "uma", password)
    await ide.user.open(f"/dags/hello?run_id={quote(run_id)}&task_id=shout")
    await ide.element("ti-mark-failed")
    await ide.services.auth.users.update_user(ADMIN, "uma", role="Viewer")
    (await ide.find("ti-mark-failed")).click()
    await ide.see("may not trigger, clear, mark or pause")
    (await ide.find("ti-clear")).click()
    (await ide.find("clear-confirm")).click()
    await ide.see("may not trigger, clear, mark or pause")
    async with ide.plane.store.connect() as conn:
        run = await runs.get_run(conn, "hello", run_id)
        states = {ti.task_id: ti.state for ti in await task_instances.list_for_run(conn, run.id)}
    assert run.state == "success" and set(states.values()) == {"success"}
    # the Trigger dialog, opened while allowed, refuses once the user was demoted
    await ide.services.auth.users.update_user(ADMIN, "uma", role="User")
    (await ide.find("dag-trigger")).click()
    submit = await ide.find("trigger-submit")
    await ide.services.auth.users.update_user(ADMIN, "uma", role="Viewer")
    submit.click()
    await ide.see("may not trigger, clear, mark or pause")
    async with ide.plane.store.connect() as conn:
        assert len((await runs.list_runs(conn, dag_id="hello")).items) == 1
