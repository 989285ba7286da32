"""What every Airflow-compatible route shares: base models, paging, ids and body checks.

Response models carry Airflow's field names and JSON types exactly, because the official
client validates them strictly (``StrictStr``, ``StrictBool``, closed enums; a missing key
counts as ``null``). Request bodies forbid unknown keys, as Airflow's ``StrictBaseModel``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from leoflow.engine.api.errors import ApiError

# Airflow's [api] fallback_page_limit and maximum_page_limit.
DEFAULT_PAGE_LIMIT = 50
MAXIMUM_PAGE_LIMIT = 100
# Offsets beyond this select nothing anyway; the cap keeps them inside a SQL BIGINT.
MAXIMUM_OFFSET = 2**62
# Integers that reach an INTEGER column (map_index, try_number, ids): PostgreSQL's int4.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]



def _utc(value: datetime) -> datetime:
    """A date in UTC (naive ones are read as UTC); refused, not a 500, when converting it
    leaves the calendar (``9999-12-31T23:00-14:00``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date is out of range once converted to UTC") from None


# Dates in queries (naive means UTC) and in bodies (must carry an offset, as in Airflow).
QueryDateTime = Annotated[datetime, AfterValidator(_utc)]
BodyDateTime = Annotated[AwareDatetime, AfterValidator(_utc)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

# Airflow's default [scheduler] allowed_run_id_pattern.
RUN_ID_PATTERN = r"^[A-Za-z0-9_.~:+-]+$"


class ApiModel(BaseModel):
    """A response object: serialized by field name, timestamps as ISO 8601 UTC with ``Z``."""

    model_config = ConfigDict(populate_by_name=True)


class BodyModel(BaseModel):
    """A request body: unknown keys are refused with 422 ``extra_forbidden`` (as Airflow),
    and so are strings holding NUL, which no database column can store."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> BodyModel:
        if has_nul(self.model_dump()):
            raise ValueError("strings must not contain NUL characters")
        return self


class Page:
    """``limit`` (default 50, silently capped at 100) and ``offset`` query parameters."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=0, description="page size; at most 100")]
        = DEFAULT_PAGE_LIMIT,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> None:
        self.limit = min(limit, MAXIMUM_PAGE_LIMIT)
        self.offset = min(offset, MAXIMUM_OFFSET)


class CursorPage(Page):
    """``Page`` plus Airflow 3.3's ``cursor`` (the runs and task instances lists): empty for
    the first page, then the answer's ``next_cursor`` / ``previous_cursor``; given, it wins
    over ``offset``. Leoflow's cursor is an opaque token of the offset it starts at."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=0, description="page size; at most 100")]
        = DEFAULT_PAGE_LIMIT,
        offset: Annotated[int, Query(ge=0)] = 0,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
    ) -> None:
        super().__init__(limit, offset)
        self.cursor = cursor
        if cursor:
            try:
                start = int(base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
                            .removeprefix("o:"))
            except (ValueError, UnicodeError, binascii.Error):
                raise ApiError(400, "Invalid cursor") from None
            if not 0 <= start <= MAXIMUM_OFFSET:
                raise ApiError(400, "Invalid cursor")
            self.offset = start
        elif cursor is not None:
            self.offset = 0

    @staticmethod
    def _token(offset: int) -> str:
        return base64.urlsafe_b64encode(f"o:{offset}".encode("ascii")).decode("ascii")

    def links(self, total: int) -> dict[str, str | None]:
        """``next_cursor`` and ``previous_cursor`` of this page (both null without a cursor,
        as Airflow's offset pagination answers)."""
        if self.cursor is None:
            return {"next_cursor": None, "previous_cursor": None}
        after = self.offset + self.limit
        return {"next_cursor": self._token(after) if self.limit and after < total else None,
                "previous_cursor": self._token(max(0, self.offset - self.limit))
                if self.offset else None}


def order_list(value: list[str] | None, default: str) -> list[str]:
    """``order_by`` as the 3.3 client sends it (repeated) or as 3.0 does (one value, maybe
    comma separated); ``default`` when absent."""
    items = [part.strip() for v in (value or []) for part in v.split(",") if part.strip()]
    return items or [default]


def has_nul(value: Any) -> bool:
    """Whether a string anywhere inside ``value`` holds NUL, which no database column
    (nor PostgreSQL's JSONB) can store: such input is refused before it reaches SQL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(v) for v in value)
    return False


def check_json_body(value: Any, field: str) -> None:
    """Refuse values JSON cannot carry faithfully into the store (NaN, Infinity, NUL)."""
    if has_nul(value):
        raise ApiError(400, f"{field} must not contain NUL characters")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"{field} is not valid JSON: {exc}") from None


def finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def no_nul(request: Request) -> None:
    """Router dependency: a path or query value holding NUL is refused before any SQL sees
    it (PostgreSQL cannot even compare such a string, which would surface as a 500)."""
    if "\x00" in request.scope.get("path", "") or any(
            "\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()):
        raise ApiError(400, "NUL characters are not allowed in the path or the query")
