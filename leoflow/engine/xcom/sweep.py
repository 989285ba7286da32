"""The TTL sweep: a small background task that deletes expired XCom values now and then.

Expired values already read as absent, so the sweep only reclaims space; a slow or failed
sweep never changes what tasks see. Failures are logged and the next round tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from leoflow.engine.xcom.base import XComBackend

log = logging.getLogger(__name__)

DEFAULT_SWEEP_INTERVAL = 600.0


class XComSweeper:
    """Runs ``backend.sweep()`` every ``interval`` seconds between ``start()`` and ``stop()``."""

    def __init__(self, backend: XComBackend, interval: float = DEFAULT_SWEEP_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError(f"the sweep interval must be positive, got {interval}")
        self.backend = backend
        self.interval = interval
        self.swept = 0  # values deleted since start, for metrics and tests
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sweeping (the first round runs at once); idempotent."""
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name="xcom-sweep")

    async def stop(self) -> None:
        """Stop and wait for the task to end; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """One round; returns how many values were deleted."""
        deleted = await self.backend.sweep()
        self.swept += deleted
        if deleted:
            log.info("XCom sweep deleted %d expired values", deleted)
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly unreachable; try next round
                log.exception("XCom sweep failed; retrying in %.0f s", self.interval)
            await asyncio.sleep(self.interval)
