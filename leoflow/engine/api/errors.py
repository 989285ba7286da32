"""Errors as Airflow answers them: ``{"detail": "..."}`` with the right status; never a 500
for bad input. Domain errors map to statuses here, so routes stay thin."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leoflow.engine.auth.errors import (
    CallerError,
    InvalidCredentials,
    InvalidToken,
    NotAuthenticated,
    RateLimited,
    TokenExpired,
)
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.services.store_errors import (
    DagNotFoundError,
    DagRunNotFoundError,
    DuplicateRunError,
    StoreError,
)
from leoflow.errors import LeoflowError

log = logging.getLogger("leoflow.api")


class ApiError(LeoflowError):
    """An error a route raises on purpose, with its HTTP status."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


__all__ = ["ApiError", "Forbidden", "InvalidCredentials", "InvalidToken", "NotAuthenticated",
           "NotFound", "RateLimited", "TokenExpired", "caller_status", "install_error_handlers"]

BEARER = {"WWW-Authenticate": "Bearer"}


def caller_status(exc: CallerError) -> tuple[int, dict[str, str] | None]:
    """The HTTP status and headers of an auth error, as Airflow answers them: no or expired
    credentials 401 (with a Bearer challenge), a token that is not valid 403, a wrong
    password 401, too many failures 429 with ``Retry-After``."""
    if isinstance(exc, NotAuthenticated | TokenExpired):
        return 401, BEARER
    if isinstance(exc, InvalidCredentials):
        return 401, None
    if isinstance(exc, RateLimited):
        return 429, {"Retry-After": str(exc.retry_after)}
    return 403, None  # InvalidToken, and any other refusal of the caller


class Forbidden(ApiError):
    def __init__(self, detail: str = "Forbidden") -> None:
        super().__init__(403, detail)


class NotFound(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, detail)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(CallerError)
    async def caller_error(_request: Request, exc: CallerError) -> JSONResponse:
        status, headers = caller_status(exc)
        return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(DuplicateRunError)
    async def duplicate_run(_request: Request, exc: DuplicateRunError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(DagNotFoundError)
    @app.exception_handler(DagRunNotFoundError)
    async def not_found(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(LeoflowError)
    async def leoflow_error(_request: Request, exc: LeoflowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _jsonable(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    from leoflow.engine.api.storage_errors import install_storage_handlers

    install_storage_handlers(app)  # a full or read-only disk: 507/503 naming the cause

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal error; the server log has the details"},
                            status_code=500)


def _jsonable(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in ("type", "loc", "msg", "input")}
        if "input" in item:
            try:
                import json

                json.dumps(item["input"])
            except (TypeError, ValueError):
                item["input"] = repr(item["input"])
        out.append(item)
    return out
