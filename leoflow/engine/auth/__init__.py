"""Users, roles, permissions, tenants and tokens of the control plane, and the secrets
(variables, connections) of each tenant. See docs/auth.md.

Public names: the permission table (``ROLES``, ``PERMISSIONS``, ``Principal``,
``role_allows``); ``AuthService`` (the API's ``Authenticator``: logins, tokens, users,
secrets); ``secrets_env`` and ``SecretCipher`` (a tenant's variables and connections as a
task's environment); ``AuthConfig`` and ``AuthConfigError``.

The service classes load lazily: ``leoflow.engine.api`` imports the permission table from
here, and the service imports the API's error types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leoflow.engine.auth.permissions import PERMISSIONS, ROLES, Principal, role_allows

if TYPE_CHECKING:
    from leoflow.engine.auth.cipher import SecretCipher
    from leoflow.engine.auth.config import AuthConfig
    from leoflow.engine.auth.errors import AuthConfigError
    from leoflow.engine.auth.secrets import secrets_env
    from leoflow.engine.auth.service import AuthService

_LAZY = {
    "AuthService": "leoflow.engine.auth.service",
    "AuthConfig": "leoflow.engine.auth.config",
    "AuthConfigError": "leoflow.engine.auth.errors",
    "SecretCipher": "leoflow.engine.auth.cipher",
    "secrets_env": "leoflow.engine.auth.secrets",
}

__all__ = ["PERMISSIONS", "ROLES", "AuthConfig", "AuthConfigError", "AuthService",
           "Principal", "SecretCipher", "role_allows", "secrets_env"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
