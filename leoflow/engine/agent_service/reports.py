"""An agent's report of its try's end: checked, committed, then handed to the scheduler.

A report is committed (``tokens.record_report``, the token spent by it) before the agent is
answered: an answer means "durably recorded". The scheduler, the single writer of
task-instance state, applies it from its queue, or from the row after a restart
(``leoflow.engine.scheduler.reconcile``). A retried report (its answer was lost) gets the
first one's answer and is not queued again. A try that waits without its process reports
``deferred`` (on a trigger) or ``up_for_reschedule`` (until its next poke).

A success may carry its XComs (``ReportStateRequest.xcoms``): they are checked as
``PushXCom`` checks a value (JSON, the size cap), then written in the transaction that
records the report, only by the report that stands (a resent one writes nothing). A value
``PushXCom`` would refuse turns the report into the failure the agent reports after a
refused push (``XComPushError``), and nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

import grpc

from leoflow.engine.agent_service.fencing import Fencing, Session
from leoflow.engine.agent_service.task_io import LogSink, XComStore, refusal_code
from leoflow.engine.executors.base import EventState, ExecutorEvent
from leoflow.engine.faults import fault_point
from leoflow.engine.store import tokens
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.rpc import agent_pb2 as pb

REPORTABLE = ("success", "failed", "skipped", "deferred", "up_for_reschedule")


class _Refused(Exception):
    """An XCom of the report cannot be stored: the try fails with this message instead."""


async def report_state(request: pb.ReportStateRequest, context: grpc.aio.ServicerContext,
                       session: Session, ti: TaskInstanceRow, *, fencing: Fencing,
                       logs: LogSink, xcom: XComStore,
                       report: Callable[[ExecutorEvent], Awaitable[None]],
                       on_reported: Callable[[str], None] | None) -> pb.ReportStateResponse:
    """Check the report, finish the try's log, commit the report (and its XComs), then
    queue it."""
    if request.state not in REPORTABLE:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"state must be one of {', '.join(REPORTABLE)}, "
                            f"not {request.state!r}")
    if request.xcoms and request.state != "success":
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "only a success carries XComs (xcoms)")
    values: list[tuple[str, Any]] = []
    refused: _Refused | None = None
    try:
        values = [(x.key, _checked(xcom, ti, x)) for x in request.xcoms]
    except _Refused as exc:
        request, refused = _xcom_failure(str(exc)), exc
    recorded = await _recorded(request, ti, context)
    fencing.sessions.pop(session.ti_id, None)
    if refused is not None:
        await logs.write_lines(ti, session.try_number, "agent",
                               [f"the task's XComs were not stored: {refused}"], None)
    await logs.finish(ti, session.try_number)
    try:
        stood = await _record(recorded, session, ti, fencing, xcom, values)
    except _Refused as exc:  # refused by the backend (a full disk): nothing was kept
        request = _xcom_failure(str(exc))
        recorded = await _recorded(request, ti, context)
        stood = await _record(recorded, session, ti, fencing, xcom, [])
    if stood is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "this try's token was revoked or replaced; report refused")
        raise grpc.RpcError("report refused")  # abort raises; this keeps type checkers sure
    if on_reported is not None:
        on_reported(session.ti_id)
    if stood is recorded:
        state = cast(EventState, request.state)  # one of REPORTABLE, checked above
        await report(ExecutorEvent(session.ti_id, session.try_number, state,
                                   error=recorded["error"], info=recorded["info"]))
    fault_point("reported", context)
    return pb.ReportStateResponse(recorded_state=str(stood.get("state") or ""))


async def _recorded(request: pb.ReportStateRequest, ti: TaskInstanceRow,
                    context: grpc.aio.ServicerContext) -> dict[str, Any]:
    """What the try's row keeps of a report: the scheduler's event (a malformed report is
    refused here, before anything is written)."""
    return {"state": request.state, "error": _error(request),
            "info": await _info(request, ti, context)}


async def _record(recorded: dict[str, Any], session: Session, ti: TaskInstanceRow,
                  fencing: Fencing, xcom: XComStore, values: list[tuple[str, Any]]
                  ) -> dict[str, Any] | None:
    """Commit the report, and the XComs of the report that stands (the first one), before
    the answer: the token is spent by it. The scheduler applies it from its queue, or from
    this row after a restart. A retried report (its answer was lost) gets the first one's
    answer, writes nothing and is not queued again."""
    async with fencing.store.begin() as conn:
        stood = await tokens.record_report(conn, session.ti_id, session.token,
                                           session.try_number, recorded)
        if stood is recorded:
            for key, value in values:
                try:
                    await xcom.push(dag_run_id=ti.dag_run_id, task_id=ti.task_id,
                                    map_index=ti.map_index, key=key, value=value, conn=conn)
                except Exception as exc:  # leaving the block rolls the report back
                    raise _Refused(_refusal(key, exc)) from exc
    return stood


def _checked(xcom: XComStore, ti: TaskInstanceRow, item: pb.OutcomeXCom) -> Any:
    """The value of one of the report's XComs, refused as ``PushXCom`` would refuse it."""
    try:
        value = json.loads(item.value_json)
    except ValueError:
        raise _Refused(_refusal(item.key, None, "value_json is not JSON")) from None
    try:
        xcom.policy.encode(value, task_id=ti.task_id, key=item.key, map_index=ti.map_index)
    except Exception as exc:
        raise _Refused(_refusal(item.key, exc)) from exc
    return value


