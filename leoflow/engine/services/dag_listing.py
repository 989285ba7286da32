"""The DAG reads of the Airflow face (``/api/v2/dags``): a page of a tenant's DAGs, one
DAG with its current spec, its details.

Each call opens its own read connection and is scoped to ``tenant``; the route maps what
it gets (None for a DAG that is absent or another tenant's) to Airflow's answers. Specs are
parsed by the caller's ``spec_of`` (the API keeps a per-app cache of parsed versions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from leoflow.engine.services import asset_queries
from leoflow.engine.services.run_views import visible_dag
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, dags, listings
from leoflow.engine.store.rows import DagRow, DagVersionRow, Page

SpecOf = Callable[[DagVersionRow | None], DagSpec | None]
Keep = Callable[[DagRow, DagSpec | None], bool]


@dataclass(frozen=True)
class DagPage:
    """One page of DAGs with their current specs, the total, and which have import errors."""

    rows: list[tuple[DagRow, DagSpec | None]]
    total: int
    errored: set[str]


@dataclass(frozen=True)
class DagDetail:
    """A visible DAG with what its details response needs."""

    row: DagRow
    version: DagVersionRow | None
    spec: DagSpec | None
    has_import_errors: bool
    active_runs: int
    asset_expression: dict[str, Any] | None


async def page_of_dags(store: Store, *, tenant: str, spec_of: SpecOf, keep: Keep | None,
                       limit: int, offset: int, paused: bool | None, exclude_stale: bool,
                       dag_id_pattern: str | None, dag_id_prefix: str | None,
                       has_import_errors: bool | None, order: list[str]) -> DagPage:
    """One page of the tenant's DAGs with their current specs, and the total.

    Tags, owners and display names live in the compiled spec, not in columns: with ``keep``
    the candidates are filtered by it before paging. Raises ``UnknownOrderField``.
    """
    async with store.connect() as conn:
        result = await listings.list_dags(
            conn, tenant=tenant, paused=paused, exclude_stale=exclude_stale,
            dag_id_pattern=dag_id_pattern, dag_id_prefix=dag_id_prefix,
            has_import_errors=has_import_errors, order=order,
            limit=None if keep else limit, offset=0 if keep else offset)
        versions = await listings.versions_by_id(conn,
                                                 (d.current_version_id for d in result.items))
        rows = [(d, spec_of(versions.get(d.current_version_id or ""))) for d in result.items]
        total = result.total
        if keep is not None:
            kept = [(d, s) for d, s in rows if keep(d, s)]
            rows, total = kept[offset:offset + limit], len(kept)
        errored = await listings.dags_with_import_errors(conn, (d.dag_id for d, _ in rows))
    return DagPage(rows=rows, total=total, errored=errored)


async def dags_with_import_errors(store: Store, dag_ids: Iterable[str]) -> set[str]:
    """Which of ``dag_ids`` have an import error."""
    async with store.connect() as conn:
        return await listings.dags_with_import_errors(conn, dag_ids)


async def visible(store: Store, dag_id: str, *, tenant: str) -> DagRow | None:
    """The DAG if it is ``tenant``'s; None when absent or another tenant's."""
    async with store.connect() as conn:
        return await visible_dag(conn, dag_id, tenant)


async def current_version(store: Store, dag_id: str) -> DagVersionRow | None:
    """The DAG's current version (None before its first compile)."""
    async with store.connect() as conn:
        return await dags.current_version(conn, dag_id)


async def dag_with_spec(store: Store, dag_id: str, *, tenant: str, spec_of: SpecOf
                        ) -> tuple[DagRow, DagSpec | None, bool] | None:
    """(DAG, current spec, has import errors), or None when not ``tenant``'s."""
    async with store.connect() as conn:
        row = await visible_dag(conn, dag_id, tenant)
        if row is None:
            return None
        spec = spec_of(await dags.current_version(conn, dag_id))
        errored = await listings.dags_with_import_errors(conn, [dag_id])
    return row, spec, dag_id in errored


async def dag_detail(store: Store, dag_id: str, *, tenant: str, spec_of: SpecOf
                     ) -> DagDetail | None:
    """What ``/dags/{dag_id}/details`` shows, or None when the DAG is not ``tenant``'s."""
    async with store.connect() as conn:
        row = await visible_dag(conn, dag_id, tenant)
        if row is None:
            return None
        version = await dags.current_version(conn, dag_id)
        errored = await listings.dags_with_import_errors(conn, [dag_id])
        active = await listings.count_active_runs(conn, dag_id)
        spec = spec_of(version)
        expression = await asset_queries.expression_with_ids(
            conn, tenant=row.tenant, condition=spec.schedule.assets if spec else None)
    return DagDetail(row=row, version=version, spec=spec, has_import_errors=dag_id in errored,
                     active_runs=active, asset_expression=expression)


async def source_version(store: Store, dag_id: str, version_number: int | None, *,
                         tenant: str) -> tuple[bool, DagVersionRow | None]:
    """(whether the DAG is ``tenant``'s, the version ``version_number`` or the current one)
    for ``/dagSources``."""
    async with store.connect() as conn:
        if await visible_dag(conn, dag_id, tenant) is None:
            return False, None
        version = (await dags.get_version_by_number(conn, dag_id, version_number)
                   if version_number is not None else await dags.current_version(conn, dag_id))
    return True, version


async def current_versions(store: Store, dag_ids: Iterable[str]
                           ) -> dict[str, DagVersionRow | None]:
    """The current version of each DAG of ``dag_ids`` that exists (for display names)."""
    async with store.connect() as conn:
        rows = await listings.dags_by_id(conn, dag_ids)
        versions = await listings.versions_by_id(conn,
                                                 (d.current_version_id for d in rows.values()))
    return {dag_id: versions.get(row.current_version_id or "") for dag_id, row in rows.items()}


async def dag_row(store: Store, dag_id: str) -> DagRow | None:
    """The DAG whatever its tenant (``leoflow push`` must tell "taken by another tenant")."""
    async with store.connect() as conn:
        return await dags.get_dag(conn, dag_id)


async def dag_and_current_version(store: Store, dag_id: str
                                  ) -> tuple[DagRow | None, DagVersionRow | None]:
    """The DAG whatever its tenant, and its current version (None for a new DAG)."""
    async with store.connect() as conn:
        existing = await dags.get_dag(conn, dag_id)
        return existing, await dags.current_version(conn, dag_id) if existing else None


async def versions_page(store: Store, dag_id: str, *, limit: int, offset: int
                        ) -> Page[DagVersionRow]:
    """One page of the DAG's versions by number, oldest first."""
    async with store.connect() as conn:
        return await dags.list_versions(conn, dag_id, limit=limit, offset=offset)


async def version_by_number(store: Store, dag_id: str, version_number: int
                            ) -> DagVersionRow | None:
    """The DAG's version ``version_number``, or None."""
    async with store.connect() as conn:
        return await dags.get_version_by_number(conn, dag_id, version_number)
