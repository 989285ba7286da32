"""Who produces, consumes and reads each asset, and what waits for a consumer: the reads
behind the asset pages of the API and the IDE.

Producers, consumers and readers come from the DAGs' current versions (stale DAGs are left
out, as Airflow does). Functions take the caller's connection and never commit; ``tenant``
scopes every asset.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services.asset_references import AssetNotFound
from leoflow.engine.store import assets as st
from leoflow.engine.store import dags
from leoflow.engine.store.rows import AssetAliasRow, AssetRow


async def asset_dependencies(conn: AsyncConnection, *, tenant: str,
                             asset_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Per asset: ``producing_tasks`` [(dag_id, task_id)], ``consuming_dags`` [dag_id]
    (schedule), ``reading_tasks`` [(dag_id, task_id)] (inlets), ``aliases`` [name], from
    the DAGs' current versions (stale DAGs are left out, as Airflow does)."""
    ids = list(asset_ids)
    out: dict[int, dict[str, Any]] = {
        i: {"producing_tasks": [], "consuming_dags": [], "reading_tasks": [], "aliases": []}
        for i in ids}
    if not ids:
        return out
    assets_rows, _ = await st.list_assets(conn, tenant=tenant, ids=ids)
    refs = await st.dag_refs(conn, tenant=tenant)
    alias_rows, _ = await st.list_aliases(conn, tenant=tenant)
    resolved = await st.alias_asset_ids(conn, [a.id for a in alias_rows])
    alias_name = {a.id: a.name for a in alias_rows}
    active = {d.dag_id for d in (await dags.list_dags(conn, tenant=tenant, stale=False,
                                                      limit=None)).items}
    for row in assets_rows:
        entry = out[row.id]
        entry["aliases"] = sorted(alias_name[a] for a, members in resolved.items()
                                  if row.id in members)
        for ref in refs:
            if ref.dag_id not in active:
                continue
            names_it = (ref.asset_id == row.id or ref.ref_name == row.name
                        or (ref.ref_uri is not None and ref.ref_uri == row.uri)
                        or (ref.alias_id is not None and row.id in resolved.get(ref.alias_id,
                                                                                 ())))
            if not names_it:
                continue
            if ref.kind == "schedule" and ref.dag_id not in entry["consuming_dags"]:
                entry["consuming_dags"].append(ref.dag_id)
            elif ref.kind == "outlet" and (ref.dag_id, ref.task_id) not in entry[
                    "producing_tasks"]:
                entry["producing_tasks"].append((ref.dag_id, ref.task_id))
            elif ref.kind == "inlet" and (ref.dag_id, ref.task_id) not in entry[
                    "reading_tasks"]:
                entry["reading_tasks"].append((ref.dag_id, ref.task_id))
    return out


async def queued_events(conn: AsyncConnection, *, tenant: str, dag_id: str | None = None,
                        asset_id: int | None = None,
                        before: datetime | None = None) -> list[st.QueuedEvent]:
    """Events waiting for a consumer (``GET .../queuedEvents``)."""
    return await st.queued_events(conn, tenant=tenant,
                                  dag_ids=[dag_id] if dag_id is not None else None,
                                  asset_id=asset_id, before=before)


async def delete_queued_events(conn: AsyncConnection, *, tenant: str,
                               dag_id: str | None = None, asset_id: int | None = None,
                               before: datetime | None = None) -> int:
    """Drop waiting events (``DELETE .../queuedEvents``); returns how many."""
    return await st.dequeue(conn, tenant=tenant, dag_id=dag_id, asset_id=asset_id,
                            before=before)


async def get_alias(conn: AsyncConnection, *, tenant: str, alias_id: int
                    ) -> tuple[AssetAliasRow, list[AssetRow]]:
    """An alias with the assets it has resolved to; ``AssetNotFound`` otherwise."""
    alias = await st.get_alias(conn, alias_id, tenant=tenant)
    if alias is None:
        raise AssetNotFound(f"asset alias {alias_id}", field="asset_alias_id")
    ids = (await st.alias_asset_ids(conn, [alias.id]))[alias.id]
    members = (await st.list_assets(conn, tenant=tenant, ids=ids))[0] if ids else []
    return alias, members
