"""Plain Airflow DAG folders: ``.py`` files with any number of DAGs each, no leoflow.yaml.

An Airflow user's DAGs live in one folder (``~/airflow/dags``): DAG files, helper modules
and packages beside them, ``.airflowignore``, and a ``requirements.txt``. Such a folder is a
project as it is:

- every ``.py`` file that looks like a DAG file is compiled, each in its own child (as
  Airflow's DAG processor does, a file is looked at only when its text mentions both "dag"
  and "airflow" or "leoflow": helper modules are not run for nothing);
- ``.airflowignore`` (Airflow 3's default glob syntax; one in a subfolder applies below it)
  leaves files and folders out;
- the folder is on ``sys.path`` when a file is compiled and when its tasks run, so helper
  modules import as they do in Airflow; each DAG's version hashes the helper modules its file
  imported, so changing a helper makes a new version of the DAGs that use it;
- the DAGs of the folder share one environment, named after the folder and built from its
  ``requirements.txt`` (when there is one);
- a file that fails does not keep the others out: its error is kept, per file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from leoflow.engine.compiler.child import DEFAULT_TIMEOUT, run_compile_child
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.spec.project import PROJECT_FILE, ProjectConfig

if TYPE_CHECKING:
    from leoflow.engine.compiler.tenant_user import CompileAs

AIRFLOWIGNORE = ".airflowignore"
REQUIREMENTS = "requirements.txt"
# Never looked into: environments, caches, VCS folders, build outputs.
SKIPPED_DIRS = frozenset({".venv", "venv", "__pycache__", ".git", ".hg", ".svn",
                          "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                          ".ipynb_checkpoints", ".leoflow"})
_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


def is_plain_folder(path: Path) -> bool:
    """A folder without leoflow.yaml: an Airflow-style DAGs folder."""
    return path.is_dir() and not (path / PROJECT_FILE).is_file()


def environment_name(root: Path) -> str:
    """The shared environment's name: the folder's name, made safe for a directory name."""
    name = _NAME.sub("_", root.name).strip(".") or "dags"
    return name[:100]


def read_requirements(root: Path) -> tuple[str, ...]:
    """The requirement strings of ``requirements.txt`` (comments and blank lines dropped).

    pip options (``-r``, ``-e``, ``--index-url``...) are refused with their line: the
    environment is built from plain requirement strings, one per line.
    """
    path = root / REQUIREMENTS
    if not path.is_file():
        return ()
    found: list[str] = []
    from leoflow.engine.compiler.compile import read_source

    for number, raw in enumerate(read_source(path).splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise CompileError(
                f"pip option {line.split()[0]!r} is not supported here; list one requirement "
                "per line (e.g. 'pandas==2.2.3')", kind="project", file=str(path), line=number)
        if line not in found:
            found.append(line)
    return tuple(found)


def folder_config(root: Path) -> ProjectConfig:
    """The settings a plain folder gets without leoflow.yaml."""
    return ProjectConfig(dag_id=environment_name(root), dependencies=read_requirements(root))


class IgnoreRules:
    """``.airflowignore`` in Airflow 3's glob syntax (gitignore-like).

    A pattern without a slash matches a file or folder name anywhere below the ignore file's
    folder; one with a slash matches the path from that folder; a trailing slash matches
    folders only; ``!`` re-includes; ``#`` starts a comment.
    """

    def __init__(self) -> None:
        self._rules: list[tuple[PurePosixPath, str, bool, bool]] = []

    def read(self, folder: Path, root: Path) -> None:
        path = folder / AIRFLOWIGNORE
        if not path.is_file():
            return
        base = PurePosixPath(folder.relative_to(root).as_posix())
        for raw in path.read_text("utf-8", errors="replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:] if negate else line
            dir_only = line.endswith("/")
            self._rules.append((base, line.strip("/"), negate, dir_only))

    def ignored(self, relative: PurePosixPath, *, is_dir: bool) -> bool:
        result = False
        for base, pattern, negate, dir_only in self._rules:
            if dir_only and not is_dir:
                continue
            try:
                below = relative.relative_to(base) if str(base) != "." else relative
            except ValueError:
                continue
            if "/" in pattern:
                hit = fnmatch.fnmatchcase(below.as_posix(), pattern) or fnmatch.fnmatchcase(
                    below.as_posix(), pattern + "/*")
            else:
                hit = any(fnmatch.fnmatchcase(part, pattern) for part in below.parts)
            if hit:
                result = not negate
        return result


def looks_like_dag_file(path: Path) -> bool:
    """Airflow's safe-mode test: the text mentions "dag" and "airflow" (or "leoflow")."""
    try:
        text = path.read_bytes().lower()
    except OSError:
        return False
    return b"dag" in text and (b"airflow" in text or b"leoflow" in text)


def dag_files(root: Path, *, skip: Iterable[Path] = ()) -> list[Path]:
    """The DAG files of the folder, sorted; ``skip`` holds folders left out (projects of
    their own inside a workspace)."""
    root = root.resolve()
    skipped = {p.resolve() for p in skip}
    rules = IgnoreRules()
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        rules.read(here, root)
        relative_dir = PurePosixPath(here.relative_to(root).as_posix())
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIPPED_DIRS and not d.startswith(".")
            and (here / d).resolve() not in skipped
            and not (here / d / PROJECT_FILE).is_file()
            and not rules.ignored(relative_dir / d, is_dir=True))
        for name in sorted(files):
            if not name.endswith(".py") or name.startswith("."):
                continue
            if rules.ignored(relative_dir / name, is_dir=False):
                continue
            path = here / name
            if looks_like_dag_file(path):
                found.append(path)
    return found


