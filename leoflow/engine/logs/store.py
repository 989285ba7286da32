"""Task logs: one NDJSON file per try, written in batches, tailed live, read by offset.

Writing. ``append`` only encodes and queues; one flusher per try writes everything queued
in a single ``write`` on a worker thread, then publishes it to live readers. A chatty task
therefore costs one thread hop per batch, not per line, and a line is on disk (in the OS
cache) a thread hop after it arrived. The queue is capped (``max_buffer_bytes``): above it
``append`` waits for the flusher, which pushes back on the agent's log stream and, through
its bounded buffer, on the task's own ``print``. Nothing in memory grows with the log.

Reading. ``read`` returns whole lines from a byte offset and the offset after them: the
continuation token of Airflow's log API. Files are the source of truth, so a new
``LogStore`` on the same root (another process, after a restart) reads every log.

Live. ``subscribe`` receives what is written from then on until ``finish``; ``tail``
combines both (stored lines from an offset, then live ones, without gap or duplicate).
See ``bus.py`` for why a slow subscriber misses lines rather than slowing the task down.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path

from leoflow.engine.logs.bus import (
    DEFAULT_SUBSCRIBER_BYTES,
    Gap,
    InProcessLogBus,
    LogBus,
    LogChunk,
    Subscription,
)
from leoflow.engine.logs.paths import LogKey
from leoflow.engine.logs.records import (
    LogRecord,
    decode_line,
    encode_lines,
    encode_records,
    iso_timestamp,
)
from leoflow.engine.safe_files import make_private, make_private_dir
from leoflow.errors import LeoflowError

log = logging.getLogger(__name__)

DEFAULT_BUFFER_BYTES = 1024 * 1024
READ_BATCH = 5000  # records per batch when tailing


class LogWriteError(LeoflowError):
    """Lines could not be written (disk full, permissions); names the file and the cause."""

    def __init__(self, path: Path, error: BaseException) -> None:
        self.path = path
        self.error = error
        cause: BaseException | str = error
        if isinstance(error, OSError) and error.strerror:
            cause = f"{error.strerror} (errno {errno.errorcode.get(error.errno or 0, '?')})"
        super().__init__(f"cannot write the task log {path}: {cause}")


# Told when a try's log cannot be written (once per try): the control plane fails the try.
WriteFailed = Callable[[LogKey, LogWriteError], Awaitable[None]]


def gap_marker(gap: Gap) -> LogRecord:
    """What a live reader sees in place of the lines it was too slow to receive."""
    return LogRecord(event=f"[leoflow] {gap.lines} lines not shown live: this reader fell "
                           "behind; they are in the stored log", stream="agent",
                     timestamp=iso_timestamp())


class _Writer:
    """The state of one try being written: the queue, the file, the flusher task."""

    def __init__(self, path: Path, channel: str) -> None:
        self.path = path
        self.channel = channel
        self.pending: list[str] = []
        self.pending_bytes = 0
        self.pending_lines = 0
        self.position = 0
        self.opened = False  # the file was opened once (checked for a cut last line)
        self.flusher: asyncio.Task[None] | None = None
        self.room = asyncio.Event()
        self.room.set()
        self.error: BaseException | None = None
        self.started = False

    def write(self, text: str) -> tuple[int, int, str]:
        """On a worker thread: append ``text``; returns its byte range and its published
        form (lone surrogates replaced, as on disk).

        The file is opened for this batch and closed after it: the store never holds a log
        open between batches, so a log deleted to free a full disk frees its space at once
        (an open descriptor would keep it until the try ends, or for ever if it never does).
        One open per batch, not per line: batches gather whatever arrived meanwhile.
        """
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
            text = data.decode("utf-8")
        first = not self.opened
        if first:
            make_private_dir(self.path.parent)  # logs are the owner's only: 0700 / 0600
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            if first:
                make_private(self.path)  # a log an older version wrote 0644
            self.position = os.lseek(fd, 0, os.SEEK_END)
            if first and self.position and not _ends_with_newline(self.path):
                # A previous writer died mid-line: end that line, keep ours whole.
                _write_all(fd, b"\n")
                self.position += 1
            self.opened = True
            start = self.position
            written = _write_all(fd, data)  # readers (other processes too) see it now
            self.position += written
        finally:
            os.close(fd)
        return start, self.position, text

    def close(self) -> None:
        """Nothing is held between batches (see ``write``): kept for the callers."""


def _write_all(fd: int, data: bytes) -> int:
    """Write all of ``data`` (a short write is retried; ENOSPC is raised)."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.write(fd, view[done:])
    return done


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class LogStore:
    """Logs of task tries under ``root`` (``~/.leoflow/logs`` in Lite).

    ``bus`` fans lines out to live readers: in-process by default, ``RedisLogBus`` in Pro.
    """

    def __init__(self, root: str | Path, *, bus: LogBus | None = None,
                 max_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                 subscriber_max_bytes: int = DEFAULT_SUBSCRIBER_BYTES,
                 on_write_failed: WriteFailed | None = None) -> None:
        self.root = Path(root)
        # told once per try when its log cannot be written (the control plane fails the
        # try); ``finish`` then does not raise the error again
        self.on_write_failed = on_write_failed
        self._told: set[asyncio.Task[None]] = set()
        self.bus: LogBus = bus if bus is not None else InProcessLogBus()
        self._owns_bus = bus is None
        self.max_buffer_bytes = max_buffer_bytes
        self.subscriber_max_bytes = subscriber_max_bytes
        self._writers: dict[LogKey, _Writer] = {}
        self.peak_pending_bytes = 0  # the most any try ever queued, for tests and metrics

    def path(self, key: LogKey) -> Path:
        """The file of a try (it exists once something was written)."""
        return key.path_under(self.root)

    # -- writing -----------------------------------------------------------------------------
    async def append(self, key: LogKey, records: Iterable[LogRecord]) -> None:
        """Queue records for writing; waits only while the try's queue is full."""
        text, lines = encode_records(records)
        await self._queue(key, text, lines)

    async def append_lines(self, key: LogKey, stream: str, lines: Iterable[str],
                           timestamp: float | datetime | None = None) -> None:
        """Queue lines read together from one stream (the agent's batches): the fast path."""
        text, count = encode_lines(stream, lines, timestamp)
        await self._queue(key, text, count)

    async def _queue(self, key: LogKey, text: str, lines: int) -> None:
        if not lines:
            return
        while True:
            # Looked up again after each wait: ``finish`` may have retired the writer.
            writer = self._writers.get(key)
            if writer is None:
                writer = self._writers[key] = _Writer(self.path(key), key.channel)
            if writer.error is not None:
                raise LogWriteError(writer.path, writer.error)
            if writer.pending_bytes < self.max_buffer_bytes:
                break
            writer.room.clear()
            await writer.room.wait()
        writer.pending.append(text)
        writer.pending_bytes += len(text)
        writer.pending_lines += lines
        self.peak_pending_bytes = max(self.peak_pending_bytes, writer.pending_bytes)
        if writer.flusher is None:
            writer.flusher = asyncio.create_task(self._flush_loop(writer),
                                                 name=f"log-flush {key.channel}")

    async def _flush_loop(self, writer: _Writer) -> None:
        try:
            if not writer.started:
                writer.started = True
                await self._publish(self.bus.start(writer.channel))
            while writer.pending:
                text = "".join(writer.pending)
                lines = writer.pending_lines
                writer.pending.clear()
                writer.pending_bytes = writer.pending_lines = 0
                writer.room.set()
                start, end, text = await asyncio.to_thread(writer.write, text)
                await self._publish(self.bus.publish(writer.channel,
                                                     LogChunk(start, end, text, lines)))
        except Exception as exc:  # the disk: keep the error for the next append/flush
            first = writer.error is None
            writer.error = exc
            writer.pending.clear()
            writer.pending_bytes = writer.pending_lines = 0
            writer.room.set()
            error = LogWriteError(writer.path, exc)
            log.error("%s", error)
            if first and self.on_write_failed is not None:
                key = next((k for k, w in self._writers.items() if w is writer), None)
                if key is not None:  # told from a task of its own: it may stop the agent
                    told = asyncio.create_task(self._tell(self.on_write_failed, key, error))
                    self._told.add(told)
                    told.add_done_callback(self._told.discard)
        finally:
            writer.flusher = None

    @staticmethod
    async def _tell(on_write_failed: WriteFailed, key: LogKey, error: LogWriteError) -> None:
        try:
            await on_write_failed(key, error)
        except Exception:
            log.exception("could not act on the log failure of %s", key.channel)

    async def _publish(self, call: Awaitable[None]) -> None:
        """Live fan-out is best effort: the file is the record, a bus failure only logs."""
        try:
            await call
        except Exception:
            log.warning("live log fan-out failed", exc_info=True)

    async def flush(self, key: LogKey | None = None) -> None:
        """Wait until everything appended so far (for one try, or all) is in the file."""
        if key is None:
            writers = list(self._writers.values())
        else:
            writers = [self._writers[key]] if key in self._writers else []
        for writer in writers:
            while writer.flusher is not None:
                await asyncio.shield(writer.flusher)
            if writer.error is not None:
                raise LogWriteError(writer.path, writer.error)

    async def finish(self, key: LogKey) -> None:
        """The try is over: write what is queued, close the file, end live subscriptions."""
        writer = self._writers.get(key)
        try:
            if writer is not None:
                try:
                    await self.flush(key)
                except LogWriteError:
                    if self.on_write_failed is None:
                        raise  # nobody was told: the caller must know
        finally:
            if writer is not None:
                self._writers.pop(key, None)
                await asyncio.to_thread(writer.close)
            await self._publish(self.bus.finish(key.channel))

    async def close(self) -> None:
        """Flush and close every open log (without finishing the tries), and the bus if
        this store made it."""
        for key in list(self._writers):
            writer = self._writers.pop(key)
            with contextlib.suppress(LogWriteError):
                while writer.flusher is not None:
                    await asyncio.shield(writer.flusher)
            await asyncio.to_thread(writer.close)
        await asyncio.gather(*self._told, return_exceptions=True)
        if self._owns_bus:
            await self.bus.close()

    # -- reading -----------------------------------------------------------------------------
    def read_sync(self, key: LogKey, offset: int = 0, limit: int | None = None,
                  until: int | None = None) -> tuple[list[LogRecord], int]:
        """Blocking ``read`` (for threads); ``until`` stops at that byte offset."""
        if offset < 0:
            raise ValueError(f"a log offset is never negative, got {offset}")
        records: list[LogRecord] = []
        position = offset
        try:
            f = open(self.path(key), "rb")  # noqa: SIM115
        except FileNotFoundError:
            return records, offset
        with f:
            f.seek(offset)
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # a line still being written: the next read gets it whole
                records.append(decode_line(raw))
                position += len(raw)
                if (limit is not None and len(records) >= limit) or (
                        until is not None and position >= until):
                    break
        return records, position

    async def read(self, key: LogKey, offset: int = 0, limit: int | None = None
                   ) -> tuple[list[LogRecord], int]:
        """Whole records from byte ``offset`` (at most ``limit``) and the offset after them.

        Lines appended by this process are flushed first, so a read sees its own writes.
        An offset at the end (or a try with no log yet) gives ``([], offset)``.
        """
        with contextlib.suppress(LogWriteError):
            await self.flush(key)
        return await asyncio.to_thread(self.read_sync, key, offset, limit)

    # -- live --------------------------------------------------------------------------------
    async def subscribe(self, key: LogKey) -> LogSubscription:
        """Records written from now on, until ``finish`` (ends at once if finished)."""
        return LogSubscription(await self.bus.subscribe(key.channel, self.subscriber_max_bytes))

    async def tail(self, key: LogKey, offset: int = 0
                   ) -> AsyncGenerator[tuple[list[LogRecord], int], None]:
        """Stored records from ``offset``, then live ones until the try finishes, in
        batches with the offset after each: ``async for records, offset in logs.tail(k)``.

        Lines a slow reader missed live are read back from the file, so nothing is lost and
        memory stays bounded whatever the reader's pace.
        """
        subscription = await self.bus.subscribe(key.channel, self.subscriber_max_bytes)
        position = offset
        try:
            async for batch, position in self._stored(key, offset):
                yield batch, position
            while (item := await subscription.get()) is not None:
                if item.end <= position:
                    continue  # already read from the file
                if isinstance(item, LogChunk) and item.start == position:
                    position = item.end
                    yield [decode_line(line) for line in item.text.splitlines()], position
                    continue
                # A gap, or a chunk overlapping what was read: take that range from the file.
                async for batch, after in self._stored(key, position, item.end):
                    position = after
                    yield batch, position
            async for batch, after in self._stored(key, position):
                position = after
                yield batch, position
        finally:
            await subscription.aclose()

    async def _stored(self, key: LogKey, offset: int, until: int | None = None
                      ) -> AsyncIterator[tuple[list[LogRecord], int]]:
        position = offset
        while until is None or position < until:
            records, after = await asyncio.to_thread(self.read_sync, key, position,
                                                     READ_BATCH, until)
            if after == position:
                return
            position = after
            yield records, position


class LogSubscription:
    """Live records of one try; an async iterator (and async context manager).

    A ``Gap`` (lines this reader was too slow for) arrives as one marker record from the
    ``agent`` stream; ``dropped_lines`` counts them.
    """

    def __init__(self, queue: Subscription) -> None:
        self._queue = queue
        self._ready: list[LogRecord] = []
        self.offset: int | None = None  # the file offset after the last chunk received

    @property
    def dropped_lines(self) -> int:
        return self._queue.dropped_lines

    @property
    def peak_bytes(self) -> int:
        return self._queue.peak_bytes

    def __aiter__(self) -> LogSubscription:
        return self

    async def __anext__(self) -> LogRecord:
        while not self._ready:
            item = await self._queue.get()
            if item is None:
                await self.aclose()
                raise StopAsyncIteration
            self.offset = item.end
            if isinstance(item, Gap):
                self._ready.append(gap_marker(item))
            else:
                self._ready = [decode_line(line) for line in reversed(item.text.splitlines())]
        return self._ready.pop()

    async def aclose(self) -> None:
        await self._queue.aclose()

    async def __aenter__(self) -> LogSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
