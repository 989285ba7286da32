"""``GET /api/v2/version`` and ``GET /api/v2/monitor/health``: no authentication, as in
Airflow, so that load balancers and clients can probe a server before logging in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Depends

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.models.misc import (
    BaseInfoResponse,
    HealthInfoResponse,
    SchedulerInfoResponse,
    TriggererInfoResponse,
    VersionInfo,
)
from leoflow.engine.api.security import api_context
from leoflow.engine.services import database_health

log = logging.getLogger("leoflow.api")
router = APIRouter(prefix="/api/v2", tags=["Monitor"])

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


@router.get("/version", response_model=VersionInfo, tags=["Version"])
async def get_version(ctx: ApiContext = Depends(api_context)) -> VersionInfo:
    return VersionInfo(version=ctx.version, git_version=None)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@router.get("/monitor/health", response_model=HealthInfoResponse)
async def get_health(ctx: ApiContext = Depends(api_context)) -> HealthInfoResponse:
    """Always 200; each component says ``healthy`` or ``unhealthy``.

    The scheduler runs in the API's own process and is event-driven (no periodic
    heartbeat): it is healthy while the process serves requests, and its heartbeat is the
    last activity it reports (``ApiContext.scheduler_heartbeat``) or now. The triggerer is
    the scheduler's trigger runner: healthy while it runs here, or, on an HA follower, as
    healthy as the leader that runs it. Leoflow has no DAG processor (DAGs arrive
    compiled), so there is none to report: ``null``, as Airflow answers without a standalone
    one (its UI then shows no DAG processor instead of an unhealthy one).
    """
    try:
        await database_health.ping(ctx.store)
        database = HEALTHY
    except Exception:  # the point of a health check: report, never raise
        log.warning("health check: the metadata database is unreachable", exc_info=True)
        database = UNHEALTHY
    beat = None
    if ctx.scheduler_heartbeat is not None:
        try:
            beat = ctx.scheduler_heartbeat()
        except Exception:
            log.warning("health check: the scheduler heartbeat failed", exc_info=True)
    moment = beat if isinstance(beat, datetime) and beat.tzinfo else datetime.now(UTC)
    return HealthInfoResponse(
        metadatabase=BaseInfoResponse(status=database),
        scheduler=SchedulerInfoResponse(status=HEALTHY, latest_scheduler_heartbeat=_iso(moment)),
        triggerer=_triggerer(ctx, moment),
        dag_processor=None,
    )


def _triggerer(ctx: ApiContext, scheduler_moment: datetime) -> TriggererInfoResponse:
    services = ctx.services
    if services is None:
        return TriggererInfoResponse(status=None, latest_triggerer_heartbeat=None)
    if services.scheduler.triggers.running:
        return TriggererInfoResponse(status=HEALTHY,
                                     latest_triggerer_heartbeat=_iso(datetime.now(UTC)))
    leadership = services.leadership
    if leadership.election and not leadership.is_leader():
        return TriggererInfoResponse(status=HEALTHY,
                                     latest_triggerer_heartbeat=_iso(scheduler_moment))
    return TriggererInfoResponse(status=UNHEALTHY, latest_triggerer_heartbeat=None)
