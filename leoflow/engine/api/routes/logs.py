"""Airflow ``/api/v2`` task logs: ``…/taskInstances/{task_id}/logs/{try_number}``.

``Accept: application/json`` (the client's default) answers ``{"content": [...],
"continuation_token": ...}``: pass the token back to read only what was written since,
until the try is over (then no token is given). ``Accept: application/x-ndjson`` answers
one JSON object per line: what is written so far, then the answer ends, also while the try
runs, as Airflow's log reader does (its UI asks again every few seconds and shows each answer
once it ends, so an answer that waited for the try would keep a running task's log blank).
Leoflow's ``follow=true`` keeps the answer open instead and streams what the try writes until
it ends (``curl -N``, scripts). Any other ``Accept`` (``text/plain``) is refused with 400, as
Airflow 3.3 does; ``download=true`` gives the plain text as an attachment.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import INT32_MAX, INT32_MIN, no_nul
from leoflow.engine.api.models.misc import StructuredLogMessage, TaskInstancesLogResponse
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.logs import LogKey, LogRecord
from leoflow.engine.services import run_listing, task_instance_reads
from leoflow.engine.services.reads import read

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
                   tags=["Task Instance"], dependencies=[Depends(no_nul)])

JSON, NDJSON = "application/json", "application/x-ndjson"
PAGE_LINES = 10_000  # lines per JSON answer unless full_content
STREAM_BATCH = 2_000
WATCHDOG_SECONDS = 5.0  # how often a live stream checks that its try is still running
LIVE_STATES = frozenset({"queued", "running", "restarting", "deferred", "up_for_reschedule"})
LOGGERS = {"stdout": "task.stdout", "stderr": "task.stderr", "agent": "leoflow.agent"}
BAD_TOKEN = "Bad Signature. Please use only the tokens provided by the API."


def encode_token(position: int) -> str:
    raw = json.dumps({"log_pos": position, "end_of_log": False}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    """The byte offset a token carries; 400 for anything the API did not hand out."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position = data["log_pos"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise ApiError(400, BAD_TOKEN) from None
    if not isinstance(position, int) or isinstance(position, bool) \
            or not 0 <= position < 2**62:
        raise ApiError(400, BAD_TOKEN)
    return position


def message(record: LogRecord) -> dict[str, Any]:
    """A stored line as Airflow's structured log message (stdout at info level, stderr at
    error level, as the task SDK logs them). Validated from a dict: the stored ISO text
    becomes the model's datetime, and level, logger and stream are extra keys the model
    allows but does not declare."""
    return StructuredLogMessage.model_validate({
        "timestamp": record.timestamp, "event": record.event,
        "level": "error" if record.stream == "stderr" else "info",
        "logger": LOGGERS.get(record.stream, record.stream), "stream": record.stream,
    }).model_dump(mode="json")


def negotiate(accept: str) -> str:
    """Airflow's rule: ``*/*`` and JSON answer JSON, NDJSON streams, anything else is refused."""
    if accept.startswith("*/*") or accept.startswith(JSON):
        return JSON
    if accept.startswith(NDJSON):
        return NDJSON
    raise ApiError(400, "Only application/json or application/x-ndjson is supported")


@router.get("/logs/{try_number}", response_model=TaskInstancesLogResponse,
            responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}}})
async def get_log(
    request: Request,
    dag_id: str, dag_run_id: str, task_id: str,
    try_number: Annotated[int, Path(ge=0, le=INT32_MAX)],
    full_content: bool = False,
    map_index: Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX)] = -1,
    token: str | None = None,
    download: bool = False,
    follow: Annotated[bool, Query(description=(
        "Leoflow: with Accept application/x-ndjson, keep the answer open and stream what a "
        "running try writes until it ends (Airflow's answer ends with what is written)"))] = False,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require(READ)),
) -> Any:
    mode = negotiate(request.headers.get("accept") or "*/*")
    offset = decode_token(token) if token and not full_content else 0
    found = await task_instance_reads.tries(ctx.store, dag_id, dag_run_id, task_id, map_index,
                                            tenant=principal.tenant)
    if found is None:
        raise NotFound("TaskInstance not found")
    ti = found.live
    tries = {t.try_number for t in found.history} if ti else set()
    if ti is None or (try_number != ti.try_number and try_number not in tries):
        raise NotFound("TaskInstance not found")
    ti_id = ti.id
    key = LogKey(dag_id, dag_run_id, task_id, try_number=try_number, map_index=map_index)

    async def live() -> bool:
        """Whether this try may still write (it is the current one and not over)."""
        row = (await read(ctx.store, run_listing.instances_by_id, [ti_id]))[0]
        return row is not None and row.try_number == try_number and row.state in LIVE_STATES

    if download:
        return StreamingResponse(
            _plain(ctx, key), media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition":
                     f'attachment; filename="{dag_id}-{task_id}-try-{try_number}.log"'})
    if mode == NDJSON:
        headers = {"Airflow-Continuation-Token": encode_token(offset)} if await live() else None
        return StreamingResponse(_ndjson(ctx, key, offset, live if follow else None),
                                 media_type=NDJSON,
                                 headers=headers)
    limit = None if full_content else PAGE_LINES
    records, position = await ctx.logs.read(key, offset, limit)
    more = limit is not None and len(records) >= limit
    token_out = encode_token(position) if more or await live() else None
    return JSONResponse({"content": [message(r) for r in records],
                         "continuation_token": token_out})


async def _plain(ctx: ApiContext, key: LogKey) -> AsyncIterator[str]:
    position = 0
    while True:
        records, after = await ctx.logs.read(key, position, STREAM_BATCH)
        if after == position:
            return
        position = after
        yield "".join(f"{r.event}\n" for r in records)


def _lines(records: list[LogRecord]) -> str:
    return "".join(json.dumps(message(r)) + "\n" for r in records)


async def _ndjson(ctx: ApiContext, key: LogKey, offset: int,
                  live: Any) -> AsyncIterator[str]:
    """Stored lines from ``offset``, then, when following (``live`` given) while the try runs,
    its new lines as written.

    The live part follows the log store's tail; a watchdog ends the stream when the try is
    over even if nobody closed its log (an agent that died).
    """
    position = offset
    if live is not None and await live():
        tail = ctx.logs.tail(key, offset)
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(tail.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=WATCHDOG_SECONDS)
                if not done:
                    if not await live():
                        break
                    continue
                try:
                    records, position = pending.result()
                except StopAsyncIteration:
                    pending = None
                    break
                pending = None
                if records:
                    yield _lines(records)
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            with contextlib.suppress(Exception):
                await tail.aclose()
    while True:  # what is stored (all of it, for a finished try) from where we are
        records, after = await ctx.logs.read(key, position, STREAM_BATCH)
        if after == position:
            return
        position = after
        yield _lines(records)
