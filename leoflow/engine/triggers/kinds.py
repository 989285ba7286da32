"""Checks and plain-language descriptions of trigger kinds (for errors, logs, API, IDE)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leoflow.engine.triggers import dag_run, external, files, hitl, http
from leoflow.engine.triggers.base import KINDS, TriggerError, poke_interval


def validate(kind: Any, kwargs: Any) -> None:
    """Raise ``TriggerError`` unless ``kind``/``kwargs`` can run (time forms are checked
    when the moment is resolved)."""
    if kind not in KINDS:
        raise TriggerError(f"unknown trigger kind {kind!r}; the control plane runs "
                           f"{', '.join(KINDS)}", field="trigger.kind")
    if not isinstance(kwargs, Mapping):
        raise TriggerError("trigger kwargs must be a JSON object", field="trigger.kwargs")
    if kind != "time":
        poke_interval(kwargs)
    {"file": files.validate, "http": http.validate,
     "external_task": external.validate, "hitl": hitl.validate,
     "dag_run": dag_run.validate}.get(kind, lambda _k: None)(kwargs)


def describe(kind: str, kwargs: Mapping[str, Any], due_at: datetime | None = None) -> str:
    """What a trigger waits for, in one line."""
    if kind == "time":
        return f"time {due_at.isoformat()}" if due_at else "a moment in time"
    if kind == "file":
        return f"a file matching {kwargs.get('filepath')}"
    if kind == "http":
        target = kwargs.get("url") or (f"{kwargs.get('http_conn_id')}"
                                       f"{kwargs.get('endpoint') or ''}")
        return f"HTTP {str(kwargs.get('method') or 'GET').upper()} {target} to answer 2xx"
    if kind == "external_task":
        ids = kwargs.get("external_task_ids")
        what = f"task(s) {', '.join(ids)} of DAG" if ids else "DAG"
        states = "/".join(kwargs.get("allowed_states") or ["success"])
        return f"{what} {kwargs.get('external_dag_id')} to be {states}"
    if kind == "dag_run":
        return dag_run.describe(kwargs)
    if kind == "hitl":
        return f"a person to answer {str(kwargs.get('subject') or '')!r}"
    return kind
