"""``GET /api/leoflow/ha``: which replica leads, and whether it is this one.

No authentication, like ``/api/v2/monitor/health``: load balancers and operators probe it.
The answer comes from the leadership service (``engine/services/leadership.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.security import api_context
from leoflow.engine.services.leadership import Leadership

router = APIRouter(prefix="/api/leoflow", tags=["Leoflow"])


@router.get("/ha", summary="Leader election: who runs the scheduler")
async def get_ha(ctx: ApiContext = Depends(api_context)) -> dict[str, Any]:
    """``election`` is false on SQLite (one process runs everything). ``leader`` is the
    replica id holding the lock (``null`` during a hand-over) and
    ``latest_scheduler_heartbeat`` its last health check of the lock connection."""
    leadership = ctx.services.leadership if ctx.services is not None else Leadership()
    return leadership.status().as_json()
