"""Leoflow's own routes: register a compiled dag.json (``leoflow push``), list a DAG's
versions, read one version's spec.

A pushed document is checked completely before anything is written: the JSON Schema, the
graph rules (unknown upstreams, cycles, duplicate task ids), the declared content hash and
the source file's digest. A bad document is refused with 422 and Airflow's error shape,
``{"detail": [{"loc": ["body", "tasks", 0, "upstream"], "msg": ..., "type": ...}]}``, so a
client can print the field path; nothing is registered. A DAG belongs to the tenant of the
user who first pushed it; other tenants neither see it nor push over it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from leoflow.engine.api.context import PREPARE_ENVIRONMENT, ApiContext
from leoflow.engine.api.errors import ApiError, Forbidden, NotFound
from leoflow.engine.api.models.common import no_nul
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import MANAGE_DAGS, READ, Principal
from leoflow.engine.environments.manager import EnvironmentManager
from leoflow.engine.environments.providers import Provider
from leoflow.engine.services import dag_listing, provider_metadata
from leoflow.engine.services.rows import DagRow, DagVersionRow
from leoflow.engine.spec.canonical import content_hash
from leoflow.engine.spec.errors import GraphError, SpecError
from leoflow.engine.spec.graph import check_graph
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.spec.schemas import DAG_SCHEMA, validate
from leoflow.errors import LeoflowError

router = APIRouter(prefix="/api/leoflow", tags=["Leoflow"], dependencies=[Depends(no_nul)])

# Bounds that keep numbers inside a database integer (a larger one is a 422, not a 500).
MAX_INT = 2**31 - 1
MAX_DEPTH = 64
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


class InvalidDocument(LeoflowError):
    """A pushed document that cannot be registered; ``loc`` is its field path."""

    def __init__(self, loc: list[str | int], msg: str, kind: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
        self.kind = kind

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": self.loc, "msg": self.msg,
                                         "type": self.kind}]}, status_code=422)


def loc_of(field: str | None) -> list[str | int]:
    """``["body", "tasks", 3, "inputs"]`` from the validator's ``tasks[3].inputs``."""
    if not field or field == "(top level)":
        return ["body"]
    parts: list[str | int] = ["body"]
    for index, name in _PATH_PART.findall(field):
        parts.append(int(index) if index else name)
    return parts


def parse_body(raw: bytes) -> Any:
    """Strict JSON: no NaN or Infinity (a document must hash canonically), no NUL in any
    string (PostgreSQL cannot store it), and not nested beyond reason."""

    def reject(constant: str) -> Any:
        raise InvalidDocument(["body"], f"{constant} is not a JSON value", "json_invalid")

    try:
        body = json.loads(raw, parse_constant=reject)
    except (ValueError, RecursionError):
        raise InvalidDocument(["body"], "the body is not valid JSON", "json_invalid") from None
    where = _nul_at(body, ["body"])
    if where is not None:
        raise InvalidDocument(where, "NUL characters are not allowed", "value_error")
    return body


def _nul_at(value: Any, loc: list[str | int], depth: int = 0) -> list[str | int] | None:
    if depth > MAX_DEPTH:
        raise InvalidDocument(loc, f"nested deeper than {MAX_DEPTH} levels", "value_error")
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = [*loc, key] if "\x00" in key else _nul_at(item, [*loc, key], depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, [*loc, index], depth + 1)
            if found is not None:
                return found
    return None


