"""Airflow ``POST /api/v2/dags/{dag_id}/favorite`` and ``/unfavorite``: the star of the Airflow
UI. The rules are ``services.favorites``'."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.common import no_nul
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import favorites

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["DAG"], dependencies=[Depends(no_nul)])


@router.post("/favorite", status_code=204, responses={404: {"description": "no such DAG"}})
async def favorite_dag(dag_id: str, ctx: ApiContext = Depends(api_context),
                       principal: Principal = Depends(require(READ))) -> Response:
    await favorites.mark(ctx.store, dag_id, user=principal.username, tenant=principal.tenant)
    return Response(status_code=204)


@router.post("/unfavorite", status_code=204,
             responses={404: {"description": "no such DAG"},
                        409: {"description": "not a favourite"}})
async def unfavorite_dag(dag_id: str, ctx: ApiContext = Depends(api_context),
                         principal: Principal = Depends(require(READ))) -> Response:
    await favorites.unmark(ctx.store, dag_id, user=principal.username, tenant=principal.tenant)
    return Response(status_code=204)
