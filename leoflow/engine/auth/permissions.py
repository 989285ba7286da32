"""The permission table: which role may do what. Checked on every API route.

Viewer reads; User also triggers, clears and marks runs and task instances and pauses DAGs;
Op also manages variables, connections and pools and registers or deletes DAGs; Admin also
manages users. Everyone only ever sees the objects of their own tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

READ = "read"
EDIT_RUNS = "edit_runs"          # trigger, clear, mark, delete runs; pause/unpause DAGs
MANAGE_DAGS = "manage_dags"      # push (register) and delete DAGs
MANAGE_RESOURCES = "manage_resources"  # variables, connections, pools
MANAGE_USERS = "manage_users"    # users and their API tokens

PERMISSIONS = (READ, EDIT_RUNS, MANAGE_DAGS, MANAGE_RESOURCES, MANAGE_USERS)

ROLES: dict[str, frozenset[str]] = {
    "Viewer": frozenset({READ}),
    "User": frozenset({READ, EDIT_RUNS}),
    "Op": frozenset({READ, EDIT_RUNS, MANAGE_DAGS, MANAGE_RESOURCES}),
    "Admin": frozenset(PERMISSIONS),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (or an API token acting for one), with role and tenant."""

    username: str
    role: str
    tenant: str = "default"


def role_allows(role: str, permission: str) -> bool:
    return permission in ROLES.get(role, frozenset())