def check_document(body: Any) -> tuple[dict[str, Any], str | None]:
    """The dag.json document and its source code from a push body, or ``InvalidDocument``."""
    if not isinstance(body, dict):
        raise InvalidDocument(["body"], "the body must be a dag.json object", "type_error")
    document = dict(body)
    source_code = document.pop("source_code", None)
    if source_code is not None and not isinstance(source_code, str):
        raise InvalidDocument(["body", "source_code"], "source_code must be a string",
                              "type_error")
    try:
        validate(document, DAG_SCHEMA)
    except SpecError as exc:
        message = exc.message.removeprefix(f"{exc.field}: ")  # the loc says where
        raise InvalidDocument(loc_of(exc.field), message, "dag_schema") from None
    tasks = document["tasks"]
    try:
        check_graph(document["dag_id"], tasks)
    except GraphError as exc:
        raise InvalidDocument(_graph_loc(tasks, exc), exc.message, "dag_graph") from None
    expected = content_hash(document)
    if document["content_hash"] != expected:
        raise InvalidDocument(
            ["body", "content_hash"],
            f"content_hash {document['content_hash']} does not match the document "
            f"({expected}); was dag.json edited after `leoflow compile`?", "content_hash")
    declared = document.get("source_sha256")
    if source_code is not None and declared:
        digest = hashlib.sha256(source_code.encode("utf-8", "surrogatepass")).hexdigest()
        if digest != declared:
            raise InvalidDocument(
                ["body", "source_code"],
                f"source_code is not the file that was compiled (sha256 {digest[:12]}, the "
                f"document says {declared[:12]}); compile again", "source_sha256")
    return document, source_code


def _graph_loc(tasks: list[dict[str, Any]], exc: GraphError) -> list[str | int]:
    ids = [t["task_id"] for t in tasks]
    if len(exc.tasks) == 2 and exc.tasks[1] not in ids:  # an unknown upstream
        index = ids.index(exc.tasks[0])
        return ["body", "tasks", index, "upstream", tasks[index]["upstream"].index(exc.tasks[1])]
    if len(exc.tasks) == 1:  # a task id used twice: point at the second use
        index = len(ids) - 1 - ids[::-1].index(exc.tasks[0])
        return ["body", "tasks", index, "task_id"]
    return ["body", "tasks"]


def version_json(version: DagVersionRow, *, current: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": version.id, "dag_id": version.dag_id, "version_number": version.version_number,
        "content_hash": version.content_hash, "created_at": _iso(version.created_at),
        "is_draft": version.is_draft}  # a save's version no run pinned: the next replaces it
    if current is not None:
        out["is_current"] = current
    return out


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _own_dag(ctx: ApiContext, dag_id: str, principal: Principal) -> DagRow:
    """The DAG if it exists in the caller's tenant; otherwise 404 (never "it is theirs")."""
    dag = await dag_listing.dag_row(ctx.store, dag_id)
    if dag is None or dag.tenant != principal.tenant:
        raise NotFound(f"The Dag with ID: `{dag_id}` was not found")
    return dag


PUSH_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": True,
    "description": "A compiled dag.json (docs/dag-json.md), optionally with `source_code`: "
                   "the text of the DAG file it was compiled from.",
    "required": ["schema_version", "dag_id", "content_hash", "schedule", "tasks"],
    "properties": {"source_code": {"type": "string"}}}}}}}


@router.post("/dags", status_code=201, summary="Register a compiled dag.json (leoflow push)",
             openapi_extra=PUSH_BODY,
             responses={200: {"description": "Unchanged: this content is already a version"},
                        422: {"description": "The document is invalid; loc names the field"}})
async def push_dag(request: Request, ctx: ApiContext = Depends(api_context),
                   principal: Principal = Depends(require(MANAGE_DAGS))) -> JSONResponse:
    """Validate and register a dag.json (optionally with ``source_code``, the DAG file).

    201 with the new version, or 200 with the existing one when this content was pushed
    before. A new DAG starts paused (Airflow's default) and belongs to the caller's tenant.
    """
    try:
        document, source_code = check_document(parse_body(await request.body()))
    except InvalidDocument as exc:
        return exc.response()
    dag_id = document["dag_id"]
    existing, before = await dag_listing.dag_and_current_version(ctx.store, dag_id)
    if existing is not None and existing.tenant != principal.tenant:
        raise Forbidden(f"DAG id `{dag_id}` is taken by another tenant; choose another dag_id")
    prepare: Callable[[Mapping[str, Any]], Awaitable[None]] | None = \
        ctx.extras.get(PREPARE_ENVIRONMENT)
    if prepare is not None:
        try:
            await prepare(document)
        except LeoflowError as exc:  # an environment that cannot be built: nothing stored
            return InvalidDocument(["body", "dependencies"], str(exc), "environment").response()
    version = await ctx.operations.register_dag(
        document, source_code=source_code, fileloc=document.get("fileloc"),
        user=principal.username, paused_on_create=True, tenant=principal.tenant)
    created = before is None or before.id != version.id
    dag = await dag_listing.dag_row(ctx.store, dag_id)
    out = version_json(version, current=True)
    out["created"] = created
    out["is_paused"] = bool(dag.is_paused) if dag else True
    return JSONResponse(out, status_code=201 if created else 200)


