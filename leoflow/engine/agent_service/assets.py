"""Assets as a task's own agent reaches them: ``AssetEvents`` (``inlet_events``),
``AssetState`` (``asset_state_store``), and the asset part of ``FetchTask``'s context.

Every call is scoped to the tenant of the DAG the try belongs to, never to one the request
names: user code reaches the assets of its own tenant only, and only while its try's token
is valid. The rules live in ``leoflow.engine.services.asset_task_reads``; this module parses
and maps.

Inactive assets (Airflow 3's ``AssetActive``): Airflow keeps one active asset per name and
per URI, and fails a task whose inlets or outlets name another one before it runs
(``AirflowInactiveAssetInInletOrOutletException``). Names are unique per tenant here; for a
URI shared by several assets of a tenant, the one some current DAG produces (names as an
outlet) keeps it, the first registered among equals; the others are inactive and
``FetchTask`` lists them in the context's ``inactive_assets``. An ``Asset.ref`` that names
no asset of the tenant is listed too, as Airflow lists an unresolvable reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services import asset_task_reads as services
from leoflow.engine.services.asset_references import resolve_ref
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store import Store
from leoflow.engine.store import assets as store_assets
from leoflow.engine.store.rows import AssetRow, DagRunRow
from leoflow.rpc import agent_pb2 as pb

REF_KINDS = ("asset", "alias", "asset_ref")
STATE_ACTIONS = ("get", "set", "delete", "clear")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_ref(text: str) -> dict[str, Any]:
    """A dag.json asset reference from JSON; ``ValueError`` naming what is wrong."""
    try:
        ref = json.loads(text or "null")
    except ValueError:
        raise ValueError("ref_json is not JSON") from None
    if not isinstance(ref, dict) or len(ref) != 1 or next(iter(ref)) not in REF_KINDS:
        raise ValueError('ref_json must be {"asset": {...}}, {"alias": {...}} or '
                         '{"asset_ref": {"name" | "uri": ...}}')
    body = next(iter(ref.values()))
    if not isinstance(body, dict) or not (body.get("name") or body.get("uri")):
        raise ValueError("an asset reference needs a name or a uri")
    return ref


def _parse_instant(name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 instant, got {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def asset_events_call(store: Store, tenant: str, request: pb.AssetEventsRequest,
                            context: grpc.aio.ServicerContext) -> pb.AssetEventsResponse:
    """Past events of the referenced asset or alias in ``tenant``."""
    try:
        ref = parse_ref(request.ref_json)
        after = _parse_instant("after", request.after)
        before = _parse_instant("before", request.before)
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise
    limit = request.limit if request.HasField("limit") else None
    async with store.connect() as conn:
        rows = await services.events_for(conn, tenant=tenant, ref=ref, limit=limit,
                                         ascending=request.ascending, after=after,
                                         before=before)
    return pb.AssetEventsResponse(events_json=json.dumps([services.event_json(r)
                                                          for r in rows]))


async def asset_state_call(store: Store, tenant: str, request: pb.AssetStateRequest,
                           context: grpc.aio.ServicerContext) -> pb.AssetStateResponse:
    """One get/set/delete/clear of the referenced asset's state, in ``tenant``."""
    try:
        ref = parse_ref(request.ref_json)
        if "alias" in ref:
            raise ValueError("the asset state store belongs to assets, not aliases")
        if request.action not in STATE_ACTIONS:
            raise ValueError(f"action must be get, set, delete or clear, not "
                             f"{request.action!r}")
        if request.action != "clear" and not request.key:
            raise ValueError("an asset state key is required")
        value = json.loads(request.value_json) if request.action == "set" else None
        if request.action == "set" and value is None:
            raise ValueError("Cannot set value as None")
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise
    try:
        if request.action == "get":
            async with store.connect() as conn:
                found, got = await services.get_state(conn, tenant=tenant, ref=ref,
                                                      key=request.key)
            return pb.AssetStateResponse(found=found,
                                         value_json=json.dumps(got) if found else "")
        async with store.begin() as conn:
            if request.action == "set":
                await services.set_state(conn, tenant=tenant, ref=ref, key=request.key,
                                         value=value, now=datetime.now(UTC))
            elif request.action == "delete":
                await services.delete_state(conn, tenant=tenant, ref=ref, key=request.key)
            else:
                await services.clear_state(conn, tenant=tenant, ref=ref)
    except ServiceError as exc:  # the reference names no asset of the tenant
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    except ValueError as exc:  # a value the store refuses (too large...)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    return pb.AssetStateResponse()


