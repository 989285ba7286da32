"""Who may do what in the IDE, decided at the moment of each action.

A page is built for the principal its browser session holds, but a page stays open for
hours: its user may meanwhile be demoted, deleted, or logged out elsewhere. So a page never
acts on the role it was built with. It keeps an ``Access`` (the session's token) and asks
it before every read and every write:

* ``await access.check(permission)``: the token is checked again by the auth service,
  which re-reads the user from the store (current role and tenant; a deleted user, a
  changed password or a revoked token ends the session). ``AccessDenied`` otherwise.
* ``await access.dag(dag_id, permission)``: the same, and the DAG must belong to the
  user's current tenant. Another tenant's DAG is refused exactly as one that does not exist.
* ``await access.workspace(permission)``: the same, and the part of the workspace the
  user's tenant owns (``leoflow.engine.workspace_tenants``) as a ``files.Workspace``.

``AccessDenied`` is a ``LeoflowError``: the pages' ``except LeoflowError`` shows its
message and does nothing else. Pages made elsewhere (the asset pages) get the same checks
by calling ``session.page_access`` when they are built and one of the three methods above
before each action.
"""

from __future__ import annotations

from pathlib import Path

from leoflow.engine.auth.permissions import (
    EDIT_RUNS,
    MANAGE_DAGS,
    MANAGE_RESOURCES,
    MANAGE_USERS,
    READ,
    Principal,
    role_allows,
)
from leoflow.engine.workspace_tenants import NoWorkspaceFolder, excluded_from, tenant_root
from leoflow.errors import LeoflowError
from leoflow.ide.files import Workspace
from leoflow.ide.services import IdeServices

WHAT = {READ: "read here", EDIT_RUNS: "trigger, clear, mark or pause",
        MANAGE_DAGS: "change DAG files or push DAGs",
        MANAGE_RESOURCES: "manage variables, connections, pools or assets",
        MANAGE_USERS: "manage users"}
SESSION_ENDED = ("your session has ended (logged out, password changed, or the user was "
                 "deleted): log in again")


class AccessDenied(LeoflowError):
    """The current user may not do this (any more); ``signed_out`` when the session ended."""

    def __init__(self, message: str, *, signed_out: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.signed_out = signed_out


class Access:
    """One page's way to the current principal (see the module's docstring)."""

    def __init__(self, services: IdeServices, token: str, principal: Principal) -> None:
        self.services = services
        self.token = token
        self.principal = principal  # as of the last check: for display only

    async def check(self, permission: str = READ) -> Principal:
        """The current principal, if its current role allows ``permission``."""
        auth = self.services.auth
        if auth is None:
            raise AccessDenied("the IDE is still starting; try again in a moment")
        try:
            principal = await auth.principal(self.token)
        except LeoflowError:
            raise AccessDenied(SESSION_ENDED, signed_out=True) from None
        self.principal = principal
        if not role_allows(principal.role, permission):
            raise AccessDenied(f"{principal.username} has the role {principal.role}, which may "
                               f"not {WHAT.get(permission, permission)}")
        return principal

    async def dag(self, dag_id: str, permission: str = READ) -> Principal:
        """The current principal, if it may ``permission`` and ``dag_id`` is its tenant's."""
        from leoflow.ide import queries

        principal = await self.check(permission)
        tenant = await queries.dag_tenant(self.services.require_plane(), dag_id)
        if tenant is None or tenant != principal.tenant:
            raise AccessDenied(f"there is no DAG {dag_id!r}")
        return principal

    async def workspace(self, permission: str = READ) -> Workspace:
        """The files the current principal's tenant owns, if it may ``permission``."""
        principal = await self.check(permission)
        workspace = Path(self.services.workspace).resolve()
        try:
            root = tenant_root(workspace, principal.tenant)
        except NoWorkspaceFolder as exc:  # a tenant named ".." has no files here
            raise AccessDenied(str(exc)) from None
        if root != workspace:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)  # a tenant's first visit
            real = root.resolve()
            if root.is_symlink() or real == workspace or not real.is_relative_to(workspace):
                raise AccessDenied(f"the folder of tenant {principal.tenant!r} is a link out "
                                   "of its place in the workspace; it is not opened")
        return Workspace(root, excluded_from(principal.tenant))

    async def allows(self, permission: str) -> bool:
        """Whether the current principal may ``permission`` (to enable a button)."""
        try:
            await self.check(permission)
        except AccessDenied:
            return False
        return True
