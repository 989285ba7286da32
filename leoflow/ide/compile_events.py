"""What the IDE needs to know about one compile of a project, whoever compiled it.

The hot reloader (``leoflow.engine.reload``) reports compiles with its own event objects
(``ReloadEvent``; ``reload_now`` returns a ``ProjectStatus``); the IDE compiles by itself
when it runs without one (``compiling.py``). ``outcome_from`` reads any of them, by
attribute name, into a ``CompileOutcome``: which project, which step (``phase``: compiling,
environment, compiled, failed, removed, ok…), whether it worked (``ok`` is None for the
steps in between), the DAGs it registered, and for a failure the file, line and message to
show at that line. Error files may be relative to the workspace, to the working directory
or absolute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PHASES = frozenset({"pending", "compiling", "environment", "compiled", "failed", "removed",
                    "ok"})


@dataclass(frozen=True)
class CompileOutcome:
    project_dir: Path | None
    ok: bool | None
    dag_ids: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None
    message: str | None = None
    kind: str | None = None
    versions: Mapping[str, int] | None = None  # dag_id → registered version number
    phase: str | None = None
    progress: str | None = None  # an environment build's progress line

    @property
    def finished(self) -> bool:
        """A final outcome (compiled or failed), not a step in between."""
        return self.ok is not None

    def error_text(self) -> str:
        where = self.file or ""
        if where and self.line:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}" if where else (self.message or "")

    def is_about(self, file: Path, workspace: Path | None = None) -> bool:
        """Whether the error points at ``file`` (an absolute path).

        Compile errors name files absolutely or relative to the workspace or the compiler's
        working directory; a bare name is matched in the project folder too.
        """
        if not self.file:
            return False
        named = Path(self.file)
        if named.is_absolute():
            candidates = [named]
        else:
            candidates = [Path.cwd() / named]
            if workspace is not None:
                candidates.append(Path(workspace) / named)
            if self.project_dir is not None:
                candidates += [self.project_dir / named, self.project_dir / named.name]
        target = file.resolve()
        return any(_same(c, target) for c in candidates)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b
    except OSError:
        return False


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if not isinstance(obj, Mapping) and hasattr(obj, name):
            return getattr(obj, name)
    return None


def outcome_from(event: Any) -> CompileOutcome:
    """A ``CompileOutcome`` from a reloader event (an object or a dict) or an outcome."""
    if isinstance(event, CompileOutcome):
        return event
    project = _get(event, "project_dir", "path", "project")
    project_dir = Path(project) if isinstance(project, (str, Path)) and project else None
    error = _get(event, "error", "exception")
    phase = _get(event, "kind", "state", "phase")
    phase = phase if isinstance(phase, str) and phase in PHASES else None
    ok: bool | None
    if phase in ("compiled", "ok"):
        ok = True
    elif phase == "failed" or error is not None:
        ok = False
    elif phase is not None:
        ok = None  # compiling, building the environment, pending, removed
    else:
        raw = _get(event, "ok", "success")
        ok = bool(raw) if raw is not None else True
    dag_ids = _get(event, "dag_ids")
    if dag_ids is None:
        single = _get(event, "dag_id")
        dag_ids = (single,) if single else ()
    versions = _get(event, "versions")
    versions = dict(versions) if isinstance(versions, Mapping) and versions else None
    progress = _get(event, "message") if phase == "environment" else None
    if error is None:
        return CompileOutcome(project_dir, ok, tuple(dag_ids), versions=versions, phase=phase,
                              progress=progress)
    if isinstance(error, str):
        return CompileOutcome(project_dir, False, tuple(dag_ids), message=error, phase=phase)
    line = _get(error, "line")
    return CompileOutcome(
        project_dir, False, tuple(dag_ids), file=_get(error, "file"),
        line=int(line) if isinstance(line, int) else None,
        message=_get(error, "message") or str(error), kind=_get(error, "kind"), phase=phase)
