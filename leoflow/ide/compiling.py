"""After a save from the editor: compile the project through Lite's hot reloader.

``leoflow lite`` hands the IDE its reloader (``IdeServices.reloader``), which compiles and
registers on every change of a project (building the DAG's environment first when its
dependencies changed) whoever saved. A save from the editor asks it directly
(``reload_now``) instead of waiting for the watcher's debounce; the IDE never compiles or
registers by itself, so what the editor shows is what Lite registered. Without a reloader
(an IDE mounted by hand) a save writes the file and compiles nothing.
"""

from __future__ import annotations

from pathlib import Path

from leoflow.ide.compile_events import CompileOutcome, outcome_from
from leoflow.ide.project import find_project
from leoflow.ide.services import IdeServices


async def recompile_for_file(services: IdeServices, path: Path, *,
                             user: str | None = None) -> CompileOutcome | None:
    """Compile the project holding ``path`` through the reloader; None when the file belongs
    to no project or there is no reloader. ``user`` is kept for the audit of later work."""
    project_dir = find_project(path, services.workspace)
    if project_dir is None or services.reloader is None:
        return None
    result = await services.reloader.reload_now(project_dir)
    return outcome_from(result) if result is not None else None
