"""DAGs and their immutable versions.

A DAG row is the mutable face of a DAG (paused or not, where its file is, when it runs
next). Its versions are immutable: ``register_version`` stores a compiled dag.json once per
distinct content hash and numbers versions 1, 2, 3... per DAG; runs pin the version they
started with. The caller owns the transaction: nothing here commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store._sql import fetch_page, order_by, upsert, written
from leoflow.engine.store.errors import DagNotFoundError
from leoflow.engine.store.rows import DagRow, DagVersionRow, Page
from leoflow.engine.store.tables import dag, dag_run, dag_version
from leoflow.engine.store.types import utcnow

DAG_ORDER_FIELDS = ("dag_id", "created_at", "updated_at", "next_dagrun_after", "tenant")


def content_hash(spec: Mapping[str, Any]) -> str:
    """The identity of a dag.json document: its own ``content_hash`` when the compiler set
    one, else ``sha256:`` of its canonical JSON (sorted keys, no spaces, UTF-8)."""
    declared = spec.get("content_hash")
    if isinstance(declared, str) and declared:
        return declared
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def upsert_dag(
    conn: AsyncConnection,
    dag_id: str,
    *,
    fileloc: str | None = None,
    tenant: str = "default",
    paused_on_create: bool = True,
    now: datetime | None = None,
) -> DagRow:
    """Create the DAG row, or refresh an existing one (its file is present again).

    ``paused_on_create`` applies only when the row is new, like Airflow's
    ``dags_are_paused_at_creation``; an existing DAG keeps its paused flag and its tenant.
    A ``None`` ``fileloc`` keeps the stored one.
    """
    now = now or utcnow()
    stmt = upsert(conn, dag).values(
        dag_id=dag_id,
        tenant=tenant,
        is_paused=paused_on_create,
        is_stale=False,
        fileloc=fileloc,
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[dag.c.dag_id],
        set_={
            "fileloc": func.coalesce(stmt.excluded.fileloc, dag.c.fileloc),
            "is_stale": False,
            "updated_at": now,
        },
    )
    await conn.execute(stmt)
    return written(await get_dag(conn, dag_id), f"DAG {dag_id}")


# built once: every task's start reads its DAG (no statement built per call)
_DAG = select(dag).where(dag.c.dag_id == bindparam("dag_id"))


async def get_dag(conn: AsyncConnection, dag_id: str) -> DagRow | None:
    """The DAG row, or ``None``."""
    result = await conn.execute(_DAG, {"dag_id": dag_id})
    row = result.first()
    return DagRow(**row._mapping) if row else None


async def list_dags(
    conn: AsyncConnection,
    *,
    tenant: str | None = None,
    paused: bool | None = None,
    stale: bool | None = None,
    dag_id_pattern: str | None = None,
    dag_ids: list[str] | None = None,
    limit: int | None = 100,
    offset: int = 0,
    order: str = "dag_id",
) -> Page[DagRow]:
    """DAGs matching the filters, one page at a time, with the total count.

    ``dag_id_pattern`` is a case-insensitive substring (Airflow's ``dag_id_pattern``);
    ``order`` is a column name from ``DAG_ORDER_FIELDS``, ``-`` prefixed for descending.
    """
    query = select(dag)
    if tenant is not None:
        query = query.where(dag.c.tenant == tenant)
    if paused is not None:
        query = query.where(dag.c.is_paused == paused)
    if stale is not None:
        query = query.where(dag.c.is_stale == stale)
    if dag_id_pattern:
        query = query.where(func.lower(dag.c.dag_id).contains(dag_id_pattern.lower()))
    if dag_ids is not None:
        query = query.where(dag.c.dag_id.in_(dag_ids))
    clauses = order_by(dag, order, DAG_ORDER_FIELDS, ("dag_id",))
    return await fetch_page(conn, query, DagRow, order=clauses, limit=limit, offset=offset)


async def _update_dag(conn: AsyncConnection, dag_id: str, values: dict[str, Any]) -> DagRow:
    values.setdefault("updated_at", utcnow())
    result = await conn.execute(update(dag).where(dag.c.dag_id == dag_id).values(**values))
    if result.rowcount == 0:
        raise DagNotFoundError(dag_id)
    return written(await get_dag(conn, dag_id), f"DAG {dag_id}")


async def set_paused(conn: AsyncConnection, dag_id: str, paused: bool) -> DagRow:
    """Pause or unpause a DAG; ``DagNotFoundError`` if unknown."""
    return await _update_dag(conn, dag_id, {"is_paused": paused})


async def set_stale(conn: AsyncConnection, dag_id: str, stale: bool) -> DagRow:
    """Mark a DAG whose file left the workspace (kept for its history) or came back."""
    return await _update_dag(conn, dag_id, {"is_stale": stale})


async def set_next_dagrun(
    conn: AsyncConnection,
    dag_id: str,
    *,
    run_after: datetime | None,
    logical_date: datetime | None = None,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
) -> DagRow:
    """Record the next scheduled run computed by the timetable (all ``None``: none due)."""
    return await _update_dag(
        conn,
        dag_id,
        {
            "next_dagrun_after": run_after,
            "next_dagrun_logical_date": logical_date,
            "next_dagrun_data_interval_start": data_interval_start,
            "next_dagrun_data_interval_end": data_interval_end,
        },
    )


async def delete_dag(conn: AsyncConnection, dag_id: str) -> bool:
    """Delete a DAG with its versions, runs, task instances and XComs; ``False`` if unknown.

    Import errors and audit rows are kept: they are history, not state.
    """
    result = await conn.execute(delete(dag).where(dag.c.dag_id == dag_id))
    return result.rowcount > 0


async def register_version(
    conn: AsyncConnection,
    dag_id: str,
    spec: Mapping[str, Any],
    source_code: str | None = None,
    *,
    now: datetime | None = None,
    draft: bool = False,
) -> DagVersionRow:
    """Store a compiled dag.json as a version of ``dag_id`` and make it the current one.

    Returns the existing version when a version with the same content hash is already
    stored (saving a file twice, or reverting to an older content, creates nothing);
    otherwise stores version ``max + 1``. The DAG row must exist (``upsert_dag`` first):
    ``DagNotFoundError`` otherwise. On PostgreSQL the DAG row is locked until the caller
    commits, so two concurrent registrations cannot take the same number.

    Drafts: a ``draft`` version (a save's, from the hot reloader) is kept only until the next
    registration of the DAG, which deletes every draft no run pins (``drop_drafts``) before
    numbering its own; so ten saves without a run leave one version, numbered after the
    last version that ran or was pushed. A run clears the flag (``runs.create_run``), and
    so does registering the same content without ``draft`` (a push). The lock taken here
    waits for a run being created on PostgreSQL (its foreign key check holds a key-share
    lock on the DAG row), so a version a committed run pins is never deleted.
    """
    locked = await conn.execute(
        select(dag.c.current_version_id).where(dag.c.dag_id == dag_id).with_for_update()
    )
    current = locked.first()
    if current is None:
        raise DagNotFoundError(dag_id)
    digest = content_hash(spec)
    now = now or utcnow()
    existing = (
        await conn.execute(
            select(dag_version).where(
                dag_version.c.dag_id == dag_id, dag_version.c.content_hash == digest
            )
        )
    ).first()
    if existing is not None:
        version = DagVersionRow(**existing._mapping)
        if version.is_draft and not draft:
            await keep_version(conn, version.id)
            version = replace(version, is_draft=False)
        await drop_drafts(conn, dag_id, keep=version.id)
    else:
        await drop_drafts(conn, dag_id)
        highest = (
            await conn.execute(
                select(func.max(dag_version.c.version_number)).where(dag_version.c.dag_id == dag_id)
            )
        ).scalar_one()
        version = DagVersionRow(
            id=str(uuid.uuid4()),
            dag_id=dag_id,
            version_number=(highest or 0) + 1,
            content_hash=digest,
            spec=dict(spec),
            source_code=source_code,
            created_at=now,
            is_draft=draft,
        )
        await conn.execute(dag_version.insert().values(**asdict(version)))
    if current.current_version_id != version.id:
        await _update_dag(conn, dag_id, {"current_version_id": version.id, "updated_at": now})
    return version


async def drop_drafts(conn: AsyncConnection, dag_id: str, *, keep: str | None = None) -> int:
    """Delete the DAG's draft versions that no run pins (but ``keep``); how many."""
    pinned = select(dag_run.c.id).where(dag_run.c.dag_version_id == dag_version.c.id).exists()
    query = delete(dag_version).where(
        dag_version.c.dag_id == dag_id, dag_version.c.is_draft.is_(True), ~pinned)
    if keep is not None:
        query = query.where(dag_version.c.id != keep)
    return (await conn.execute(query)).rowcount or 0


async def keep_version(conn: AsyncConnection, version_id: str) -> None:
    """The version ran or was pushed: no longer a draft, never replaced by a save."""
    await conn.execute(update(dag_version).where(
        dag_version.c.id == version_id, dag_version.c.is_draft.is_(True)).values(is_draft=False))


async def get_version(conn: AsyncConnection, version_id: str) -> DagVersionRow | None:
    """A version by its id (the UUID runs pin), or ``None``."""
    row = (await conn.execute(select(dag_version).where(dag_version.c.id == version_id))).first()
    return DagVersionRow(**row._mapping) if row else None


async def get_version_by_number(
    conn: AsyncConnection, dag_id: str, version_number: int
) -> DagVersionRow | None:
    """A version by its number within the DAG (as the API addresses it), or ``None``."""
    row = (
        await conn.execute(
            select(dag_version).where(
                dag_version.c.dag_id == dag_id, dag_version.c.version_number == version_number
            )
        )
    ).first()
    return DagVersionRow(**row._mapping) if row else None


async def current_version(conn: AsyncConnection, dag_id: str) -> DagVersionRow | None:
    """The version matching the DAG's current source, or ``None`` if never registered."""
    row = (
        await conn.execute(
            select(dag_version)
            .join(dag, dag.c.current_version_id == dag_version.c.id)
            .where(dag.c.dag_id == dag_id)
        )
    ).first()
    return DagVersionRow(**row._mapping) if row else None


async def list_versions(
    conn: AsyncConnection,
    dag_id: str,
    *,
    limit: int | None = 100,
    offset: int = 0,
    newest_first: bool = False,
) -> Page[DagVersionRow]:
    """The versions of a DAG by number, with the total count."""
    query = select(dag_version).where(dag_version.c.dag_id == dag_id)
    column = dag_version.c.version_number
    clauses = [column.desc() if newest_first else column.asc()]
    return await fetch_page(conn, query, DagVersionRow, order=clauses, limit=limit, offset=offset)
