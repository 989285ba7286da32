"""One stored log line: ``{"timestamp": iso, "stream": "stdout"|"stderr"|"agent", "event": text}``.

Log files are NDJSON, one record per line, so a reader can start at any byte offset that
ends a line and a writer only ever appends. The field names are those of Airflow's structured
log messages (``event``, ``timestamp``), which the API serves as ``TaskInstancesLogResponse``
content items without reshaping them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

STREAMS = ("stdout", "stderr", "agent")


@dataclass(frozen=True)
class LogRecord:
    """A line of a try's log. ``timestamp`` is ISO 8601 in UTC (None only when a damaged
    line had none)."""

    event: str
    stream: str = "stdout"
    timestamp: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "stream": self.stream, "event": self.event}


def iso_timestamp(moment: float | datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds, from epoch seconds, an aware datetime, or now."""
    if moment is None:
        moment = datetime.now(UTC)
    elif isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        raise ValueError("log timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _check_stream(stream: str) -> str:
    if stream not in STREAMS:
        raise ValueError(f"unknown log stream {stream!r}; expected one of {', '.join(STREAMS)}")
    return stream


def encode_records(records: Iterable[LogRecord]) -> tuple[str, int]:
    """NDJSON text of ``records`` (each line ends with a newline) and the line count."""
    parts = []
    for r in records:
        stamp = encode_basestring(r.timestamp or iso_timestamp())
        parts.append(f'{{"timestamp":{stamp},"stream":"{_check_stream(r.stream)}",'
                     f'"event":{encode_basestring(r.event)}}}\n')
    return "".join(parts), len(parts)


def encode_lines(stream: str, lines: Iterable[str],
                 timestamp: float | datetime | None = None) -> tuple[str, int]:
    """NDJSON of lines read together from one stream: the hot path for chatty tasks (one
    timestamp, one prefix, and the C string encoder per line)."""
    prefix = f'{{"timestamp":"{iso_timestamp(timestamp)}","stream":"{_check_stream(stream)}",' \
             '"event":'
    parts = [f"{prefix}{encode_basestring(line)}}}\n" for line in lines]
    return "".join(parts), len(parts)


def decode_line(raw: str | bytes) -> LogRecord:
    """A record from one stored line; a damaged line (a crash mid-write) becomes its text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.rstrip("\n")
    try:
        data = json.loads(text)
        return LogRecord(event=str(data["event"]), stream=str(data.get("stream", "stdout")),
                         timestamp=data.get("timestamp"))
    except (ValueError, KeyError, TypeError):
        return LogRecord(event=text, stream="stdout", timestamp=None)
