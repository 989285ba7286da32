"""POST /api/leoflow/dags (leoflow push) and the version routes, on a real store.

A refused document must leave no trace: no DAG row, no version, no audit row.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from leoflow.engine.spec.canonical import with_content_hash
from leoflow.engine.store import audit, dags, tables
from tests.integration.api_leoflow.conftest import bearer

OP = bearer("op-token")


def body_of(project: Any, **changes: Any) -> dict[str, Any]:
    """The hello document (re-hashed after ``changes``) with its source code."""
    document = project.document("hello")
    if changes:
        document = with_content_hash({**document, **changes})
    return {**document, "source_code": project.source}


async def counts(client: httpx.AsyncClient) -> dict[str, int]:
    store = client.app.state.context.store  # type: ignore[attr-defined]
    async with store.connect() as conn:
        return {name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                for name, table in (("dags", tables.dag), ("versions", tables.dag_version),
                                    ("audit", tables.audit_log))}


async def test_push_registers_a_paused_dag_in_the_callers_tenant(client, hello):
    response = await client.post("/api/leoflow/dags", json=body_of(hello), headers=OP)
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["dag_id"] == "hello"
    assert version["version_number"] == 1
    assert version["content_hash"] == hello.document("hello")["content_hash"]
    assert version["created"] is True and version["is_current"] is True
    assert version["is_paused"] is True
    assert version["created_at"].endswith("Z")
    store = client.app.state.context.store
    async with store.connect() as conn:
        dag = await dags.get_dag(conn, "hello")
        stored = await dags.get_version_by_number(conn, "hello", 1)
        events = (await audit.list_events(conn, dag_id="hello", limit=None)).items
    assert dag.tenant == "default" and dag.is_paused
    assert stored.source_code == hello.source
    assert "source_code" not in stored.spec
    assert [(e.event, e.username) for e in events] == [("register_version", "olivia")]


async def test_same_content_is_the_same_version_and_new_content_a_new_one(client, hello):
    first = await client.post("/api/leoflow/dags", json=body_of(hello), headers=OP)
    again = await client.post("/api/leoflow/dags", json=body_of(hello), headers=OP)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    changed = await client.post("/api/leoflow/dags", headers=OP,
                                json=body_of(hello, description="second edition"))
    assert changed.status_code == 201
    assert changed.json()["version_number"] == 2

    listing = await client.get("/api/leoflow/dags/hello/versions", headers=OP)
    assert listing.status_code == 200
    page = listing.json()
    assert page["total_entries"] == 2
    assert [(v["version_number"], v["is_current"]) for v in page["versions"]] == [
        (1, False), (2, True)]
    one = await client.get("/api/leoflow/dags/hello/versions/1", headers=OP)
    assert one.status_code == 200
    assert one.json()["spec"] == hello.document("hello")
    assert one.json()["has_source_code"] is True
    two = (await client.get("/api/leoflow/dags/hello/versions/2", headers=OP)).json()
    assert two["spec"]["description"] == "second edition" and two["is_current"] is True
    paged = (await client.get("/api/leoflow/dags/hello/versions?limit=1&offset=1",
                              headers=OP)).json()
    assert [v["version_number"] for v in paged["versions"]] == [2]


def _bad_trigger_rule(doc: dict[str, Any]) -> None:
    doc["tasks"][0]["trigger_rule"] = "whenever"


def _unknown_field(doc: dict[str, Any]) -> None:
    doc["tasks"][1]["retires"] = 3


def _unknown_upstream(doc: dict[str, Any]) -> None:
    doc["tasks"][1]["upstream"] = ["make_greeting", "ghost"]


def _cycle(doc: dict[str, Any]) -> None:
    doc["tasks"][0]["upstream"] = ["shout"]


def _duplicate(doc: dict[str, Any]) -> None:
    doc["tasks"][1]["task_id"] = "make_greeting"
    doc["tasks"][1]["upstream"] = []


def _missing_dag_id(doc: dict[str, Any]) -> None:
    del doc["dag_id"]


@pytest.mark.parametrize(("edit", "loc", "kind"), [
    (_bad_trigger_rule, ["body", "tasks", 0, "trigger_rule"], "dag_schema"),
    (_unknown_field, ["body", "tasks", 1], "dag_schema"),
    (_unknown_upstream, ["body", "tasks", 1, "upstream", 1], "dag_graph"),
    (_cycle, ["body", "tasks"], "dag_graph"),
    (_duplicate, ["body", "tasks", 1, "task_id"], "dag_graph"),
    (_missing_dag_id, ["body"], "dag_schema"),
])
async def test_a_bad_document_is_refused_with_its_field_path_and_nothing_is_registered(
        client, hello, edit, loc, kind):
    document = hello.document("hello")
    edit(document)
    body = {**with_content_hash(document), "source_code": hello.source}
    before = await counts(client)
    response = await client.post("/api/leoflow/dags", json=body, headers=OP)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert error["type"] == kind
    assert error["msg"]
    assert await counts(client) == before == {"dags": 0, "versions": 0, "audit": 0}


async def test_messages_name_the_problem(client, hello):
    document = hello.document("hello")
    _unknown_upstream(document)
    response = await client.post("/api/leoflow/dags", headers=OP,
                                 json=with_content_hash(document))
    assert "'ghost'" in response.json()["detail"][0]["msg"]
    document = hello.document("hello")
    _unknown_field(document)
    response = await client.post("/api/leoflow/dags", headers=OP,
                                 json=with_content_hash(document))
    assert "retires" in response.json()["detail"][0]["msg"]


async def test_a_document_edited_after_compiling_is_refused(client, hello):
    document = hello.document("hello")
    document["description"] = "edited by hand"  # content_hash left as compiled
    response = await client.post("/api/leoflow/dags", json=document, headers=OP)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "content_hash"]
    assert (await counts(client))["versions"] == 0


async def test_source_code_must_be_the_compiled_file(client, hello):
    body = {**hello.document("hello"), "source_code": hello.source + "\n# changed\n"}
    response = await client.post("/api/leoflow/dags", json=body, headers=OP)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "source_code"]
    bad_type = {**hello.document("hello"), "source_code": 42}
    response = await client.post("/api/leoflow/dags", json=bad_type, headers=OP)
    assert response.json()["detail"][0]["loc"] == ["body", "source_code"]
    assert (await counts(client))["versions"] == 0


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"null", b'"dag"'])
async def test_a_body_that_is_not_a_document_is_a_422(client, content):
    response = await client.post("/api/leoflow/dags", content=content, headers={
        **OP, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_push_without_source_code_is_accepted(client, hello):
    response = await client.post("/api/leoflow/dags", json=hello.document("hello"), headers=OP)
    assert response.status_code == 201
    detail = (await client.get("/api/leoflow/dags/hello/versions/1", headers=OP)).json()
    assert detail["has_source_code"] is False


async def test_roles(client, hello):
    assert (await client.post("/api/leoflow/dags", json=body_of(hello))).status_code == 401
    bad = await client.post("/api/leoflow/dags", json=body_of(hello),
                            headers=bearer("forged"))
    assert bad.status_code == 403
    for token in ("viewer-token", "user-token"):
        refused = await client.post("/api/leoflow/dags", json=body_of(hello),
                                    headers=bearer(token))
        assert refused.status_code == 403, token
    assert (await counts(client))["versions"] == 0
    admin = await client.post("/api/leoflow/dags", json=body_of(hello),
                              headers=bearer("admin-token"))
    assert admin.status_code == 201
    for token in ("viewer-token", "user-token"):
        listing = await client.get("/api/leoflow/dags/hello/versions", headers=bearer(token))
        assert listing.status_code == 200
        assert (await client.get("/api/leoflow/dags/hello/versions/1",
                                 headers=bearer(token))).status_code == 200
    assert (await client.get("/api/leoflow/dags/hello/versions")).status_code == 401


async def test_tenants_do_not_see_or_overwrite_each_others_dags(client, hello):
    assert (await client.post("/api/leoflow/dags", json=body_of(hello),
                              headers=OP)).status_code == 201
    acme = bearer("acme-op-token")
    taken = await client.post("/api/leoflow/dags", headers=acme,
                              json=body_of(hello, description="acme's hello"))
    assert taken.status_code == 403
    assert "another tenant" in taken.json()["detail"]
    for path in ("/api/leoflow/dags/hello/versions", "/api/leoflow/dags/hello/versions/1"):
        hidden = await client.get(path, headers=acme)
        assert hidden.status_code == 404
        assert hidden.json() == {"detail": "The Dag with ID: `hello` was not found"}
    assert (await counts(client))["versions"] == 1

    document = hello.document("hello")
    document["dag_id"] = "acme_hello"
    mine = await client.post("/api/leoflow/dags", json=with_content_hash(document),
                             headers=acme)
    assert mine.status_code == 201
    store = client.app.state.context.store
    async with store.connect() as conn:
        assert (await dags.get_dag(conn, "acme_hello")).tenant == "acme"
    assert (await client.get("/api/leoflow/dags/acme_hello/versions",
                             headers=OP)).status_code == 404


@pytest.mark.parametrize(("path", "status"), [
    ("/api/leoflow/dags/nope/versions", 404),
    ("/api/leoflow/dags/nope/versions/1", 404),
    ("/api/leoflow/dags/hello/versions/7", 404),
    ("/api/leoflow/dags/hello/versions/0", 422),
    ("/api/leoflow/dags/hello/versions/99999999999999999999", 422),
    ("/api/leoflow/dags/hello/versions/one", 422),
    ("/api/leoflow/dags/hello/versions?limit=0", 422),
    ("/api/leoflow/dags/hello/versions?offset=99999999999999999999", 422),
])
async def test_read_errors(client, hello, path, status):
    await client.post("/api/leoflow/dags", json=body_of(hello), headers=OP)
    response = await client.get(path, headers=OP)
    assert response.status_code == status, response.text
    assert "detail" in response.json()


async def test_the_environment_is_prepared_before_anything_is_stored(app_factory, hello):
    from leoflow.engine.environments.errors import DependencyInstallError

    prepared: list[str] = []

    async def prepare(document: dict[str, Any]) -> None:
        prepared.append(document["dag_id"])
        if document.get("description") == "broken":
            raise DependencyInstallError("cannot install 'nosuchpackage==0': not found")

    app = app_factory(prepare_environment=prepare)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://leoflow.test") as http:
        http.app = app
        refused = await http.post("/api/leoflow/dags", headers=OP,
                                  json=body_of(hello, description="broken"))
        assert refused.status_code == 422
        [error] = refused.json()["detail"]
        assert error["loc"] == ["body", "dependencies"]
        assert "nosuchpackage" in error["msg"]
        assert await counts(http) == {"dags": 0, "versions": 0, "audit": 0}
        accepted = await http.post("/api/leoflow/dags", json=body_of(hello), headers=OP)
        assert accepted.status_code == 201
    assert prepared == ["hello", "hello"]


async def test_routes_are_in_the_openapi_reference(client):
    spec = (await client.get("/openapi.json")).json()
    assert {"/api/leoflow/dags", "/api/leoflow/dags/{dag_id}/versions",
            "/api/leoflow/dags/{dag_id}/versions/{version_number}", "/metrics"} <= set(
        spec["paths"])


@pytest.mark.parametrize(("content", "loc"), [
    (b'{"dag_id": "x", "params": {"n": {"default": NaN}}}', ["body"]),
    (b'{"dag_id": "x", "v": Infinity}', ["body"]),
    (b"[" * 100_000 + b"]" * 100_000, ["body"]),
    (b'{"dag_id": "x", "tasks": [{"doc": "a\\u0000b"}]}', ["body", "tasks", 0, "doc"]),
])
async def test_values_a_database_or_a_hash_cannot_take_are_a_422(client, content, loc):
    response = await client.post("/api/leoflow/dags", content=content, headers={
        **OP, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert (await counts(client))["versions"] == 0


async def test_nesting_is_bounded(client):
    deep: dict = {}
    node = deep
    for _ in range(80):
        node["x"] = {}
        node = node["x"]
    response = await client.post("/api/leoflow/dags", json={"dag_id": "x", "deep": deep},
                                 headers=OP)
    assert response.status_code == 422
    assert "nested deeper" in response.json()["detail"][0]["msg"]


async def test_nul_in_the_path_is_refused(client):
    response = await client.get("/api/leoflow/dags/a%00b/versions", headers=OP)
    assert response.status_code == 400
