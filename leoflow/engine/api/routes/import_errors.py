"""Airflow ``/api/v2/importErrors``: why DAG files did not compile.

An error is shown to the tenant of the DAG it names. An error of a file that never
produced a DAG has no tenant yet; it is shown to the ``default`` tenant only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import INT32_MAX, Page, no_nul, order_list
from leoflow.engine.api.models.convert import import_error_response
from leoflow.engine.api.models.misc import ImportErrorCollectionResponse, ImportErrorResponse
from leoflow.engine.api.routes.dags import bad_order
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import import_error_listing
from leoflow.engine.services.rows import UnknownOrderField

router = APIRouter(prefix="/api/v2", tags=["Import Error"], dependencies=[Depends(no_nul)])
DEFAULT_TENANT = "default"


@router.get("/importErrors", response_model=ImportErrorCollectionResponse)
async def get_import_errors(
    page: Annotated[Page, Depends()],
    order_by: Annotated[list[str] | None, Query()] = None,
    filename: str | None = None,
    filename_pattern: str | None = None,
    filename_prefix_pattern: str | None = None,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> ImportErrorCollectionResponse:
    try:
        result = await import_error_listing.page_of_import_errors(
            ctx.store, tenant=principal.tenant,
            include_unowned=principal.tenant == DEFAULT_TENANT, filename=filename,
            filename_pattern=filename_pattern, filename_prefix=filename_prefix_pattern,
            order=order_list(order_by, "id"), limit=page.limit, offset=page.offset)
    except UnknownOrderField as exc:
        raise bad_order(exc) from None
    return ImportErrorCollectionResponse(
        import_errors=[import_error_response(r) for r in result.items],
        total_entries=result.total)


@router.get("/importErrors/{import_error_id}", response_model=ImportErrorResponse)
async def get_import_error(
    import_error_id: Annotated[int, Path(ge=-INT32_MAX, le=INT32_MAX)],
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> ImportErrorResponse:
    row = await import_error_listing.import_error(
        ctx.store, import_error_id, tenant=principal.tenant,
        include_unowned=principal.tenant == DEFAULT_TENANT)
    if row is None:
        raise NotFound(f"The ImportError with import_error_id: `{import_error_id}` was not "
                       "found")
    return import_error_response(row)
