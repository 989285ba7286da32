"""A try whose log cannot be written (a full disk) fails with the reason, and frees its slot.

Before, a log write failing inside the agent service's stream handler was only logged: the
try kept its slot and stayed ``running`` for ever (its report failed too, on the same
write). The log store now tells ``TryLogFailures.failed`` once per try; this reports the
try failed with the store's one-line reason ("cannot write the task log <path>: No space
left on device (errno ENOSPC)"), waits until the scheduler applied it, then stops the agent
and its whole process tree (docs/security.md, "Process trees and full disks"). In that
order, so that the agent, stopped, cannot report a vaguer failure first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.logs import LogKey
from leoflow.engine.logs.store import LogWriteError
from leoflow.engine.store import Store, task_instances

log = logging.getLogger("leoflow.logs")

APPLIED_WITHIN = 10.0  # seconds to wait for the scheduler to apply the failure


class TryLogFailures:
    """Which try writes which log, and what to do when one cannot be written."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._owners: dict[LogKey, tuple[str, int]] = {}
        self.report: Callable[[ExecutorEvent], Awaitable[None]] | None = None
        self.cancel: Callable[[str, str, int], Awaitable[None]] | None = None

    def note(self, key: LogKey, ti_id: str, try_number: int) -> None:
        """``key`` is the log of that try (called as its lines arrive)."""
        self._owners[key] = (ti_id, try_number)

    def forget(self, key: LogKey) -> None:
        self._owners.pop(key, None)

    async def failed(self, key: LogKey, error: LogWriteError) -> None:
        """The log store's callback: fail the try, then stop its agent."""
        owner = self._owners.pop(key, None)
        if owner is None or self.report is None:
            return
        ti_id, try_number = owner
        reason = str(error)
        log.error("failing %s (try %d): %s", ti_id, try_number, reason)
        await self.report(ExecutorEvent(ti_id, try_number, "failed", error=reason))
        await self._applied(ti_id, try_number)
        if self.cancel is not None:
            await self.cancel(ti_id, reason, try_number)

    async def _applied(self, ti_id: str, try_number: int) -> None:
        deadline = time.monotonic() + APPLIED_WITHIN
        while time.monotonic() < deadline:
            async with self.store.connect() as conn:
                ti = await task_instances.get_task_instance_by_id(conn, ti_id)
            if ti is None or ti.try_number != try_number or ti.state not in ("queued",
                                                                            "running"):
                return
            await asyncio.sleep(0.05)
