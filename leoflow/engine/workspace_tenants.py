"""Which tenant owns which part of Lite's workspace (docs/security.md, "The IDE: tenants and
permissions").

Lite's workspace (``~/leoflow``) belongs to the ``default`` tenant, the tenant of the person
who started Lite. Every other tenant ``T`` owns exactly one folder of it,
``tenants/<T>/``: its users see that folder as their whole workspace in the IDE, and the
DAGs registered from a project inside it belong to ``T``. The ``default`` tenant's users see
the rest of the workspace, never ``tenants/``. The hot reloader and the IDE ask
``tenant_of_file`` which tenant a compiled file registers its DAGs for; the IDE asks
``tenant_root`` where a user's files are.

Pure functions over paths (no I/O but ``Path.resolve`` in ``tenant_root``'s caller).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from leoflow.errors import LeoflowError

DEFAULT_TENANT = "default"
TENANTS_DIR = "tenants"
# users_admin.TENANT_RE, without the names that are not a folder of their own (".", "..")
# or that the editor hides (a leading dot)
FOLDER_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")


class NoWorkspaceFolder(LeoflowError):
    """A tenant whose name cannot be a folder (``..``): it gets no workspace files."""

    def __init__(self, tenant: str) -> None:
        super().__init__(f"tenant {tenant!r} has no folder in this workspace (its name cannot "
                         "be a folder name); ask the administrator to rename it")
        self.tenant = tenant


def tenant_folder(tenant: str) -> PurePosixPath:
    """The tenant's folder, relative to the workspace (``.`` for the default tenant)."""
    if tenant == DEFAULT_TENANT:
        return PurePosixPath(".")
    if not isinstance(tenant, str) or not FOLDER_NAME.match(tenant):
        raise NoWorkspaceFolder(str(tenant))
    return PurePosixPath(TENANTS_DIR, tenant)


def tenant_root(workspace: Path, tenant: str) -> Path:
    """The absolute folder of ``tenant``'s files (``NoWorkspaceFolder`` when it has none)."""
    folder = tenant_folder(tenant)
    root = Path(workspace)
    return root if folder == PurePosixPath(".") else root.joinpath(*folder.parts)


def excluded_from(tenant: str) -> tuple[PurePosixPath, ...]:
    """Folders below the tenant's root that are not its own (the default tenant's root holds
    every other tenant's folder)."""
    return (PurePosixPath(TENANTS_DIR),) if tenant == DEFAULT_TENANT else ()


def tenant_of_file(relative: str | PurePosixPath) -> str:
    """The tenant a workspace file (``tenants/acme/etl/dag.py``, relative to the workspace)
    belongs to: the tenant of its ``tenants/<T>/`` folder, else ``default``.

    A file directly in ``tenants/`` or in a folder whose name is no tenant's folder name
    belongs to ``default`` (only the machine's owner can put one there)."""
    parts = PurePosixPath(relative).parts
    if len(parts) >= 3 and parts[0] == TENANTS_DIR and FOLDER_NAME.match(parts[1]) \
            and parts[1] != DEFAULT_TENANT:
        return parts[1]
    return DEFAULT_TENANT
