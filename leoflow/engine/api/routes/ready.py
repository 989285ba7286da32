"""``GET /api/leoflow/ready``: may this replica take traffic? For a readiness probe.

Airflow's ``/api/v2/monitor/health`` answers 200 even when the metadata database is down
(its body says so), which suits a liveness probe (restarting the server would not bring the
database back) but not a readiness probe: a replica that cannot reach its database should
get no requests. This route answers 503 then. No authentication: a probe cannot log in.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.security import api_context
from leoflow.engine.services import database_health

log = logging.getLogger("leoflow.api")
router = APIRouter(prefix="/api/leoflow", tags=["Monitor"])

DATABASE_TIMEOUT = 3.0  # seconds; a probe's own timeout is usually a little longer


@router.get("/ready", responses={503: {"description": "the metadata database is unreachable"}})
async def get_ready(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    """200 ``{"status": "ready"}`` when the metadata database answers within 3 s; else 503
    with the reason."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            await database_health.ping(ctx.store)
    except Exception as exc:  # the point of a probe: report, never raise
        log.warning("readiness: the metadata database is unreachable: %s", exc)
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return JSONResponse(status_code=503, content={
            "status": "not ready", "reason": f"the metadata database is unreachable ({reason})"})
    return JSONResponse({"status": "ready"})
