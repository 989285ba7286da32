"""The asset pages' reads and their one write, through the engine's services.

Every function calls ``leoflow.engine.services.asset_views`` (reads, each on its own
connection through ``services.reads.read``) or ``asset_queries`` (materialize, the same
service ``POST /api/v2/assets/{id}/materialize`` calls, so the IDE and the API follow one
rule). Nothing here touches a table; the tenant is the logged-in user's.
"""

from __future__ import annotations

from typing import Any

from leoflow.engine.auth.permissions import EDIT_RUNS, MANAGE_RESOURCES
from leoflow.engine.services import asset_queries, asset_views
from leoflow.engine.services.asset_views import (
    AssetPage,
    AssetSummary,
    DagAssetsView,
    RunTriggers,
)
from leoflow.engine.services.container import Services
from leoflow.engine.services.reads import read
from leoflow.ide.access import Access

__all__ = ["AssetPage", "AssetSummary", "DagAssetsView", "RunTriggers", "asset_list",
           "asset_page", "can_materialize", "dag_assets", "matches_assets", "materialize",
           "run_triggers"]


async def asset_list(plane: Services, tenant: str) -> list[AssetSummary]:
    return await read(plane.store, asset_views.asset_list, tenant=tenant)


async def asset_page(plane: Services, tenant: str, asset_id: int) -> AssetPage | None:
    return await read(plane.store, asset_views.asset_page, tenant=tenant, asset_id=asset_id)


async def dag_assets(plane: Services, tenant: str, dag_id: str) -> DagAssetsView | None:
    return await read(plane.store, asset_views.dag_assets, tenant=tenant, dag_id=dag_id)


async def run_triggers(plane: Services, tenant: str, dag_id: str,
                       run_id: str | None) -> RunTriggers | None:
    return await read(plane.store, asset_views.run_triggers, tenant=tenant, dag_id=dag_id,
                      run_id=run_id)


MATERIALIZE_NEEDS = (MANAGE_RESOURCES, EDIT_RUNS)  # the API's: writing assets, triggering


async def can_materialize(access: Access) -> bool:
    """Whether the current user has the API's permissions for materialize (to enable the
    button; ``materialize`` checks them again)."""
    return all([await access.allows(p) for p in MATERIALIZE_NEEDS])


async def materialize(plane: Services, access: Access, asset_id: int) -> Any:
    """Run the asset's one producing DAG (run type ``asset_materialization``) for the
    current user; raises ``AccessDenied`` when that user may not (any more), and the
    service's error when no DAG or several produce the asset (``LeoflowError``s)."""
    for permission in MATERIALIZE_NEEDS:
        principal = await access.check(permission)
    dag_id = await read(plane.store, asset_queries.producing_dag, tenant=principal.tenant,
                        asset_id=asset_id)
    return await asset_queries.materialize(
        plane.operations, dag_id=dag_id, conf=None, logical_date=None, run_id=None,
        note=None, partition_key=None, user=principal.username)


def matches_assets(kind: str, data: dict[str, Any]) -> bool:
    """Events after which what an asset page shows may have changed: a task succeeded or
    was marked (its outlets' events), a run started or ended (a consumer run, which also
    consumed its queued events), a compile or a pause (producers and consumers changed,
    a paused consumer queues nothing), or a materialize from the IDE."""
    if kind == "ti.finished":
        return data.get("state") == "success"
    return kind.startswith(("run.", "dag.", "compile", "asset.")) or kind == "ti.marked"
