"""What a running task asks about assets, through its agent: an inlet's past events, the
events that started its run, and the asset state store.

The agent service (``agent_service/assets.py``) parses the request and calls these with the
DAG's tenant; every name is resolved in that tenant only. Event JSON (``event_json``) uses
Airflow's field names for everything that leaves the engine. Functions take the caller's
connection and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services.asset_references import one_asset, resolve_ref
from leoflow.engine.store import assets as st
from leoflow.engine.store.rows import AssetEventRow


async def events_for(conn: AsyncConnection, *, tenant: str, ref: Mapping[str, Any],
                     limit: int | None = None, ascending: bool = True,
                     after: datetime | None = None,
                     before: datetime | None = None) -> list[AssetEventRow]:
    """``inlet_events[ref]``: the events of an asset (or ``Asset.ref``), or those emitted
    through an alias, oldest first unless ``ascending=False``; ``limit`` keeps the first
    ``limit`` in that order. Unknown names give an empty list, as in Airflow."""
    ((tag, body),) = ref.items()
    if tag == "alias":
        alias = await st.get_alias_by_name(conn, tenant=tenant, name=body["name"])
        if alias is None:
            return []
        rows, _ = await st.list_events(conn, tenant=tenant, source_alias=alias.name,
                                       after=after, before=before, ascending=ascending,
                                       limit=limit)
        return rows
    found = await resolve_ref(conn, tenant=tenant, ref=ref)
    if not found:
        return []
    rows, _ = await st.list_events(conn, tenant=tenant, asset_ids=[found[0].id], after=after,
                                   before=before, ascending=ascending, limit=limit)
    return rows


async def triggering_events(conn: AsyncConnection, *, dag_run_id: int) -> list[AssetEventRow]:
    """The events that started a run (empty for a run no asset started)."""
    return await st.run_events(conn, dag_run_id)


def event_json(event: AssetEventRow) -> dict[str, Any]:
    """An event as it leaves the engine (context, gRPC, API), with Airflow's field names."""
    return {
        "id": event.id,
        "asset": {"id": event.asset_id, "name": event.asset_name, "uri": event.asset_uri,
                  "group": event.asset_group, "extra": event.asset_extra},
        "extra": event.extra,
        "source_dag_id": event.source_dag_id,
        "source_run_id": event.source_run_id,
        "source_task_id": event.source_task_id,
        "source_map_index": event.source_map_index,
        "source_alias_name": event.source_alias,
        "partition_key": event.partition_key,
        "timestamp": event.timestamp.astimezone(UTC).isoformat(),
    }


def grouped_by_asset(events: Iterable[AssetEventRow]) -> list[dict[str, Any]]:
    """``triggering_asset_events`` for a context: ``[{"asset", "events"}]`` per asset, in the
    order the assets first appear."""
    groups: dict[int, dict[str, Any]] = {}
    for event in events:
        group = groups.setdefault(event.asset_id, {
            "asset": {"name": event.asset_name, "uri": event.asset_uri,
                      "group": event.asset_group},
            "events": []})
        group["events"].append(event_json(event))
    return list(groups.values())


# -- the asset state store ------------------------------------------------------------------

async def get_state(conn: AsyncConnection, *, tenant: str, ref: Mapping[str, Any],
                    key: str) -> tuple[bool, Any]:
    """``(True, value)`` when the asset keeps ``key``, ``(False, None)`` otherwise."""
    row = await one_asset(conn, tenant, ref)
    return await st.get_state(conn, row.id, key)


async def set_state(conn: AsyncConnection, *, tenant: str, ref: Mapping[str, Any], key: str,
                    value: Any, now: datetime) -> None:
    row = await one_asset(conn, tenant, ref)
    await st.set_state(conn, row.id, key, value, now=now)


async def delete_state(conn: AsyncConnection, *, tenant: str, ref: Mapping[str, Any],
                       key: str) -> bool:
    row = await one_asset(conn, tenant, ref)
    return await st.delete_state(conn, row.id, key) > 0


async def clear_state(conn: AsyncConnection, *, tenant: str, ref: Mapping[str, Any]) -> int:
    row = await one_asset(conn, tenant, ref)
    return await st.clear_state(conn, row.id)
