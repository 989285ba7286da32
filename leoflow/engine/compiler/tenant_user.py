"""Which OS user compiles a tenant's project (docs/security.md, "What isolates tenants").

Compiling runs the project's ``dag.py``: its top-level code is the tenant's code as much as
its tasks are, so it gets the same reach as the tenant's tasks. On a root control plane the
compile child of a project in ``tenants/<T>/`` runs as ``T``'s task user
(``leoflow.engine.executors.isolation.TaskUsers.for_compile``: the same account, the same
ACL entries on its project folder and DAG environment, a folder of its own as ``HOME``), in
an environment holding none of the control plane's variables. A control plane that is not
root refuses to compile another tenant's project (``LEOFLOW_ALLOW_SHARED_UID=1`` allows it,
unsafe). The ``default`` tenant's projects compile as before, as the control plane's user.

The callers (the hot reloader, the IDE's compile and push) say whose project it is with a
``CompileAs``; the compile child (``child.py``) asks it for the user before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leoflow.engine.compiler.errors import CompileError, CompileErrorKind
from leoflow.engine.executors.isolation import (
    ALLOW_SHARED_ENV,
    DEFAULT_TENANT,
    IsolationRefused,
    shared_uid_allowed,
)

if TYPE_CHECKING:
    from leoflow.engine.executors.isolation import TaskUsers, TryUser


@dataclass(frozen=True)
class CompileAs:
    """Whose project is compiled: its ``tenant``, the control plane's ``users`` (None: no
    tenant isolation wired, so only the default tenant's projects compile), and the
    ``workspace`` whose ``tenants/<T>/`` folder holds the project."""

    tenant: str = DEFAULT_TENANT
    users: TaskUsers | None = None
    workspace: Path | None = None

    def enter(self, dag_file: Path, python: str) -> TryUser | None:
        """The user the compile child of ``dag_file`` runs as (None: this process's own);
        a ``CompileError`` (kind ``isolation``, naming the file) when it must not run."""
        if self.tenant == DEFAULT_TENANT:
            return None
        if self.users is None:
            if shared_uid_allowed():
                return None
            raise CompileError(
                f"not compiled: it belongs to tenant {self.tenant!r} and this control plane "
                "has no tenant isolation to compile it as a user of its own (set "
                f"{ALLOW_SHARED_ENV}=1 to compile it as the control plane's user: unsafe)",
                kind=CompileErrorKind.ISOLATION, file=str(dag_file))
        try:
            return self.users.for_compile(self.tenant, Path(dag_file).parent, python,
                                          workspace=self.workspace, what=str(dag_file))
        except IsolationRefused as exc:
            raise CompileError(str(exc), kind=CompileErrorKind.ISOLATION,
                               file=str(dag_file)) from None

    def leave(self, user: TryUser | None) -> None:
        """The compile's processes are gone: remove the user's folder."""
        if user is not None and self.users is not None:
            self.users.release(user)


def plane_task_users(plane: Any) -> TaskUsers | None:
    """The control plane's ``TaskUsers`` (``Services.task_users``: its subprocess
    executor's), or None when it has none (its tenants' projects are refused)."""
    return getattr(plane, "task_users", None)


def compile_as(plane: Any, tenant: str, workspace: Path | None) -> CompileAs:
    """Whose project a caller holding ``plane`` compiles."""
    users = None if tenant == DEFAULT_TENANT else plane_task_users(plane)
    return CompileAs(tenant, users, workspace)
