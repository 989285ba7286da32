"""The store's row types and listing vocabulary, as the faces name them.

The API models convert rows into Airflow's responses and the routes pass ``Range`` bounds
and catch ``UnknownOrderField``; they import these names from here so that no module of
``leoflow.engine.api`` imports ``leoflow.engine.store`` (DESIGN.md: the IDE and the API
reach the store only through services). Nothing is redefined: these are the store's own
classes.
"""

from __future__ import annotations

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

__all__ = [
    "AssetAliasRow", "AssetEventRow", "AssetRow", "AuditLogRow", "DagRow", "DagRunRow",
    "DagVersionRow", "ImportErrorRow", "Page", "PoolRow", "Range", "TaskInstanceHistoryRow",
    "TaskInstanceRow", "TriggerRow", "UnknownOrderField", "XComRow",
]
