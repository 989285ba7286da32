"""Typed errors of users, tokens and secrets; the API maps them to statuses (``status``).

Errors about *who is calling* (no token, a bad or expired token, wrong credentials, too
many failures) are ``CallerError`` s: the auth service raises them for every face (API,
IDE login page), and ``leoflow.engine.api.errors`` alone says which HTTP status and
headers each gets, as Airflow answers them.
"""

from __future__ import annotations

from leoflow.engine.services.errors import ServiceError
from leoflow.errors import LeoflowError


class AuthConfigError(LeoflowError):
    """Settings the control plane refuses to start with (e.g. a weak JWT secret in
    production); the message says which setting and how to fix it."""


class CallerError(LeoflowError):
    """Who is calling could not be established (the API answers 401, 403 or 429)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthenticated(CallerError):
    def __init__(self, message: str = "Not authenticated") -> None:
        super().__init__(message)


class TokenExpired(CallerError):
    def __init__(self) -> None:
        super().__init__("Token Expired")


class InvalidToken(CallerError):
    def __init__(self, message: str = "Invalid JWT token") -> None:
        super().__init__(message)


class InvalidCredentials(CallerError):
    def __init__(self) -> None:
        super().__init__("Invalid credentials")


class RateLimited(CallerError):
    """Too many failed logins; ``retry_after`` seconds until the next attempt counts."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


class NotFoundError(ServiceError):
    status = 404


class AlreadyExistsError(ServiceError):
    status = 409


class InvalidInput(ServiceError):
    """A value that cannot be used; ``field`` names it."""

    status = 400


class ForbiddenChange(ServiceError):
    """A change the caller's role or tenant does not allow."""

    status = 403


class LockoutError(ServiceError):
    """The change would leave no administrator (e.g. deleting or demoting the last one)."""

    status = 409


def check_text(value: object, field: str, *, max_length: int | None = None,
               required: bool = False) -> str | None:
    """``value`` if it can be stored as text: a string (or ``None`` unless ``required``),
    without NUL characters (PostgreSQL refuses them), at most ``max_length`` characters."""
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}",
                           field=field)
    if required and not value:
        raise InvalidInput(f"{field} cannot be empty", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} cannot contain NUL characters", field=field)
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{field} must have at most {max_length} characters", field=field)
    return value


def storable_key(value: str, max_length: int) -> bool:
    """Whether ``value`` can name a stored object at all (lookups of other keys find
    nothing without asking the database, which may refuse them)."""
    return 0 < len(value) <= max_length and "\x00" not in value
