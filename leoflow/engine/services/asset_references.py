"""What an asset reference names in a tenant: the rule every asset service resolves with.

A reference is dag.json's ``{"asset": ...}``, ``{"asset_ref": ...}`` (an ``Asset.ref`` by
name, else uri) or ``{"alias": ...}`` (the assets the alias has resolved to so far).
``resolver_for`` answers the same for every name a schedule condition uses, in one query per
kind, for ``scheduler.asset_conditions``. Functions take the caller's connection and never
commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.asset_conditions import Resolver, leaves
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.store import assets as st
from leoflow.engine.store.rows import AssetRow
from leoflow.engine.store.tables import asset, asset_alias


class AssetNotFound(ServiceError):
    """An asset (or alias) the caller named does not exist in its tenant."""

    def __init__(self, what: str, *, field: str | None = None) -> None:
        super().__init__(f"{what} not found", field=field)


def asset_identity(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """Airflow's defaults: ``Asset(uri)`` alone is named by its uri, ``Asset(name)`` alone
    has its name as uri; the group defaults to ``asset``."""
    name = body.get("name") or body.get("uri")
    uri = body.get("uri") or name
    if not name:
        raise ValueError(f"an asset needs a name or a uri, got {dict(body)!r}")
    return str(name), str(uri), str(body.get("group") or "asset")


async def resolve_ref(conn: AsyncConnection, *, tenant: str,
                      ref: Mapping[str, Any]) -> list[AssetRow]:
    """The assets a reference names now: an asset, an ``Asset.ref`` (by name, else uri) or
    an alias (the assets it resolved to). Empty when unknown."""
    ((tag, body),) = ref.items()
    if tag == "alias":
        alias = await st.get_alias_by_name(conn, tenant=tenant, name=body["name"])
        if alias is None:
            return []
        ids = (await st.alias_asset_ids(conn, [alias.id]))[alias.id]
        return (await st.list_assets(conn, tenant=tenant, ids=ids))[0] if ids else []
    name = body.get("name")
    if tag == "asset" and not name:
        name = body.get("uri")
    if name:
        found = await st.get_asset_by_name(conn, tenant=tenant, name=name)
        if found is not None or tag == "asset_ref":
            return [found] if found is not None else []
    uri = body.get("uri")
    return await st.get_assets_by_uri(conn, tenant=tenant, uri=uri) if uri else []


async def one_asset(conn: AsyncConnection, tenant: str, ref: Mapping[str, Any]) -> AssetRow:
    found = await resolve_ref(conn, tenant=tenant, ref=ref)
    if not found:
        raise AssetNotFound(f"asset {describe_ref(ref)}", field="ref")
    return found[0]


def describe_ref(ref: Mapping[str, Any]) -> str:
    ((tag, body),) = ref.items()
    shown = body.get("name") or body.get("uri")
    return f"{tag} {shown!r}" if tag != "asset" else repr(shown)


async def resolver_for(conn: AsyncConnection, *, tenant: str, condition: Any) -> Resolver:
    """What the store knows about the names ``condition`` uses (one query per kind)."""
    names: set[str] = set()
    uris: set[str] = set()
    alias_names: set[str] = set()
    for leaf in leaves(condition):
        ((tag, body),) = leaf.items()
        if tag == "alias":
            alias_names.add(body["name"])
            continue
        if body.get("name"):
            names.add(body["name"])
        if body.get("uri"):
            uris.add(body["uri"])
    alias_map: dict[str, frozenset[int]] = {}
    if alias_names:
        rows = (await conn.execute(select(asset_alias.c.id, asset_alias.c.name).where(
            asset_alias.c.tenant == tenant, asset_alias.c.name.in_(sorted(alias_names))))).all()
        resolved = await st.alias_asset_ids(conn, [r.id for r in rows])
        alias_map = {r.name: frozenset(resolved[r.id]) for r in rows}
    by_name: dict[str, int] = {}
    by_uri: dict[str, set[int]] = {}
    if names or uris:
        found = await conn.execute(select(asset.c.id, asset.c.name, asset.c.uri).where(
            asset.c.tenant == tenant,
            or_(asset.c.name.in_(sorted(names)), asset.c.uri.in_(sorted(uris)))))
        for r in found:
            by_name[r.name] = r.id
            by_uri.setdefault(r.uri, set()).add(r.id)
    return Resolver(by_name=by_name, by_uri={k: frozenset(v) for k, v in by_uri.items()},
                    aliases=alias_map)
