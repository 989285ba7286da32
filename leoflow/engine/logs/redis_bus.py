"""Live log fan-out through Redis pub/sub (Pro: readers on any API replica).

A chunk is one ``PUBLISH`` on ``<prefix>logs:<channel>`` whose payload is a header line
``"<start> <end> <lines>"`` followed by the NDJSON text; ``"end"`` ends the channel. Since a
message published before a reader subscribes is lost, ``finish`` also sets
``<prefix>logs-done:<channel>`` (expiring after ``finished_ttl``), which ``subscribe``
checks once its subscription is confirmed: a late reader ends at once instead of waiting.

Each subscriber has its own connection and a reader task that drains it into the bounded
``Subscription`` queue at once, so Redis never buffers for a slow reader (and never hits its
``client-output-buffer-limit`` for pub/sub); dropping happens here, as in-process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from leoflow.engine.logs.bus import DEFAULT_SUBSCRIBER_BYTES, LogChunk, Subscription

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

END = "end"


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class _RedisSubscription(Subscription):
    def __init__(self, max_bytes: int, pubsub: PubSub, bus: RedisLogBus) -> None:
        super().__init__(max_bytes, on_close=bus._forget)
        self._pubsub = pubsub
        self._reader: asyncio.Task[None] | None = None

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="redis-log-subscription")

    async def _read(self) -> None:
        try:
            async for message in self._pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = _text(message["data"])
                if data == END:
                    break
                header, _, text = data.partition("\n")
                start, end, lines = (int(x) for x in header.split())
                self.offer(LogChunk(start, end, text, lines))
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection dropped: end this reader's stream, not the task
            log.exception("live log subscription lost its Redis connection")
        finally:
            self.end()

    async def _release(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        try:
            await self._pubsub.unsubscribe()
        except Exception:  # already disconnected; closing below is all that is left
            log.debug("unsubscribe failed", exc_info=True)
        await self._pubsub.aclose()


class RedisLogBus:
    """Pub/sub of log chunks over Redis 6+. Give a URL (owned and closed here) or a client."""

    def __init__(self, redis: str | Redis, *, prefix: str = "leoflow:",
                 finished_ttl: float = 24 * 3600.0) -> None:
        if isinstance(redis, str):
            from redis.asyncio import Redis

            self.redis: Redis = Redis.from_url(redis)
        else:
            self.redis = redis
        self._owned = isinstance(redis, str)
        self.prefix = prefix
        self.finished_ttl = finished_ttl
        self._subscriptions: set[_RedisSubscription] = set()

    def _name(self, channel: str) -> str:
        return f"{self.prefix}logs:{channel}"

    def _done(self, channel: str) -> str:
        return f"{self.prefix}logs-done:{channel}"

    def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def publish(self, channel: str, chunk: LogChunk) -> None:
        await self.redis.publish(self._name(channel),
                                 f"{chunk.start} {chunk.end} {chunk.lines}\n{chunk.text}")

    async def start(self, channel: str) -> None:
        await self.redis.delete(self._done(channel))

    async def finish(self, channel: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._done(channel), b"1", px=max(1, int(self.finished_ttl * 1000)))
            pipe.publish(self._name(channel), END)
            await pipe.execute()

    async def subscribe(self, channel: str,
                        max_bytes: int = DEFAULT_SUBSCRIBER_BYTES) -> Subscription:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(self._name(channel))
            await _confirmed(pubsub)
            subscription = _RedisSubscription(max_bytes, pubsub, self)
            # Subscribed first, then checked: a finish cannot slip between the two unseen.
            if await self.redis.exists(self._done(channel)):
                subscription.end()
            else:
                subscription.start_reading()
        except BaseException:
            await pubsub.aclose()
            raise
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            await subscription.aclose()
        if self._owned:
            await self.redis.aclose()


async def _confirmed(pubsub: PubSub, timeout: float = 10.0) -> None:
    """Wait for Redis to confirm the SUBSCRIBE (messages published after it are ours)."""
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=timeout)
            if message is not None and message.get("type") == "subscribe":
                return
