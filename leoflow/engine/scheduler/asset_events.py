"""The asset rules the loop applies, as a port that the composition root fills.

A try that succeeds with outlets emits its asset events in the scheduler's own transaction,
so that the consumer runs they complete are created with it, exactly once; the asset
watchers emit events too. Those rules belong to the services
(``leoflow.engine.services.assets``): a task marked success through the API or the IDE, or
an event posted to ``/api/v2/assets/events``, goes through the very same functions. The
services sit above the scheduler (they use its pure rules and wake it through
``SchedulerHandle``), so the loop does not import them: it is given them,
``Scheduler(..., assets=leoflow.engine.services.assets)``; the module is the implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.spec.model import TaskSpec
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow


class AssetEvents(Protocol):
    """What the loop asks of the asset rules. Both write in the caller's transaction and
    return the ids of the consumer runs they created, which the batch then evaluates."""

    async def record_task_success(self, conn: AsyncConnection, *, run: DagRunRow,
                                  ti: TaskInstanceRow, task: TaskSpec,
                                  outlet_events: list[dict[str, Any]] | None,
                                  now: datetime) -> list[int]:
        """The asset events of a successful try (one per outlet, per partition key)."""
        ...

    async def create_event(self, conn: AsyncConnection, *, tenant: str, asset_id: int,
                           extra: Mapping[str, Any] | None,
                           now: datetime) -> tuple[Any, list[int]]:
        """An event from outside a task: here, an asset watcher's."""
        ...
