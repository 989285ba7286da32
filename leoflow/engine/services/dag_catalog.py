"""Reads over a tenant's whole catalogue of DAGs, for ``/dagTags``, ``/dagStats`` and
``/dagWarnings``: every DAG with its current spec, run counts by state, and the pools the
tasks name that do not exist.

Tags, pools and display names live in the compiled specs (no column holds them), so these
reads load the tenant's current versions in one query and let the caller parse them with
its spec cache. Each call opens its own read connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, listings
from leoflow.engine.store.listings import UnknownOrderField
from leoflow.engine.store.rows import DagRow, DagVersionRow
from leoflow.engine.store.tables import dag, dag_run, dag_version, pool

SpecOf = Callable[[DagVersionRow | None], DagSpec | None]


@dataclass(frozen=True)
class CatalogDag:
    """A DAG of the tenant, its current version and spec."""

    row: DagRow
    version: DagVersionRow | None
    spec: DagSpec | None


@dataclass(frozen=True)
class PoolWarning:
    """A task of ``dag_id`` names a pool that does not exist: the scheduler would never
    find slots for it (Airflow's ``non-existent pool`` DAG warning)."""

    dag_id: str
    message: str
    timestamp: datetime


async def tenant_dags(store: Store, *, tenant: str, spec_of: SpecOf,
                      dag_ids: Collection[str] | None = None,
                      exclude_stale: bool = True) -> list[CatalogDag]:
    """Every DAG of ``tenant`` (or those of ``dag_ids``), by dag_id, with current specs."""
    async with store.connect() as conn:
        page = await listings.list_dags(conn, tenant=tenant, exclude_stale=exclude_stale,
                                        dag_ids=dag_ids, limit=None)
        versions = await listings.versions_by_id(
            conn, (d.current_version_id for d in page.items))
    found = []
    for row in page.items:
        version = versions.get(row.current_version_id or "")
        found.append(CatalogDag(row=row, version=version, spec=spec_of(version)))
    return found


async def run_state_counts(store: Store, *, tenant: str, dag_ids: Collection[str]
                           ) -> dict[str, dict[str, int]]:
    """{dag_id: {run state: count}} for the tenant's DAGs of ``dag_ids``."""
    if not dag_ids:
        return {}
    query = (select(dag_run.c.dag_id, dag_run.c.state, func.count())
             .join(dag, dag.c.dag_id == dag_run.c.dag_id)
             .where(dag.c.tenant == tenant, dag_run.c.dag_id.in_(sorted(dag_ids)))
             .group_by(dag_run.c.dag_id, dag_run.c.state))
    counts: dict[str, dict[str, int]] = {}
    async with store.connect() as conn:
        for dag_id, state, count in (await conn.execute(query)).all():
            counts.setdefault(dag_id, {})[state] = int(count)
    return counts


async def pool_warnings(store: Store, dags: Collection[CatalogDag]) -> list[PoolWarning]:
    """One warning per DAG whose tasks name pools that do not exist, naming them."""
    async with store.connect() as conn:
        existing = set((await conn.execute(select(pool.c.name))).scalars().all())
    warnings = []
    for item in dags:
        if item.spec is None:
            continue
        missing = sorted({t.pool for t in item.spec.tasks if t.pool not in existing})
        if missing:
            names = ", ".join(repr(name) for name in missing)
            stamp = item.version.created_at if item.version else item.row.updated_at
            warnings.append(PoolWarning(
                dag_id=item.row.dag_id, timestamp=stamp,
                message=f"Dag '{item.row.dag_id}' references non-existent pools: {names}"))
    return warnings


VERSION_ORDER = {"id": "id", "version_number": "version_number", "created_at": "created_at",
                 "dag_id": "dag_id"}


async def tenant_versions(store: Store, *, tenant: str, dag_id: str | None,
                          version_number: int | None, order: list[str], limit: int,
                          offset: int) -> tuple[list[DagVersionRow], int]:
    """One page of the versions of ``dag_id`` (every DAG of the tenant when None), and the
    total. ``order`` names fields of ``VERSION_ORDER`` (``-`` for descending); an unknown
    one raises ``UnknownOrderField``."""
    query = (select(dag_version).join(dag, dag.c.dag_id == dag_version.c.dag_id)
             .where(dag.c.tenant == tenant))
    if dag_id is not None:
        query = query.where(dag_version.c.dag_id == dag_id)
    if version_number is not None:
        query = query.where(dag_version.c.version_number == version_number)
    clauses = []
    for name in order:
        field = VERSION_ORDER.get(name.lstrip("-"))
        if field is None:
            raise UnknownOrderField(name.lstrip("-"), sorted(VERSION_ORDER))
        column = dag_version.c[field]
        clauses.append(column.desc() if name.startswith("-") else column.asc())
    clauses.append(dag_version.c.dag_id.asc())
    async with store.connect() as conn:
        total = int((await conn.execute(
            select(func.count()).select_from(query.subquery()))).scalar_one())
        rows = (await conn.execute(
            query.order_by(*clauses).limit(limit).offset(offset))).all()
    return [DagVersionRow(**r._mapping) for r in rows], total
