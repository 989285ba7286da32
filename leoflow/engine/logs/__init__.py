"""Task logs: one NDJSON file per try, live tail through a pub/sub bus.

Usage::

    from leoflow.engine.logs import LogKey, LogStore

    logs = LogStore(home / "logs")                   # bus=RedisLogBus(url) in Pro
    key = LogKey("etl", "manual__2026-01-01T00:00:00+00:00", "extract", try_number=1)
    await logs.append_lines(key, "stdout", ["hello"], timestamp=time.time())
    records, token = await logs.read(key, offset=0, limit=100)
    async for records, token in logs.tail(key):       # stored, then live until finish
        ...
    await logs.finish(key)

See docs/xcom-and-logs.md.
"""

from leoflow.engine.logs.bus import (
    DEFAULT_SUBSCRIBER_BYTES,
    Gap,
    InProcessLogBus,
    LogBus,
    LogChunk,
    Subscription,
)
from leoflow.engine.logs.paths import LogKey, safe_component
from leoflow.engine.logs.records import STREAMS, LogRecord, decode_line, iso_timestamp
from leoflow.engine.logs.redis_bus import RedisLogBus
from leoflow.engine.logs.store import (
    DEFAULT_BUFFER_BYTES,
    LogStore,
    LogSubscription,
    LogWriteError,
    gap_marker,
)

__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_SUBSCRIBER_BYTES",
    "STREAMS",
    "Gap",
    "InProcessLogBus",
    "LogBus",
    "LogChunk",
    "LogKey",
    "LogRecord",
    "LogStore",
    "LogSubscription",
    "LogWriteError",
    "RedisLogBus",
    "Subscription",
    "decode_line",
    "gap_marker",
    "iso_timestamp",
    "safe_component",
]
