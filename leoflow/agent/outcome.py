"""A try's outcome as the agent reports it: a state, what to push, and why it failed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leoflow.rpc import agent_pb2 as pb

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"
UP_FOR_RESCHEDULE = "up_for_reschedule"
DEFERRED = "deferred"
TRACEBACK_CHARS = 16_000


@dataclass
class Outcome:
    """What ``ReportState`` will say, plus the XComs it carries (or that are pushed before
    it, for an older control plane), in order."""

    state: str
    exit_code: int = 0
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    no_retry: bool = False
    follow_task_ids: list[str] | None = None
    short_circuit_continue: bool = False
    xcoms: list[tuple[str, Any]] = field(default_factory=list)
    # up_for_reschedule: when to poke again (epoch s)
    reschedule_date: float = 0.0
    # deferred: what to wait for and how to resume (docs/sensors.md)
    trigger: dict[str, Any] | None = None
    next_method: str = ""
    next_kwargs: dict[str, Any] = field(default_factory=dict)
    defer_timeout: float | None = None
    # failed: the retry policy's delay for the retry (s; None: the task's own) and reason
    retry_delay: float | None = None
    retry_reason: str = ""
    # success: what the task recorded for its outlets (leoflow.sdk.asset_outlet_events)
    outlet_events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def failed(cls, error_type: str, message: str, *, exit_code: int = 1,
               traceback: str = "", no_retry: bool = False) -> Outcome:
        return cls(FAILED, exit_code=exit_code, error_type=error_type,
                   error_message=message, traceback=traceback, no_retry=no_retry)

    @classmethod
    def rescheduled(cls, reschedule_date: float) -> Outcome:
        return cls(UP_FOR_RESCHEDULE, reschedule_date=float(reschedule_date))

    @classmethod
    def deferred(cls, trigger: dict[str, Any], next_method: str,
                 next_kwargs: dict[str, Any], timeout: float | None) -> Outcome:
        return cls(DEFERRED, trigger=dict(trigger), next_method=next_method,
                   next_kwargs=dict(next_kwargs), defer_timeout=timeout)

    def to_request(self, *, with_xcoms: bool = False) -> pb.ReportStateRequest:
        """The report; ``with_xcoms``: a success's XComs travel in it (the control plane
        takes them) instead of being pushed before it."""
        xcoms = [pb.OutcomeXCom(key=key, value_json=json.dumps(value))
                 for key, value in self.xcoms] if with_xcoms and self.state == SUCCESS else []
        return pb.ReportStateRequest(
            xcoms=xcoms,
            reschedule_date=self.reschedule_date,
            trigger_json=json.dumps(self.trigger) if self.trigger is not None else "",
            next_method=self.next_method,
            next_kwargs_json=json.dumps(self.next_kwargs) if self.state == DEFERRED else "",
            defer_timeout=self.defer_timeout or 0.0,
            state=self.state, exit_code=self.exit_code, error_type=self.error_type,
            error_message=self.error_message[:TRACEBACK_CHARS],
            traceback=self.traceback[-TRACEBACK_CHARS:],
            follow_task_ids_json=(json.dumps(self.follow_task_ids)
                                  if self.follow_task_ids is not None else ""),
            short_circuit_continue=self.short_circuit_continue, no_retry=self.no_retry,
            retry_delay=self.retry_delay, retry_reason=self.retry_reason[:500],
            outlet_events_json=json.dumps(self.outlet_events)
            if self.outlet_events and self.state == SUCCESS else "")

    def summary(self) -> str:
        if self.state == FAILED:
            return f"failed ({self.error_type}: {self.error_message})"
        if self.state == UP_FOR_RESCHEDULE:
            when = datetime.fromtimestamp(self.reschedule_date, UTC)
            return f"up_for_reschedule (next poke at {when.isoformat(timespec='seconds')})"
        if self.state == DEFERRED and self.trigger is not None:
            timeout = f", timeout {self.defer_timeout:g} s" if self.defer_timeout else ""
            return (f"deferred to a {self.trigger.get('kind')} trigger "
                    f"{json.dumps(self.trigger.get('kwargs'))[:300]}{timeout}; resumes in "
                    f"{self.next_method}")
        return self.state