@router.get("/dags/{dag_id}/versions", summary="List a DAG's versions")
async def list_versions(dag_id: str, limit: int = Query(100, ge=1, le=1000),
                        offset: int = Query(0, ge=0, le=MAX_INT),
                        ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """Versions by number (oldest first), with ``is_current`` and ``total_entries``."""
    dag = await _own_dag(ctx, dag_id, principal)
    page = await dag_listing.versions_page(ctx.store, dag_id, limit=limit, offset=offset)
    return {"dag_id": dag_id,
            "versions": [version_json(v, current=v.id == dag.current_version_id)
                         for v in page.items],
            "total_entries": page.total}


@router.get("/dags/{dag_id}/versions/{version_number}", summary="Read one version's spec")
async def get_version(dag_id: str, version_number: int = Path(ge=1, le=MAX_INT),
                      ctx: ApiContext = Depends(api_context),
                      principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """The version and its dag.json (``spec``), exactly as it was registered."""
    dag = await _own_dag(ctx, dag_id, principal)
    version = await dag_listing.version_by_number(ctx.store, dag_id, version_number)
    if version is None:
        raise NotFound(f"DAG `{dag_id}` has no version {version_number}")
    out = version_json(version, current=version.id == dag.current_version_id)
    out["has_source_code"] = bool(version.source_code)
    out["spec"] = version.spec
    return out


def _environments(ctx: ApiContext) -> EnvironmentManager:
    if ctx.services is None:
        raise ApiError(503, "this server builds no DAG environments")
    return ctx.services.environments


@router.get("/dags/{dag_id}/providers",
            summary="The Airflow providers installed in a DAG's environment")
async def dag_providers(dag_id: str, ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """Each provider with its version and connection types (``built`` is false while the
    DAG's environment has not been built on this server)."""
    dag = await _own_dag(ctx, dag_id, principal)
    version = await dag_listing.current_version(ctx.store, dag.dag_id)
    if version is None:
        raise NotFound(f"DAG `{dag_id}` has no version")
    spec = DagSpec.from_json(version.spec)
    found = await asyncio.to_thread(
        provider_metadata.environment_providers, _environments(ctx),
        dag_id=spec.project or spec.dag_id, python_version=spec.python_version,
        dependencies=spec.dependencies)
    return {"dag_id": dag_id, "built": found is not None,
            "providers": [provider_json(p) for p in found or ()]}


@router.get("/connection-types", summary="Connection types of the tenant's DAG environments")
async def connection_types(ctx: ApiContext = Depends(api_context),
                           principal: Principal = Depends(require(READ))
                           ) -> list[dict[str, Any]]:
    """What a connection form offers: the connection types of the providers installed in
    the environments of the caller's DAGs, in Airflow's ``/ui/connections/hook_meta``
    shape (``ConnectionHookMetaData``)."""
    types = await provider_metadata.tenant_connection_types(
        ctx.store, _environments(ctx), tenant=principal.tenant)
    return provider_metadata.hook_meta(types)


def provider_json(provider: Provider) -> dict[str, Any]:
    return {"package_name": provider.package_name, "version": provider.version,
            "name": provider.name, "description": provider.description,
            "problem": provider.problem,
            "connection_types": [{"connection_type": t.connection_type,
                                  "hook_class_name": t.hook_class_name,
                                  "hook_name": t.hook_name}
                                 for t in provider.connection_types]}
