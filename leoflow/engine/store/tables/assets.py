"""Tables of assets (Airflow 3's data-aware scheduling; docs/assets.md,
leoflow.engine.store.assets): assets and aliases, their events, who produces and consumes
them, the events waiting for a consumer, the asset state store and the watchers.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from leoflow.engine.store.tables.common import ID_LEN, STATE_LEN, TENANT_LEN, metadata
from leoflow.engine.store.types import UTCDateTime, json_type, scalar_json_type

ASSET_NAME_LEN = 1500  # as Airflow's asset.name / uri / group

# An asset a DAG of the tenant names (schedule, outlet, inlet, @asset). Upserted when a DAG
# version becomes current; never deleted by a re-registration (events keep pointing at it).
asset = Table(
    "asset",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("name", String(ASSET_NAME_LEN), nullable=False),
    Column("uri", String(ASSET_NAME_LEN), nullable=False),
    Column("group", String(ASSET_NAME_LEN), nullable=False, default="asset"),
    Column("extra", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant", "name"),
    Index("ix_asset_tenant_uri", "tenant", "uri"),
    sqlite_autoincrement=True,  # asset_id is visible through the API
)

asset_alias = Table(
    "asset_alias",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("name", String(ASSET_NAME_LEN), nullable=False),
    Column("group", String(ASSET_NAME_LEN), nullable=False, default=""),
    UniqueConstraint("tenant", "name"),
    sqlite_autoincrement=True,
)

# Which assets an alias has resolved to (an ``outlet_events[alias].add(asset)`` at run time).
asset_alias_asset = Table(
    "asset_alias_asset",
    metadata,
    Column("alias_id", Integer, ForeignKey("asset_alias.id", ondelete="CASCADE"),
           primary_key=True),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_asset_alias_asset_asset_id", "asset_id"),
)

# One update of an asset: by a task's success, the API, or a watcher.
asset_event = Table(
    "asset_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), nullable=False),
    Column("extra", json_type(), nullable=False),
    Column("source_dag_id", String(ID_LEN), nullable=True),
    Column("source_run_id", String(ID_LEN), nullable=True),
    Column("source_task_id", String(ID_LEN), nullable=True),
    Column("source_map_index", Integer, nullable=True),
    Column("source_alias", String(ASSET_NAME_LEN), nullable=True),
    Column("partition_key", String(ID_LEN), nullable=True),
    Column("timestamp", UTCDateTime, nullable=False),
    Index("ix_asset_event_asset_id_timestamp", "asset_id", "timestamp"),
    Index("ix_asset_event_source", "source_dag_id", "source_run_id"),
    sqlite_autoincrement=True,  # event ids are visible through the API and never reused
)

# Who consumes and who produces what, per DAG, from its current version: ``kind`` is
# ``schedule`` (a leaf of its condition), ``outlet`` or ``inlet`` (with ``task_id``). A leaf
# names an asset (``asset_id``), an alias (``alias_id``) or an ``Asset.ref`` resolved at
# evaluation time (``ref_name`` or ``ref_uri``). Rewritten whole when a version becomes current.
dag_asset_ref = Table(
    "dag_asset_ref",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           nullable=False),
    Column("kind", String(STATE_LEN), nullable=False),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), nullable=True),
    Column("alias_id", Integer, ForeignKey("asset_alias.id", ondelete="CASCADE"),
           nullable=True),
    Column("ref_name", String(ASSET_NAME_LEN), nullable=True),
    Column("ref_uri", String(ASSET_NAME_LEN), nullable=True),
    Column("task_id", String(ID_LEN), nullable=True),
    Index("ix_dag_asset_ref_dag_id", "dag_id"),
    Index("ix_dag_asset_ref_asset_id", "asset_id"),
    Index("ix_dag_asset_ref_alias_id", "alias_id"),
)

# Events waiting for a consumer's condition (Airflow's asset_dag_run_queue), one row per
# (consumer, event): the rows a run consumes become its triggering events.
asset_queue = Table(
    "asset_queue",
    metadata,
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           primary_key=True),
    Column("event_id", Integer, ForeignKey("asset_event.id", ondelete="CASCADE"),
           primary_key=True),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), nullable=False),
    Column("partition_key", String(ID_LEN), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_asset_queue_asset_id", "asset_id"),
)

# The events that started a run (Airflow's dagrun_asset_event).
dag_run_asset_event = Table(
    "dag_run_asset_event",
    metadata,
    Column("dag_run_id", Integer, ForeignKey("dag_run.id", ondelete="CASCADE"),
           primary_key=True),
    Column("event_id", Integer, ForeignKey("asset_event.id", ondelete="CASCADE"),
           primary_key=True),
    Index("ix_dag_run_asset_event_event_id", "event_id"),
)

# The asset state store (Airflow 3.3): JSON values kept per asset, shared by its tasks.
asset_state = Table(
    "asset_state",
    metadata,
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", scalar_json_type(), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The watchers of the current DAG versions' assets (AssetWatcher): run by the trigger runner.
asset_watcher = Table(
    "asset_watcher",
    metadata,
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(ASSET_NAME_LEN), primary_key=True),
    Column("trigger", json_type(), nullable=False),
)