def _refusal(key: str, exc: Exception | None, details: str = "") -> str:
    """The message of the agent's ``XComPushError`` when ``PushXCom`` refused the value (the
    same text on both paths, so a failure reads the same whichever path the agent took)."""
    code = refusal_code(exc) if exc is not None else grpc.StatusCode.INVALID_ARGUMENT
    return f"cannot store XCom {key!r}: PushXCom failed: {code.name}: {details or exc}"


def _xcom_failure(message: str) -> pb.ReportStateRequest:
    """The report of a success whose XCom was refused, as the agent makes it."""
    return pb.ReportStateRequest(state="failed", exit_code=1, error_type="XComPushError",
                                 error_message=message)


async def _info(request: pb.ReportStateRequest, ti: TaskInstanceRow,
                context: grpc.aio.ServicerContext) -> dict[str, Any]:
    """What the scheduler needs beyond the state: retry policy, reschedule date, the
    deferral, branches followed, asset events, a short circuit's verdict."""
    info: dict[str, Any] = {"no_retry": request.no_retry}
    if request.state == "failed" and request.HasField("retry_delay"):
        info["retry_delay"] = max(0.0, float(request.retry_delay))  # the retry policy's
    if request.state == "up_for_reschedule":
        if request.reschedule_date <= 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "up_for_reschedule needs reschedule_date (epoch seconds)")
        info["reschedule_date"] = float(request.reschedule_date)
    elif request.state == "deferred":
        info.update(await _deferral(request, context))
    if request.follow_task_ids_json:
        info["follow_task_ids"] = json.loads(request.follow_task_ids_json)
    if request.state == "success" and request.outlet_events_json:
        try:
            info["outlet_events"] = _outlet_events(request.outlet_events_json)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if ti.operator == "short_circuit":
        info["short_circuit_continue"] = request.short_circuit_continue
    return info


def _error(request: pb.ReportStateRequest) -> str | None:
    """A failure's message: type, message, exit code, traceback, the retry policy's reason."""
    if request.state != "failed":
        return None
    parts = [f"{request.error_type}: {request.error_message}".strip(": ")]
    if request.exit_code:
        parts.append(f"(exit code {request.exit_code})")
    error = " ".join(p for p in parts if p)
    if request.traceback:
        error += "\n" + request.traceback
    if request.retry_reason:
        error += f"\nretry policy: {request.retry_reason}"
    return error


async def _deferral(request: pb.ReportStateRequest, context: grpc.aio.ServicerContext
                    ) -> dict[str, Any]:
    """The ``info`` of a ``deferred`` report; a malformed one is refused with the field."""
    def parse(name: str, text: str) -> Any:
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise ValueError(f"{name} is not JSON: {exc}") from None

    try:
        trigger = parse("trigger_json", request.trigger_json)
        next_kwargs = parse("next_kwargs_json", request.next_kwargs_json) or {}
        if not isinstance(trigger, dict) or "kind" not in trigger:
            raise ValueError('trigger_json must be {"kind": ..., "kwargs": {...}}')
        if not isinstance(next_kwargs, dict):
            raise ValueError("next_kwargs_json must be a JSON object")
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise  # abort raises; this keeps type checkers and readers sure of it
    return {"trigger": trigger, "next_method": request.next_method or None,
            "next_kwargs": next_kwargs,
            "defer_timeout": float(request.defer_timeout) if request.defer_timeout > 0
            else None}


def _outlet_events(text: str) -> list[dict[str, Any]]:
    """``outlet_events_json`` of a success: a list of objects, each with a ``ref``."""
    try:
        events = json.loads(text)
    except ValueError:
        raise ValueError("outlet_events_json is not JSON") from None
    if not isinstance(events, list) or not all(
            isinstance(e, dict) and isinstance(e.get("ref"), dict) for e in events):
        raise ValueError('outlet_events_json must be a list of {"ref": ..., "extra": ...}')
    return events
