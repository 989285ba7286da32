"""The scheduler's queue and its one worker: items in, batches out, failures retried.

One worker drains the queue: it takes every item waiting and applies them as one batch (one
transaction). A batch that finds a run changed under it (``StaleView``) is redone at once
from the database; any other failure rolls it back and puts its items back a little later,
each at most ``MAX_ATTEMPTS`` times, one by one so that a bad item cannot take the others
down with it. ``idle`` and ``between_batches`` let tests, the CLI and ``Scheduler.drain``
wait for a quiet moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from leoflow.engine.clock import Clock
from leoflow.engine.scheduler.work_items import RetryItem, WorkItem

log = logging.getLogger("leoflow.scheduler")

RETRY_FAILED_BATCH_AFTER = 1.0  # seconds before the items of a failed batch are retried
MAX_ATTEMPTS = 3  # a queue item whose batch failed this often is dropped (and logged)

Apply = Callable[[list[tuple[WorkItem, int]]], Awaitable[None]]


class StaleView(Exception):
    """A conditional write found another state than the in-memory view expected: the
    batch is rolled back and redone at once from the database (``run_views``)."""


class WorkQueue:
    """The queue, its worker task and the retry of failed batches.

    ``apply(entries)`` applies one batch (``(item, attempts so far)`` pairs) and raises when
    it failed, having undone what it kept in memory.
    """

    def __init__(self, clock: Clock, apply: Apply) -> None:
        self._clock = clock
        self._apply = apply
        self._queue: asyncio.Queue[WorkItem | RetryItem] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._batch = asyncio.Lock()  # held while a batch is applied and its effects done

    def put(self, item: WorkItem | RetryItem) -> None:
        self._idle.clear()
        self._queue.put_nowait(item)

    def empty(self) -> bool:
        """Whether no item waits (one may still be being applied)."""
        return self._queue.empty()

    def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="leoflow-scheduler")

    async def stop(self) -> None:
        """Cancel the worker (a batch in progress rolls back; see ``between_batches``)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def between_batches(self) -> None:
        """Return once no batch is in progress (the one running, if any, has finished its
        transaction and everything it does after the commit)."""
        async with self._batch:
            pass

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the queue is empty and nothing is being processed."""
        async def settled() -> None:
            while True:
                await self._idle.wait()
                await asyncio.sleep(0)
                if self._idle.is_set() and self._queue.empty():
                    return

        await asyncio.wait_for(settled(), timeout)

    async def _work(self) -> None:
        while True:
            first = await self._queue.get()
            self._idle.clear()
            items = [first]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                async with self._batch:
                    await self._run_batch(items)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _run_batch(self, raw: list[WorkItem | RetryItem]) -> None:
        entries = [(item.item, item.attempts) if isinstance(item, RetryItem) else (item, 0)
                   for item in raw]
        if len(entries) > 1 and any(n for _, n in entries):
            # Items whose batch failed before go one by one: one bad item must not take
            # the others down with it.
            for entry in entries:
                await self._attempt([entry])
        else:
            await self._attempt(entries)

    async def _attempt(self, entries: list[tuple[WorkItem, int]]) -> None:
        """Apply one batch; a stale view redoes it at once, another failure retries its
        items a little later (each item at most ``MAX_ATTEMPTS`` times)."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                await self._apply(entries)
                return
            except asyncio.CancelledError:
                raise
            except StaleView as exc:
                log.info("a run changed under the scheduler (%s); redoing the batch", exc)
                if attempt == MAX_ATTEMPTS - 1:
                    break
            except Exception:
                log.exception("scheduler batch failed; its items will be retried")
                break
        retry = [RetryItem(item, n + 1) for item, n in entries if n + 1 < MAX_ATTEMPTS]
        dropped = len(entries) - len(retry)
        if dropped:
            log.error("dropping %d scheduler item(s) after %d failed attempts: %s", dropped,
                      MAX_ATTEMPTS, [item for item, n in entries if n + 1 >= MAX_ATTEMPTS])
        if retry:
            def again() -> None:
                for entry in retry:
                    self.put(entry)

            self._clock.call_at(self._clock.now() + timedelta(seconds=RETRY_FAILED_BATCH_AFTER),
                                again)
