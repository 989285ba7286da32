"""Airflow UI: the smaller reads of its pages: backfills in progress, a DAG's next-run
assets and cross-DAG dependencies, partitioned runs, the connection form's hook metadata
(``/ui/backfills``, ``/ui/next_run_assets``, ``/ui/dependencies``,
``/ui/partitioned_dag_runs``, ``/ui/pending_partitioned_dag_run``,
``/ui/connections/hook_meta``).

What Leoflow does not have answers Airflow's empty shape (no backfill runs yet, no
partitioned runs): the page then shows its own "nothing here" state, not an error.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.routes.backfills import BackfillCollectionResponse, _response
from leoflow.engine.api.routes.dags import require_dag
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import backfills, dag_dependencies

router = APIRouter(prefix="/ui", tags=["Airflow UI"])

# The connection types of Leoflow's own operators and integrations; the form shows their
# standard fields (host, login, password, port, schema, extra).
CONNECTION_TYPES = (("http", "HTTP"), ("postgres", "Postgres"), ("mysql", "MySQL"),
                    ("sqlite", "SQLite"), ("aws", "Amazon Web Services"),
                    ("google_cloud_platform", "Google Cloud"), ("ssh", "SSH"),
                    ("redis", "Redis"), ("generic", "Generic"))


@router.get("/backfills", response_model=BackfillCollectionResponse)
async def get_backfills(limit: int = Query(50, ge=0), offset: int = Query(0, ge=0),
                        dag_id: str | None = None, active: bool | None = None,
                        ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))
                        ) -> BackfillCollectionResponse:
    """Backfills of the caller's DAGs (``active``: not completed), for the banner a DAG's
    page shows while one runs."""
    if dag_id:
        await require_dag(ctx, dag_id, principal)
    found, total = await backfills.page(ctx.store, tenant=principal.tenant, dag_id=dag_id,
                                        active=active, order="id", limit=limit, offset=offset)
    return BackfillCollectionResponse(backfills=[await _response(ctx, b) for b in found],
                                      total_entries=total)


@router.get("/next_run_assets/{dag_id}")
async def get_next_run_assets(dag_id: str, ctx: ApiContext = Depends(api_context),
                              principal: Principal = Depends(require(READ))
                              ) -> dict[str, Any]:
    await require_dag(ctx, dag_id, principal)
    return {"asset_expression": None, "events": []}


@router.get("/dependencies")
async def get_dependencies(node_id: str | None = None,
                           dependency_type: Literal["scheduling", "data"] = "scheduling",
                           ctx: ApiContext = Depends(api_context),
                           principal: Principal = Depends(require(READ))) -> dict[str, Any]:
    """Cross-DAG dependencies (assets, triggers, sensors) as Airflow's graph of nodes and
    edges; with ``node_id`` the part linked to it; ``data``: an asset's producing and
    reading tasks (``node_id`` ``asset:<id>``)."""
    if dependency_type == "data":
        asset_id = node_id.removeprefix("asset:") if node_id else ""
        if not node_id or not node_id.startswith("asset:") or not asset_id.isdigit():
            raise ApiError(400, "Data dependencies require an asset node_id (e.g., 'asset:123')")
        return await dag_dependencies.data_graph(ctx.store, tenant=principal.tenant,
                                                 asset_id=int(asset_id))
    graph = await dag_dependencies.scheduling_graph(ctx.store, tenant=principal.tenant)
    return graph if node_id is None else dag_dependencies.connected_part(graph, node_id)


@router.get("/partitioned_dag_runs")
async def get_partitioned_runs(dag_id: str | None = None,
                               has_created_dag_run_id: bool | None = None,
                               principal: Principal = Depends(require(READ))
                               ) -> dict[str, Any]:
    return {"partitioned_dag_runs": [], "total": 0, "asset_expressions": None}


@router.get("/pending_partitioned_dag_run/{dag_id}")
async def get_pending_partitioned_run(dag_id: str, partition_key: str,
                                      ctx: ApiContext = Depends(api_context),
                                      principal: Principal = Depends(require(READ))
                                      ) -> dict[str, Any]:
    await require_dag(ctx, dag_id, principal)
    raise NotFound(f"No pending partitioned run of `{dag_id}` for `{partition_key}`")


def _hook(conn_type: str, name: str) -> dict[str, Any]:
    return {"connection_type": conn_type, "hook_class_name": None,
            "default_conn_name": f"{conn_type}_default", "hook_name": name,
            "standard_fields": None, "extra_fields": None}


@router.get("/connections/hook_meta")
async def get_hook_meta(principal: Principal = Depends(require(READ))) -> list[dict[str, Any]]:
    """The connection types the Connections form offers."""
    return [_hook(t, n) for t, n in CONNECTION_TYPES]
