"""The store's row types and listing vocabulary, as the faces name them.

The API models convert rows into Airflow's responses, the routes pass ``Range`` bounds and
catch ``UnknownOrderField``, and the API context holds the ``Store`` handle (typed, opened
only by services); they import these names from here so that no module of
``leoflow.engine.api`` imports ``leoflow.engine.store`` (DESIGN.md: the IDE and the API
reach the store only through services). Nothing is redefined: these are the store's own
classes.
"""

from __future__ import annotations

from leoflow.engine.store import Store
from leoflow.engine.store.asset_listings import (
    AssetReference,
    LinkedRun,
    QueuedAsset,
    StateEntry,
)
from leoflow.engine.store.hitl import HitlRow
from leoflow.engine.store.listings import Range, UnknownOrderField
from leoflow.engine.store.rows import (
    AssetAliasRow,
    AssetEventRow,
    AssetRow,
    AuditLogRow,
    DagRow,
    DagRunRow,
    DagVersionRow,
    ImportErrorRow,
    Page,
    PoolRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TriggerRow,
    XComRow,
)
from leoflow.engine.store.users import ApiTokenRow, UserRow

__all__ = [
    "ApiTokenRow", "AssetAliasRow", "AssetEventRow", "AssetReference", "AssetRow",
    "AuditLogRow", "DagRow", "DagRunRow", "DagVersionRow", "HitlRow", "ImportErrorRow",
    "LinkedRun", "Page", "PoolRow", "QueuedAsset", "Range", "StateEntry", "Store",
    "TaskInstanceHistoryRow", "TaskInstanceRow", "TriggerRow", "UnknownOrderField", "UserRow",
    "XComRow",
]
