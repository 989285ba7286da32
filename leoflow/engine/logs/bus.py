"""Live fan-out of log chunks to the readers tailing a try: the pub/sub interface.

The writer publishes each chunk *after* writing it to the file, with its byte range, so a
reader always knows where a live chunk sits in the stored log: it can start from a stored
offset and continue live without a gap or a duplicate (``LogStore.tail``).

Memory stays bounded whatever a task prints and however slow a reader is: each subscriber
has a queue limited in bytes. When a reader falls behind, new chunks are **dropped, not
queued**, and the reader receives one ``Gap`` (lines and byte range) in their place; it can
show a marker or read the range back from the file. Backpressure was the other choice, and
it would let one slow browser tab slow down the task that is printing; dropping costs the
slow reader only, and the file always holds every line.

Two implementations: ``InProcessLogBus`` (Lite; one process) and ``RedisLogBus`` (Pro; any
number of API replicas), one behaviour suite for both.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

DEFAULT_SUBSCRIBER_BYTES = 2 * 1024 * 1024
_ITEM_OVERHEAD = 256  # a queued chunk costs its text plus Python object overhead


@dataclass(frozen=True)
class LogChunk:
    """NDJSON lines written together; ``[start, end)`` is their byte range in the file."""

    start: int
    end: int
    text: str
    lines: int


@dataclass(frozen=True)
class Gap:
    """Lines a slow subscriber missed; ``[start, end)`` is their byte range in the file."""

    start: int
    end: int
    lines: int


class Subscription:
    """One subscriber's bounded queue of chunks; ``get()`` returns None once the try ended."""

    def __init__(self, max_bytes: int = DEFAULT_SUBSCRIBER_BYTES,
                 on_close: Callable[[Subscription], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.dropped_lines = 0
        self.peak_bytes = 0  # the most this queue ever held, for tests and metrics
        self._items: deque[LogChunk | Gap] = deque()
        self._bytes = 0
        self._ended = False
        self._closed = False
        self._wakeup = asyncio.Event()
        self._on_close = on_close

    @property
    def ended(self) -> bool:
        return self._ended

    def offer(self, chunk: LogChunk) -> None:
        """Queue a chunk, or count it as dropped when the queue is full. Never blocks."""
        if self._ended:
            return
        cost = len(chunk.text) + _ITEM_OVERHEAD
        if self._items and self._bytes + cost > self.max_bytes:
            self.dropped_lines += chunk.lines
            last = self._items[-1]
            if isinstance(last, Gap) and last.end == chunk.start:
                self._items[-1] = Gap(last.start, chunk.end, last.lines + chunk.lines)
            else:
                self._items.append(Gap(chunk.start, chunk.end, chunk.lines))
        else:
            # An empty queue takes any chunk, however large, so that progress is guaranteed;
            # a chunk is at most one writer flush (see LogStore.max_buffer_bytes).
            self._items.append(chunk)
            self._bytes += cost
            self.peak_bytes = max(self.peak_bytes, self._bytes)
        self._wakeup.set()

    def end(self) -> None:
        """No more chunks will come (the try finished, or the bus closed)."""
        self._ended = True
        self._wakeup.set()

    async def get(self) -> LogChunk | Gap | None:
        """The next chunk or gap; None when the stream has ended and everything was read."""
        while not self._items:
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        if isinstance(item, LogChunk):
            self._bytes -= len(item.text) + _ITEM_OVERHEAD
        return item

    async def aclose(self) -> None:
        """Stop receiving; idempotent."""
        self.end()
        if not self._closed:
            self._closed = True
            self._items.clear()
            if self._on_close is not None:
                self._on_close(self)
            await self._release()

    async def _release(self) -> None:
        """Free what the bus holds for this subscriber (a Redis connection)."""


class LogBus(Protocol):
    """Pub/sub of log chunks by channel (one channel per try)."""

    async def publish(self, channel: str, chunk: LogChunk) -> None:
        """Deliver ``chunk`` to the channel's current subscribers; never waits for them."""

    async def start(self, channel: str) -> None:
        """A writer (re)opened the channel: forget that it was finished."""

    async def finish(self, channel: str) -> None:
        """End the channel's subscriptions, and those that subscribe later."""

    async def subscribe(self, channel: str,
                        max_bytes: int = DEFAULT_SUBSCRIBER_BYTES) -> Subscription:
        """A subscription that receives chunks published from now on (already ended when
        the channel is finished)."""

    async def close(self) -> None:
        """End every subscription and release connections."""


class InProcessLogBus:
    """Fan-out inside one process (Lite). Remembers the last ``remember`` finished
    channels so that a late subscriber to a finished try ends at once."""

    def __init__(self, remember: int = 10_000) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def publish(self, channel: str, chunk: LogChunk) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.offer(chunk)

    async def start(self, channel: str) -> None:
        self._finished.pop(channel, None)

    async def finish(self, channel: str) -> None:
        self._finished[channel] = None
        self._finished.move_to_end(channel)
        while len(self._finished) > self._remember:
            self._finished.popitem(last=False)
        for subscription in self._subscribers.pop(channel, set()):
            subscription.end()

    async def subscribe(self, channel: str,
                        max_bytes: int = DEFAULT_SUBSCRIBER_BYTES) -> Subscription:
        def forget(sub: Subscription) -> None:
            subs = self._subscribers.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[channel]

        subscription = Subscription(max_bytes, on_close=forget)
        if channel in self._finished:
            subscription.end()
        else:
            self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    async def close(self) -> None:
        for subs in self._subscribers.values():
            for subscription in subs:
                subscription.end()
        self._subscribers.clear()
