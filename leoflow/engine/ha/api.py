"""``GET /api/leoflow/ha``: which replica leads, and whether it is this one.

No authentication, like ``/api/v2/monitor/health``: load balancers and operators probe it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(prefix="/api/leoflow", tags=["Leoflow"])


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@router.get("/ha", summary="Leader election: who runs the scheduler")
async def get_ha(request: Request) -> dict[str, Any]:
    """``election`` is false on SQLite (one process runs everything). ``leader`` is the
    replica id holding the lock (``null`` during a hand-over) and
    ``latest_scheduler_heartbeat`` its last health check of the lock connection."""
    plane = request.app.state.plane
    elector = plane.elector
    if elector is None:
        return {"election": False, "replica_id": None, "is_leader": True, "leader": None,
                "latest_scheduler_heartbeat": None}
    leader = elector.leader
    return {"election": True, "replica_id": elector.replica_id, "is_leader": elector.is_leader,
            "leader": leader.replica_id if leader else None,
            "latest_scheduler_heartbeat": _iso(plane.leader_heartbeat())}
