"""A user's favourite DAGs (Airflow's ``POST /dags/{id}/favorite`` and ``/unfavorite``, the
``is_favorite`` filter of the DAG lists). A favourite belongs to the username; the DAG must be
visible in the caller's tenant; marking one twice is not an error (the UI's star may race
with itself), unmarking one that is not marked is Airflow's 409."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.services.errors import DagNotFound, ServiceError
from leoflow.engine.store import Store
from leoflow.engine.store.tables import dag, dag_favorite


class NotFavourite(ServiceError):
    status = 409


async def _require_dag(conn: AsyncConnection, dag_id: str, tenant: str) -> None:
    found = (await conn.execute(select(dag.c.dag_id).where(
        dag.c.dag_id == dag_id, dag.c.tenant == tenant))).first()
    if found is None:
        raise DagNotFound(dag_id)


async def mark(store: Store, dag_id: str, *, user: str, tenant: str) -> None:
    """Make ``dag_id`` one of ``user``'s favourites (already one: nothing changes)."""
    try:
        async with store.begin() as conn:
            await _require_dag(conn, dag_id, tenant)
            if await _is_marked(conn, dag_id, user):
                return
            await conn.execute(insert(dag_favorite).values(user_id=user, dag_id=dag_id))
    except IntegrityError:  # marked meanwhile by a concurrent request
        return


async def unmark(store: Store, dag_id: str, *, user: str, tenant: str) -> None:
    async with store.begin() as conn:
        await _require_dag(conn, dag_id, tenant)
        removed = await conn.execute(delete(dag_favorite).where(
            dag_favorite.c.user_id == user, dag_favorite.c.dag_id == dag_id))
        if not removed.rowcount:
            raise NotFavourite("Dag is not marked as favorite")


async def _is_marked(conn: AsyncConnection, dag_id: str, user: str) -> bool:
    return (await conn.execute(select(dag_favorite.c.dag_id).where(
        dag_favorite.c.user_id == user, dag_favorite.c.dag_id == dag_id))).first() is not None


async def of_user(store: Store, user: str) -> set[str]:
    """The dag_ids ``user`` marked (DAGs of any tenant: the caller filters its listing)."""
    async with store.connect() as conn:
        rows = await conn.execute(select(dag_favorite.c.dag_id).where(
            dag_favorite.c.user_id == user))
        return set(rows.scalars().all())
