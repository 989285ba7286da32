"""Helpers shared by the store's behaviour tests (imported as ``storetest``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leoflow.engine.store import DagRunRow, DagVersionRow, dags, runs


def spec(dag_id: str = "etl", **extra: Any) -> dict[str, Any]:
    """A small dag.json-like document (the store does not validate specs)."""
    return {"dag_id": dag_id, "tasks": [{"task_id": "a"}, {"task_id": "b"}], **extra}


T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def make_dag(conn: Any, dag_id: str = "etl") -> DagVersionRow:
    """A DAG with one registered version."""
    await dags.upsert_dag(conn, dag_id, fileloc=f"{dag_id}/dag.py", paused_on_create=False)
    return await dags.register_version(conn, dag_id, spec(dag_id), "print('hi')")


async def make_run(
    conn: Any, version: DagVersionRow, run_id: str = "manual__1", **kwargs: Any
) -> DagRunRow:
    kwargs.setdefault("run_type", "manual")
    kwargs.setdefault("run_after", T0)
    return await runs.create_run(
        conn, dag_id=version.dag_id, run_id=run_id, dag_version_id=version.id, **kwargs
    )
