"""Airflow ``GET /api/v2/dagSources/{dag_id}``: the DAG file's code, of one version.

Every registered version keeps the source it was compiled from, so the code a run ran is
``?version_number=`` of that run's version; without it, the DAG's current version.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import INT32_MAX, no_nul
from leoflow.engine.api.models.convert import display_name
from leoflow.engine.api.models.misc import DAGSourceResponse
from leoflow.engine.api.routes.dags import spec_cache
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import dag_listing

router = APIRouter(prefix="/api/v2", tags=["DagSource"], dependencies=[Depends(no_nul)])


@router.get("/dagSources/{dag_id}", response_model=DAGSourceResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def get_dag_source(
    request: Request,
    dag_id: str,
    version_number: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> Any:
    """JSON by default; ``Accept: text/plain`` answers the bare code."""
    accept = request.headers.get("accept") or "*/*"
    if not accept.startswith(("*/*", "application/json", "text/plain")):
        raise ApiError(406, "Only application/json or text/plain is supported")
    missing = NotFound(f"The source code of the DAG {dag_id}, version_number "
                       f"{version_number} was not found")
    visible, version = await dag_listing.source_version(ctx.store, dag_id, version_number,
                                                        tenant=principal.tenant)
    if not visible:
        raise missing
    if version is None:
        raise missing
    if accept.startswith("text/plain"):
        return PlainTextResponse(version.source_code or "")
    return DAGSourceResponse(content=version.source_code, dag_id=dag_id,
                             version_number=version.version_number,
                             dag_display_name=display_name(dag_id, spec_cache(ctx).get(version)))