@dataclass(frozen=True)
class CompiledFile:
    """One DAG file of a folder: its documents, or the error that kept it out."""

    file: Path
    source: str
    documents: tuple[dict[str, Any], ...] = ()
    error: CompileError | None = None
    local_modules: tuple[str, ...] = ()  # helper modules it imported (relative paths)
    compiled_hash: str = ""  # version_hash() of the file and its helpers when compiled

    def is_current(self, root: Path) -> bool:
        """Whether the file and its helpers are unchanged on disk since this result, so that
        compiling again would give the same documents (a failed file never is)."""
        if self.error is not None or not self.compiled_hash:
            return False
        try:
            source = self.file.read_text("utf-8", errors="replace")
        except OSError:
            return False
        return version_hash(root, self.file, source, self.local_modules) == self.compiled_hash


def version_hash(root: Path, dag_file: Path, source: str, local_modules: Sequence[str]) -> str:
    """SHA-256 of the DAG file and of the helper modules it imported (their paths and
    contents), so that a helper's change makes a new version of the DAGs using it."""
    if not local_modules:
        return hashlib.sha256(source.encode("utf-8")).hexdigest()
    digest = hashlib.sha256(source.encode("utf-8"))
    for relative in sorted(local_modules):
        digest.update(b"\0" + relative.encode("utf-8") + b"\0")
        try:
            digest.update((root / relative).read_bytes())
        except OSError:
            digest.update(b"<missing>")
    return digest.hexdigest()


def helper_hashes(root: Path, local_modules: Sequence[str]) -> dict[str, str]:
    """``{relative path: SHA-256}`` of the helper modules a DAG file imported."""
    found: dict[str, str] = {}
    for relative in local_modules:
        try:
            found[relative] = hashlib.sha256((root / relative).read_bytes()).hexdigest()
        except OSError:
            continue
    return found


def compile_files(root: Path, files: Sequence[Path], config: ProjectConfig, *,
                  python: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                  jobs: int | None = None,
                  run_as: Callable[[Path], CompileAs | None] | None = None
                  ) -> list[CompiledFile]:
    """Compile each file alone (``jobs`` at once: one per core by default): in forks of
    one child that imported the SDK once (``batch.py``), or, for a tenant's files
    (``run_as(file)`` says whose file it is), each in its own child as that tenant's user."""
    from leoflow.engine.compiler.compile import build_document

    def own(raw: Mapping[str, Any], relative: str) -> dict[str, Any]:
        """A DAG of this file (the compile child keeps only those), with the file as its
        ``fileloc`` even when a helper's factory function created it."""
        return {**raw, "fileloc": relative}

    def one(path: Path) -> CompiledFile:
        try:
            report = run_compile_child(path, root, python=python, timeout=timeout,
                                       run_as=run_as(path) if run_as is not None else None)
        except CompileError as exc:
            return from_report(path, exc)
        return from_report(path, report)

    def from_report(path: Path, report: dict[str, Any] | CompileError) -> CompiledFile:
        source = path.read_text("utf-8", errors="replace")
        if isinstance(report, CompileError):
            return CompiledFile(path, source, error=report)
        if not report.get("ok"):
            error = report["error"]
            if error.get("kind") == "no_dag":  # a helper module: nothing to register
                return CompiledFile(path, source, compiled_hash=version_hash(
                    root, path, source, ()))
            return CompiledFile(path, source, error=CompileError(
                error["message"], kind=error["kind"], file=error.get("file"),
                line=error.get("line"), traceback=error.get("traceback", "")))
        helpers = tuple(report.get("local_modules") or ())
        sha = version_hash(root, path, source, helpers)
        try:
            relative = path.relative_to(root).as_posix()
            owned = [own(raw, relative) for raw in report["dags"]]
            documents = tuple(
                build_document(raw, config, hashlib.sha256(source.encode("utf-8")).hexdigest(),
                               path, helper_hashes(root, helpers))
                for raw in owned)
        except CompileError as exc:
            return CompiledFile(path, source, error=exc, local_modules=helpers)
        return CompiledFile(path, source, documents, local_modules=helpers, compiled_hash=sha)

    workers = max(1, min(jobs or (os.cpu_count() or 1), len(files) or 1))
    if run_as is None and len(files) > 1:
        from leoflow.engine.compiler.batch import run_compile_batch

        reports = run_compile_batch([(f, root) for f in files], python=python,
                                    timeout=timeout, jobs=workers)
        return _refuse_duplicates(root, [from_report(f, r) for f, r in zip(files, reports,
                                                                          strict=True)])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, files))
    return _refuse_duplicates(root, results)


def _refuse_duplicates(root: Path, results: list[CompiledFile]) -> list[CompiledFile]:
    """A dag_id defined twice: the first file (in path order) keeps it, as Airflow warns."""
    owner: dict[str, Path] = {}
    checked: list[CompiledFile] = []
    for compiled in results:
        clash = next((d for d in compiled.documents if d["dag_id"] in owner
                      or sum(x["dag_id"] == d["dag_id"] for x in compiled.documents) > 1), None)
        if clash is not None:
            first = owner.get(clash["dag_id"], compiled.file)
            checked.append(CompiledFile(compiled.file, compiled.source, error=CompileError(
                f"DAG id {clash['dag_id']!r} is already defined in "
                f"{first.relative_to(root).as_posix()}; every DAG needs its own dag_id",
                kind="duplicate_dag_id", file=str(compiled.file), line=clash.get("line"))))
            continue
        for document in compiled.documents:
            owner[document["dag_id"]] = compiled.file
        checked.append(compiled)
    return checked
