"""Users, roles, permissions, tenants and tokens of the control plane."""

from leoflow.engine.auth.permissions import PERMISSIONS, ROLES, Principal, role_allows

__all__ = ["PERMISSIONS", "ROLES", "Principal", "role_allows"]
