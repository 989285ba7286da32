"""Compile a project and register its DAGs, when the IDE runs without a hot reloader.

``leoflow lite`` passes its reloader, which compiles on every save (and builds the DAG's
environment first when its dependencies changed). Without one (an embedded IDE, the
page-logic tests) a save from the editor still has to compile and register; this is that
path: the real compiler (user code runs in a child process) and the real ``register_dag``.
It does not build environments.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from leoflow.engine.compiler.compile import compile_project, load_project_config
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.tenant_user import compile_as
from leoflow.engine.services.container import Services
from leoflow.engine.workspace_tenants import DEFAULT_TENANT, tenant_of_file
from leoflow.errors import LeoflowError
from leoflow.ide.compile_events import CompileOutcome
from leoflow.ide.project import find_project
from leoflow.ide.services import IdeServices


async def compile_and_register(plane: Services, project_dir: Path, *,
                               user: str | None = None,
                               workspace: Path | None = None) -> CompileOutcome:
    """Compile ``project_dir``; register each DAG; the outcome says what happened.

    The DAGs belong to the tenant whose part of ``workspace`` holds the project
    (``tenants/<T>/...``; ``default`` elsewhere), as the hot reloader registers them, and
    a tenant's project compiles as that tenant's user, as the hot reloader compiles it."""
    tenant = DEFAULT_TENANT
    if workspace is not None:
        try:
            relative = Path(project_dir).resolve().relative_to(Path(workspace).resolve())
            tenant = tenant_of_file((relative / "dag.py").as_posix())
        except ValueError:
            pass  # outside the workspace: the machine owner's
    try:
        project = await asyncio.to_thread(compile_project, project_dir,
                                          home=plane.home,
                                          run_as=compile_as(plane, tenant, workspace))
    except CompileError as exc:
        dag_ids: tuple[str, ...] = ()
        with contextlib.suppress(CompileError):
            dag_ids = (load_project_config(project_dir).dag_id,)
        return CompileOutcome(project_dir, False, dag_ids, file=exc.file, line=exc.line,
                              message=exc.message, kind=exc.kind)
    versions: dict[str, int] = {}
    for document in project.documents:
        try:
            version = await plane.operations.register_dag(
                document, source_code=project.source, fileloc=str(project.dag_file),
                user=user, tenant=tenant)
        except LeoflowError as exc:  # a dag_id another tenant owns
            return CompileOutcome(project_dir, False, (document["dag_id"],),
                                  message=str(exc), kind="register")
        versions[document["dag_id"]] = version.version_number
    return CompileOutcome(project_dir, True, tuple(versions), versions=versions)


async def recompile_for_file(services: IdeServices, path: Path, *,
                             user: str | None = None) -> CompileOutcome | None:
    """After a save: compile the project holding ``path`` (through the reloader if there is
    one); None when the file belongs to no project."""
    project_dir = find_project(path, services.workspace)
    if project_dir is None:
        return None
    if services.reloader is not None:
        from leoflow.ide.compile_events import outcome_from

        result = await services.reloader.reload_now(project_dir)
        return outcome_from(result) if result is not None else None
    return await compile_and_register(services.require_plane(), project_dir, user=user,
                                      workspace=services.workspace)
