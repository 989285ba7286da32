"""``GET /metrics``: Prometheus text exposition of the control plane's metrics.

No authentication, as a Prometheus scrape target usually is (Airflow's statsd/OpenTelemetry
metrics need none either): it shows counts and timings, never DAG ids, run ids or values.
Keep the port private or put it behind your proxy's auth. See ``engine/api/metrics.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leoflow.engine.api.metrics import CONTENT_TYPE, app_metrics

router = APIRouter(tags=["Monitor"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}},
                             "description": "Prometheus text format"}})
async def metrics(request: Request) -> Response:
    """Runs and task instances by state, scheduling delay, task duration, executor slots,
    XCom bytes and API latency."""
    collected = app_metrics(request.app)
    context = request.app.state.context
    if context is not None:
        await collected.refresh(context.store)
    return Response(collected.render(), media_type=CONTENT_TYPE)
