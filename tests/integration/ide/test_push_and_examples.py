"""Push to cluster (against a real control-plane API) and Download examples (through the
lite command's copy_examples), from the pages and below them."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from leoflow.ide.examples import first_pass, overwrite_pass
from leoflow.ide.push import (
    PushSettings,
    compile_for_push,
    describe_error,
    load_settings,
    push_document,
    save_settings,
    settings_path,
)
from tests.integration.ide.conftest import EXAMPLES, PASSWORD, Ide, wait_for


@pytest.fixture
async def cluster(plane: Any, auth: Any) -> httpx.ASGITransport:
    """A "Pro" server's API in process: create_api on a real control plane."""
    from leoflow.engine.api import ApiContext, create_api

    app = create_api(ApiContext(store=plane.store, operations=plane.operations, auth=auth,
                                xcom=plane.xcom, logs=plane.logs, version="test",
                                started_at=datetime.now(UTC)))
    return httpx.ASGITransport(app)


def test_settings_are_remembered_per_workspace_and_private(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == PushSettings()
    save_settings(tmp_path, PushSettings("https://pro.example", "tok"))
    assert load_settings(tmp_path) == PushSettings("https://pro.example", "tok")
    mode = stat.S_IMODE(settings_path(tmp_path).stat().st_mode)
    assert mode == 0o600
    settings_path(tmp_path).write_text("[not an object]")
    assert load_settings(tmp_path) == PushSettings()


def test_server_errors_read_as_one_message() -> None:
    assert describe_error(401, {"detail": "Not authenticated"}) == "401: Not authenticated"
    assert describe_error(422, {"detail": [{"loc": ["body", "tasks", 0, "upstream"],
                                            "msg": "unknown task", "type": "dag_graph"}]}) \
        == "422: tasks.0.upstream: unknown task"
    assert describe_error(500, None) == "500: the server refused the push"


async def test_push_registers_a_version_and_reports_errors(
        ide: Ide, cluster: httpx.ASGITransport, auth: Any) -> None:
    document, source = await compile_for_push(ide.plane.services, ide.workspace / "examples/hello",
                                              "hello")
    token = await auth.login("admin", PASSWORD, client="test")
    first = await push_document("http://cluster", token, document, source, transport=cluster)
    assert first.ok and first.created and first.version_number == 1, first.message
    assert first.message.startswith("hello registered as version 1 on http://cluster. "
                                    "It is paused there"), first.message
    assert "leoflow dags unpause hello --server http://cluster" in first.message
    again = await push_document("http://cluster", token, document, source, transport=cluster)
    assert again.ok and not again.created and again.message.startswith("hello unchanged")
    refused = await push_document("http://cluster", "wrong", document, transport=cluster)
    assert not refused.ok and refused.status == 403
    broken = dict(document, content_hash="sha256:" + "0" * 64)
    invalid = await push_document("http://cluster", token, broken, transport=cluster)
    assert not invalid.ok and invalid.status == 422 and "content_hash" in invalid.message
    assert not (await push_document("ftp://x", token, document)).ok
    unreachable = await push_document("http://127.0.0.1:9", token, document)
    assert not unreachable.ok and unreachable.message.startswith("cannot reach")


async def test_the_push_dialog_remembers_the_server_and_shows_the_answer(ide: Ide) -> None:
    await ide.register("examples/hello")
    await ide.login()
    await ide.user.open("/dags/hello")
    (await ide.find("dag-push")).click()
    (await ide.find("push-server")).type("http://127.0.0.1:9")
    (await ide.find("push-token")).type("secret-token")
    (await ide.find("push-submit")).click()
    result = await ide.element("push-result")
    await wait_for(lambda: result.text.startswith("cannot reach"), what="the push's answer")
    assert load_settings(ide.workspace) == PushSettings("http://127.0.0.1:9", "secret-token")
    (await ide.find("dag-push")).click()  # opened again: remembered
    server = await wait_for(lambda: [e for e in ide.elements("push-server")
                                     if e.value == "http://127.0.0.1:9"], what="remembered")
    assert server


def copier(source: Path) -> Any:
    from tests.integration.ide.conftest import fake_copy_examples

    return fake_copy_examples(source)


def test_examples_copy_then_ask_only_about_changed_files(tmp_path: Path) -> None:
    source = tmp_path / "bundled"
    for name in ("hello", "retries"):
        (source / name).mkdir(parents=True)
        for file in ("dag.py", "leoflow.yaml"):
            (source / name / file).write_text((EXAMPLES / name / file).read_text())
    copy = copier(source)
    workspace = tmp_path / "ws"
    outcome = first_pass(copy, workspace)
    assert sorted(outcome.written) == ["hello/dag.py", "hello/leoflow.yaml", "retries/dag.py",
                                       "retries/leoflow.yaml"]
    assert outcome.conflicts == []
    mine = workspace / "examples" / "hello" / "dag.py"
    mine.write_text("# my version\n")
    (workspace / "examples" / "retries" / "dag.py").write_text("# mine too\n")
    outcome = first_pass(copy, workspace)
    assert sorted(outcome.conflicts) == ["hello/dag.py", "retries/dag.py"]
    assert mine.read_text() == "# my version\n"  # never overwritten without asking
    outcome = overwrite_pass(copy, workspace, ["hello/dag.py"])
    assert outcome.conflicts == ["retries/dag.py"]
    assert mine.read_text() == (EXAMPLES / "hello" / "dag.py").read_text()
    assert (workspace / "examples" / "retries" / "dag.py").read_text() == "# mine too\n"


async def test_download_examples_button_asks_before_replacing(ide: Ide) -> None:
    if ide.services.copy_examples is None:
        pytest.skip("leoflow.app.workspace is not there")
    await ide.login()
    (await ide.find("download-examples")).click()
    await ide.see("Examples are in")
    assert (ide.workspace / "examples" / "taskflow_etl" / "dag.py").is_file()
    changed = ide.workspace / "examples" / "hello" / "dag.py"
    changed.write_text("# changed by me\n")
    (await ide.find("download-examples")).click()
    await ide.see("You changed some example files")
    box = await wait_for(lambda: [e for e in ide.user.client.elements.values()
                                  if e.props.get("data-file") == "hello/dag.py"],
                         what="the question about hello/dag.py")
    assert box[0].value is False
    (await ide.find("examples-keep")).click()
    await ide.see("Your 1 changed file(s) were kept")  # closing the dialog says what it did
    assert changed.read_text() == "# changed by me\n"
    (await ide.find("download-examples")).click()
    box = await wait_for(lambda: [e for e in ide.user.client.elements.values()
                                  if e.props.get("data-file") == "hello/dag.py"
                                  and not e.is_deleted], what="asked again")
    box[0].value = True
    (await ide.find("examples-replace")).click()
    await wait_for(lambda: changed.read_text() != "# changed by me\n", what="replaced")
    manifest = json.loads((ide.workspace / "examples" / ".leoflow-examples.json").read_text())
    assert "hello/dag.py" in manifest["files"]
