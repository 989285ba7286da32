"""How large a value a caller may store: one place for the per-field limits.

The request body as a whole is bounded by ``LEOFLOW_MAX_REQUEST_BYTES`` (the API's
``BodyLimitMiddleware``: 413 before it is read). Within it, a value that is kept in the
store and handed to every task (a run's ``conf``, a variable) gets its own, smaller bound,
so that one request cannot make every later run, task environment or listing carry
megabytes. The limits are generous for real use and named in the errors.
"""

from __future__ import annotations

import json
from typing import Any

from leoflow.engine.services.errors import ServiceError

KIB = 1024
MAX_CONF_BYTES = 256 * KIB            # a run's conf, as JSON: as large as an XCom may be
MAX_VARIABLE_VALUE_CHARS = 1024 * KIB  # a variable's value (task env: AIRFLOW_VAR_*)
MAX_CONNECTION_SECRET_CHARS = 64 * KIB  # a connection's password
MAX_CONNECTION_EXTRA_CHARS = 256 * KIB  # a connection's extra (key files, certificates)
MAX_DESCRIPTION_CHARS = 5000           # descriptions (Airflow's connection description)
MAX_NAME_CHARS = 500                   # host, login, schema (Airflow's String(500))


class FieldTooLarge(ServiceError):
    """A value larger than its field may hold (422); the message names field and limit."""

    status = 422


def json_size(value: Any) -> int:
    """The size of ``value`` as compact UTF-8 JSON, in bytes."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode("utf-8", "surrogatepass"))


def check_json_size(value: Any, field: str, limit: int) -> None:
    """``FieldTooLarge`` when ``value`` takes more than ``limit`` bytes of JSON."""
    size = json_size(value)
    if size > limit:
        raise FieldTooLarge(f"{field} is {size} bytes of JSON; at most {limit} are accepted",
                            field=field)


def check_text_size(value: str | None, field: str, limit: int) -> None:
    """``FieldTooLarge`` when the text ``value`` has more than ``limit`` characters."""
    if value is not None and len(value) > limit:
        raise FieldTooLarge(f"{field} has {len(value)} characters; at most {limit} are "
                            "accepted", field=field)
