"""What the task-instance routes share: their paths, path parameters and "not found" answer.

Paths with a map index use a signed-integer converter (``-1`` is the unmapped instance),
so ``/{task_id}/{map_index}`` never shadows ``/{task_id}/xcomEntries`` or ``/{task_id}/logs``
that other modules serve under the same prefix. Reads are in ``task_instances``, state and
note changes and clearing in ``task_instance_changes``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.convertors import Convertor, register_url_convertor

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import NotFound
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN
from leoflow.engine.api.routes.dags import spec_cache
from leoflow.engine.services import run_listing
from leoflow.engine.services.rows import DagRunRow
from leoflow.engine.spec.model import DagSpec


class _SignedInt(Convertor[int]):
    regex = "-?[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


# Starlette keeps converters in a registry, read when a route is declared: the route
# modules import this one before declaring theirs.
register_url_convertor("signed_int", _SignedInt())

TIS = "/dagRuns/{dag_run_id}/taskInstances"
MapIndex = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)]
TryNumber = Annotated[int, Path(ge=0, le=INT32_MAX)]


def ti_not_found(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> NotFound:
    """Airflow's 404 for a task instance (its message names all four keys)."""
    return NotFound(f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, "
                    f"task_id: `{task_id}` and map_index: `{map_index}` was not found")


async def spec_of(ctx: ApiContext, conn: AsyncConnection, run: DagRunRow) -> DagSpec | None:
    """The spec of the version ``run`` is pinned to (cached per version)."""
    return spec_cache(ctx).get(await run_listing.version_of(conn, run))
