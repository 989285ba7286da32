"""Favourite DAGs per user (Airflow 3's ``dag_favorite``): the Airflow UI's star on a DAG, its
"Favorite Dags" on the dashboard and the DAG list's ``is_favorite`` filter
(``leoflow.engine.services.favorites``)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table

from leoflow.engine.store.tables.common import ID_LEN, metadata

dag_favorite = Table(
    "dag_favorite",
    metadata,
    # the principal's username (an API token's user need not have an account row)
    Column("user_id", String(ID_LEN), primary_key=True),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           primary_key=True),
)
