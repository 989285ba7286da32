"""One read-only service call on its own connection, for the faces (API routes, IDE pages).

The read services (``asset_views``, ``asset_queries``, ``listings``-based views) take a
connection so that a service composing several of them reads one consistent snapshot; a
face that needs one of them alone calls it through ``read`` and never opens a connection
or names a table itself (DESIGN.md: the IDE and the API reach the store only through
services).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.store import Store

P = ParamSpec("P")
T = TypeVar("T")


async def read(store: Store, query: Callable[Concatenate[AsyncConnection, P], Awaitable[T]],
               *args: P.args, **kwargs: P.kwargs) -> T:
    """``query(conn, *args, **kwargs)`` on a fresh read connection (readers never block the
    writer, and nothing is committed)."""
    async with store.connect() as conn:
        return await query(conn, *args, **kwargs)
