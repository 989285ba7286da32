"""Airflow 3.3's asset state store routes, ``/api/v2/assets/{asset_id}/state-store``: list,
get, set (PUT), delete one key, clear.

The same JSON values tasks keep with ``asset_state_store[asset]``. Reading needs ``read``;
writing is an asset write (Op and Admin, ``manage_resources``), as in Airflow's simple auth
manager. Another tenant's asset answers 404 as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.assets import (
    AssetStateStoreBody,
    AssetStateStoreCollectionResponse,
    AssetStateStoreResponse,
)
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, Page, check_json_body, no_nul
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ, Principal
from leoflow.engine.services import asset_queries
from leoflow.engine.services.reads import read
from leoflow.engine.services.rows import StateEntry

router = APIRouter(prefix="/api/v2/assets/{asset_id}/state-store", tags=["Asset State Store"],
                   dependencies=[Depends(no_nul)])

AssetId = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]


def _entry(row: StateEntry) -> AssetStateStoreResponse:
    return AssetStateStoreResponse(key=row.key, value=row.value, updated_at=row.updated_at)


@router.get("", response_model=AssetStateStoreCollectionResponse)
async def list_asset_state_store(asset_id: AssetId, page: Annotated[Page, Depends()],
                                 ctx: ApiContext = Depends(api_context),
                                 principal: Principal = Depends(require(READ))
                                 ) -> AssetStateStoreCollectionResponse:
    rows, total = await read(ctx.store, asset_queries.list_state, tenant=principal.tenant,
                             asset_id=asset_id, limit=page.limit, offset=page.offset)
    return AssetStateStoreCollectionResponse(asset_state_store=[_entry(r) for r in rows],
                                             total_entries=total)


@router.get("/{key:path}", response_model=AssetStateStoreResponse)
async def get_asset_state_store(asset_id: AssetId, key: str,
                                ctx: ApiContext = Depends(api_context),
                                principal: Principal = Depends(require(READ))
                                ) -> AssetStateStoreResponse:
    row = await read(ctx.store, asset_queries.get_state, tenant=principal.tenant,
                     asset_id=asset_id, key=key)
    return _entry(row)


@router.put("/{key:path}", status_code=204, response_class=Response)
async def set_asset_state_store(asset_id: AssetId, key: str, body: AssetStateStoreBody,
                                ctx: ApiContext = Depends(api_context),
                                principal: Principal = Depends(require(MANAGE_RESOURCES))
                                ) -> Response:
    """Create or overwrite a key; ``null`` and values above 64 KiB are refused (422)."""
    check_json_body(body.value, "value")
    await asset_queries.set_state(ctx.operations, tenant=principal.tenant, asset_id=asset_id,
                                  key=key, value=body.value)
    return Response(status_code=204)


@router.delete("/{key:path}", status_code=204, response_class=Response)
async def delete_asset_state_store(asset_id: AssetId, key: str,
                                   ctx: ApiContext = Depends(api_context),
                                   principal: Principal = Depends(require(MANAGE_RESOURCES))
                                   ) -> Response:
    """Delete one key (no error when it is absent, as Airflow)."""
    await asset_queries.delete_state(ctx.operations, tenant=principal.tenant,
                                     asset_id=asset_id, key=key)
    return Response(status_code=204)


@router.delete("", status_code=204, response_class=Response)
async def clear_asset_state_store(asset_id: AssetId, ctx: ApiContext = Depends(api_context),
                                  principal: Principal = Depends(require(MANAGE_RESOURCES))
                                  ) -> Response:
    await asset_queries.delete_state(ctx.operations, tenant=principal.tenant,
                                     asset_id=asset_id, key=None)
    return Response(status_code=204)