# -- FetchTask's context ------------------------------------------------------------------------
async def triggering_groups(conn: AsyncConnection, run: DagRunRow) -> list[dict[str, Any]]:
    """``triggering_asset_events``: the run's events grouped by asset, in event order."""
    return services.grouped_by_asset(await services.triggering_events(conn,
                                                                      dag_run_id=run.id))


async def _produced(conn: AsyncConnection, tenant: str, rows: Sequence[AssetRow]) -> set[int]:
    ids = {r.id for r in rows}
    refs = await store_assets.dag_refs(conn, tenant=tenant, kinds=["outlet"])
    return {r.asset_id for r in refs if r.asset_id in ids}


async def inactive_assets(conn: AsyncConnection, tenant: str,
                          refs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The task's inlets/outlets that are not active (see the module's docstring)."""
    inactive: list[dict[str, Any]] = []
    for ref in refs:
        ((kind, body),) = ref.items()
        if kind == "alias":
            continue
        if kind == "asset_ref":
            if body.get("name"):
                found = await store_assets.get_asset_by_name(conn, tenant=tenant,
                                                             name=str(body["name"]))
            else:
                found = next(iter(await store_assets.get_assets_by_uri(
                    conn, tenant=tenant, uri=str(body["uri"]))), None)
            if found is None:
                inactive.append({k: body.get(k) for k in ("name", "uri") if body.get(k)})
            continue
        sharing = await store_assets.get_assets_by_uri(conn, tenant=tenant,
                                                       uri=str(body["uri"]))
        mine = next((r for r in sharing if r.name == body["name"]), None)
        if mine is None or len(sharing) < 2:
            continue
        produced = await _produced(conn, tenant, sharing)
        # the owner of the URI: produced first, then registered first (lowest id)
        owner = min(sharing, key=lambda r: (r.id not in produced, r.id))
        if owner.id != mine.id:
            inactive.append({"name": mine.name, "uri": mine.uri})
    return inactive


async def task_assets(conn: AsyncConnection, tenant: str,
                      refs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The assets the task's inlets and outlets name, as the store knows them: what an
    ``@asset`` function receives for ``self`` and its upstream parameters."""
    found: dict[int, dict[str, Any]] = {}
    for ref in refs:
        if "alias" in ref:
            continue
        for row in (await resolve_ref(conn, tenant=tenant, ref=ref))[:1]:
            found[row.id] = {"name": row.name, "uri": row.uri, "group": row.group,
                             "extra": dict(row.extra or {})}
    return list(found.values())


async def asset_context_in(conn: AsyncConnection, tenant: str, run: DagRunRow,
                           task: TaskSpec) -> dict[str, Any]:
    """The asset keys of ``FetchTask.context_json``, read on the caller's connection
    (``FetchTask`` reads all it needs on one)."""
    partition_key = getattr(run, "partition_key", None)
    refs = [*task.inlets, *task.outlets]
    groups = await triggering_groups(conn, run)
    inactive = await inactive_assets(conn, tenant, refs) if refs else []
    known = await task_assets(conn, tenant, refs) if refs else []
    extra: dict[str, Any] = {"triggering_asset_events": groups, "task_assets": known,
                             "partition_key": partition_key,
                             "partition_date": _iso(getattr(run, "partition_date", None))}
    if inactive:
        extra["inactive_assets"] = inactive
    return extra
