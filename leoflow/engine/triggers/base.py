"""What the trigger runner and the scheduler exchange, and the error of a bad trigger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leoflow.errors import LeoflowError

KINDS = ("time", "file", "http", "external_task", "hitl", "dag_run")
"""The trigger kinds the control plane runs (no user code: see docs/triggerer.md)."""

DEFAULT_POKE_INTERVAL = 60.0  # seconds, as Airflow's sensors
MIN_POKE_INTERVAL = 0.05  # a zero interval would spin; tests use fractions of a second


def parse_connection(raw: str) -> dict[str, Any] | None:
    """An ``AIRFLOW_CONN_*`` value as Airflow's JSON form: JSON as it is, or a URI
    (``scheme://login:password@host:port/schema?extra=value``; an ``https`` scheme is also
    the schema, for HTTP connections). None when it is neither."""
    import json
    from urllib.parse import parse_qsl, unquote, urlsplit

    raw = raw.strip()
    if raw.startswith("{"):
        try:
            found = json.loads(raw)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None
    parts = urlsplit(raw)
    if not parts.scheme:
        return None
    scheme = parts.scheme.replace("-", "_")
    return {"conn_type": scheme, "host": parts.hostname or "",
            "schema": parts.path.lstrip("/") or ("https" if scheme == "https" else ""),
            "port": parts.port,
            "login": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "extra": dict(parse_qsl(parts.query))}


def connection_extra(connection: Mapping[str, Any]) -> dict[str, Any]:
    """A connection's ``extra`` as a dict (stored as a dict or as JSON text; bad JSON or
    anything else is no extra)."""
    import json

    extra = connection.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except ValueError:
            return {}
    return dict(extra) if isinstance(extra, Mapping) else {}


class TriggerError(LeoflowError):
    """A trigger that cannot run: unknown kind, a missing or malformed argument.

    ``field`` names the offending argument (``trigger.kwargs.delta``...). The scheduler fails
    the try with this message instead of waiting for something that can never happen."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TriggerEvent:
    """A trigger fired (``payload`` is its event) or gave up (``timed_out``).

    ``timeout_kind`` says whose timeout it was: ``"sensor"`` (AirflowSensorTimeout, no retry,
    soft_fail applies) or ``"defer"`` (TaskDeferralTimeout, retries apply)."""

    trigger_id: int
    ti_id: str
    try_number: int
    payload: Mapping[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    timeout_kind: str | None = None


@dataclass(frozen=True)
class PollResult:
    """One poll of a polling trigger: its event when it fired, else what it still waits for
    (shown to the user in the try's log, the API and the IDE)."""

    event: Mapping[str, Any] | None
    waiting_for: str


def poke_interval(kwargs: Mapping[str, Any]) -> float:
    value = kwargs.get("poke_interval", DEFAULT_POKE_INTERVAL)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise TriggerError(f"poke_interval must be a number of seconds, not {value!r}",
                           field="trigger.kwargs.poke_interval") from None
    return max(seconds, MIN_POKE_INTERVAL)
