"""A try's outcome as the agent reports it: a state, what to push, and why it failed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from leoflow.rpc import agent_pb2 as pb

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"
TRACEBACK_CHARS = 16_000


@dataclass
class Outcome:
    """What ``ReportState`` will say, plus the XComs to push before it (in order)."""

    state: str
    exit_code: int = 0
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    no_retry: bool = False
    follow_task_ids: list[str] | None = None
    short_circuit_continue: bool = False
    xcoms: list[tuple[str, Any]] = field(default_factory=list)

    @classmethod
    def failed(cls, error_type: str, message: str, *, exit_code: int = 1,
               traceback: str = "", no_retry: bool = False) -> Outcome:
        return cls(FAILED, exit_code=exit_code, error_type=error_type,
                   error_message=message, traceback=traceback, no_retry=no_retry)

    def to_request(self) -> pb.ReportStateRequest:
        return pb.ReportStateRequest(
            state=self.state, exit_code=self.exit_code, error_type=self.error_type,
            error_message=self.error_message[:TRACEBACK_CHARS],
            traceback=self.traceback[-TRACEBACK_CHARS:],
            follow_task_ids_json=(json.dumps(self.follow_task_ids)
                                  if self.follow_task_ids is not None else ""),
            short_circuit_continue=self.short_circuit_continue, no_retry=self.no_retry)

    def summary(self) -> str:
        if self.state == FAILED:
            return f"failed ({self.error_type}: {self.error_message})"
        return self.state
