"""Compile a DAG project into validated, hashed dag.json documents.

A project is a folder with leoflow.yaml and its dag.py, or a plain Airflow DAGs folder
(``folder.py``: any number of ``.py`` files, no leoflow.yaml), or one file of such a folder.

The DAG file runs in a child process (``child.py``); this module only reads files, checks
the child's description against the schema and the graph rules, merges leoflow.yaml in,
and adds the content hash. It never imports user code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leoflow.engine.compiler.child import DEFAULT_TIMEOUT, run_compile_child
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.spec.canonical import with_content_hash
from leoflow.engine.spec.errors import GraphError, SpecError
from leoflow.engine.spec.graph import check_graph
from leoflow.engine.spec.model import SPEC_VERSION, iter_xcom_refs
from leoflow.engine.spec.project import PROJECT_FILE, ProjectConfig, parse_project
from leoflow.engine.spec.schemas import DAG_SCHEMA, validate

if TYPE_CHECKING:
    from leoflow.engine.compiler.tenant_user import CompileAs

DAG_FILE = "dag.py"


@dataclass(frozen=True)
class CompiledProject:
    """The result of compiling one project: its config, source and one document per DAG.

    For a plain folder, ``dag_file`` is the file asked for (or the folder), each DAG's own
    file and source are in ``files`` and ``sources`` (by dag_id), and ``errors`` holds the
    files that did not compile (the others are in ``documents``).
    """

    project_dir: Path
    dag_file: Path
    config: ProjectConfig
    source: str
    documents: tuple[dict[str, Any], ...]
    plain: bool = False
    files: Mapping[str, Path] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[CompileError, ...] = ()
    compiled_files: tuple[Path, ...] = ()

    def document(self, dag_id: str) -> dict[str, Any]:
        for doc in self.documents:
            if doc["dag_id"] == dag_id:
                return doc
        raise KeyError(dag_id)

    def source_of(self, dag_id: str) -> str:
        """The source of the file that defines ``dag_id`` (what a run of it executes)."""
        return self.sources.get(dag_id, self.source)

    def file_of(self, dag_id: str) -> Path:
        return self.files.get(dag_id, self.dag_file)


def dag_interpreter(config: ProjectConfig, home: Path) -> str | None:
    """The Python of the project's own environment when it has been built, else None."""
    from leoflow.engine.environments.manager import EnvironmentManager

    env = EnvironmentManager(home).find(config.dag_id, config.python_version,
                                        config.dependencies)
    return str(env.python) if env is not None else None


def locate_project(path: str | Path) -> tuple[Path, Path]:
    """``(project_dir, dag_file)`` for a project folder or a path to its DAG file."""
    target = Path(path).expanduser()
    if target.is_dir():
        dag_file = target / DAG_FILE
        if not dag_file.exists():
            raise CompileError(
                f"no {DAG_FILE} in this folder; create one (leoflow init <name> scaffolds a "
                "project)", kind="project", file=str(target))
        return target.resolve(), dag_file.resolve()
    if target.is_file():
        if target.suffix != ".py":
            raise CompileError("is not a Python file; pass a project folder or its dag.py",
                               kind="project", file=str(target))
        return target.parent.resolve(), target.resolve()
    raise CompileError("does not exist", kind="project", file=str(target))


def load_project_config(project_dir: Path) -> ProjectConfig:
    path = project_dir / PROJECT_FILE
    if not path.exists():
        raise CompileError(
            f"{PROJECT_FILE} is missing; create it with at least 'dag_id: <id>' "
            "(leoflow init <name> writes one)", kind="project", file=str(path))
    try:
        return parse_project(read_source(path), file=str(path))
    except SpecError as exc:
        raise CompileError(exc.message, kind="project", file=exc.file, line=exc.line) from None


def read_source(path: Path) -> str:
    """The UTF-8 text of a project file, or a ``CompileError`` naming it and the cause (a
    binary file, an unreadable one) instead of a ``UnicodeDecodeError`` traceback."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        from leoflow.engine.safe_files import describe_os_error

        raise CompileError(f"cannot be read: {describe_os_error(exc)}", kind="project",
                           file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CompileError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save "
            "it as UTF-8", kind="project", file=str(path), line=line) from None


def compile_project(path: str | Path, *, python: str | None = None,
                    home: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                    keep_going: bool = False, run_as: CompileAs | None = None
                    ) -> CompiledProject:
    """Compile the project at ``path``; raise ``CompileError`` naming file and line.

    File names in errors are relative to the current directory when they are below it, so
    messages read like ``my_dag/dag.py:12: ...``. Without ``python``, the DAG file runs
    with its own environment's interpreter under ``home`` when that exists, else this one.
    For a plain folder, ``keep_going`` returns the files that compiled with the others'
    errors in ``errors`` instead of raising the first. ``run_as`` says whose project it is
    (a tenant's compiles as that tenant's user: ``tenant_user.py``).
    """
    try:
        target = Path(path).expanduser()
        if is_plain_target(target):
            project = _compile_plain(target, python=python, home=home, timeout=timeout,
                                     run_as=run_as)
            for error in project.errors:
                error.file = _display_path(error.file)
            if project.errors and not keep_going:
                first = project.errors[0]
                more = len(project.errors) - 1
                if more:
                    first.message += f" (and {more} more file{'s' if more > 1 else ''} failed)"
                raise first
            return project
        return _compile_project(path, python=python, home=home, timeout=timeout,
                                run_as=run_as)
    except CompileError as exc:
        exc.file = _display_path(exc.file)
        raise


def is_plain_target(target: Path) -> bool:
    """A plain Airflow folder, or a ``.py`` file in a folder without leoflow.yaml."""
    from leoflow.engine.compiler.folder import is_plain_folder

    if target.is_dir():
        return is_plain_folder(target)
    return target.is_file() and target.suffix == ".py" and is_plain_folder(target.parent)


def _compile_plain(target: Path, *, python: str | None, home: Path | None,
                   timeout: float, run_as: CompileAs | None = None) -> CompiledProject:
    from leoflow.engine.compiler.folder import compile_files, dag_files, folder_config

    root = (target if target.is_dir() else target.parent).resolve()
    config = folder_config(root)
    files = dag_files(root) if target.is_dir() else [target.resolve()]
    if not files:
        raise CompileError(
            "holds no DAG file (a .py file that mentions 'dag' and 'airflow' or 'leoflow', "
            "not left out by .airflowignore)", kind="no_dag", file=str(root))
    if python is None and home is not None:
        python = dag_interpreter(config, home)
    compiled = compile_files(root, files, config, python=python, timeout=timeout,
                             run_as=None if run_as is None else lambda _: run_as)
    documents = tuple(d for c in compiled for d in c.documents)
    errors = tuple(c.error for c in compiled if c.error is not None)
    if not documents and not errors:
        raise CompileError("defines no DAG: create one with 'with DAG(...)' or call your "
                           "@dag function at module level", kind="no_dag",
                           file=str(files[0] if len(files) == 1 else root))
    return CompiledProject(
        project_dir=root, dag_file=target.resolve(), config=config,
        source=compiled[0].source if len(compiled) == 1 else "", documents=documents,
        plain=True, files={d["dag_id"]: c.file for c in compiled for d in c.documents},
        sources={d["dag_id"]: c.source for c in compiled for d in c.documents},
        errors=errors, compiled_files=tuple(c.file for c in compiled))


def _compile_project(path: str | Path, *, python: str | None, home: Path | None,
                     timeout: float, run_as: CompileAs | None = None) -> CompiledProject:
    project_dir, dag_file = locate_project(path)
    config = load_project_config(project_dir)
    if python is None and home is not None:
        python = dag_interpreter(config, home)
    source = read_source(dag_file)
    report = run_compile_child(dag_file, project_dir, python=python, timeout=timeout,
                               run_as=run_as)
    return _project_from_report(project_dir, dag_file, config, source, report)


def compile_projects(paths: Sequence[str | Path], *, python: str | None = None,
                     home: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                     jobs: int | None = None) -> list[CompiledProject | CompileError]:
    """Compile many leoflow.yaml projects: one child per distinct interpreter (each project
    keeps its own environment), a fork per project inside it (``batch.py``), so a project
    that fails, exits or hangs keeps only itself out. One result per path, in order."""
    from leoflow.engine.compiler.batch import run_compile_batch

    results: list[CompiledProject | CompileError | None] = [None] * len(paths)
    groups: dict[str | None, list[tuple[int, Path, Path, ProjectConfig, str]]] = {}
    for index, path in enumerate(paths):
        try:
            project_dir, dag_file = locate_project(path)
            config = load_project_config(project_dir)
            source = read_source(dag_file)
        except CompileError as exc:
            results[index] = exc
            continue
        interpreter = python or (dag_interpreter(config, home) if home is not None else None)
        groups.setdefault(interpreter, []).append(
            (index, project_dir, dag_file, config, source))
    for interpreter, members in groups.items():
        reports = run_compile_batch([(m[2], m[1]) for m in members], python=interpreter,
                                    timeout=timeout, jobs=jobs)
        for (index, project_dir, dag_file, config, source), report in zip(
                members, reports, strict=True):
            try:
                if isinstance(report, CompileError):
                    raise report
                results[index] = _project_from_report(project_dir, dag_file, config, source,
                                                      report)
            except CompileError as exc:
                exc.file = _display_path(exc.file)
                results[index] = exc
    return [r if r is not None else CompileError("not compiled", kind="crash")
            for r in results]


def _project_from_report(project_dir: Path, dag_file: Path, config: ProjectConfig,
                         source: str, report: dict[str, Any]) -> CompiledProject:
    """The project a compile child's report describes, or the ``CompileError`` it holds."""
    if not report.get("ok"):
        error = report["error"]
        raise CompileError(error["message"], kind=error["kind"],
                           file=error.get("file"),
                           line=error.get("line"), traceback=error.get("traceback", ""))
    raw_dags: list[dict[str, Any]] = report["dags"]
    if len(raw_dags) == 1 and raw_dags[0]["dag_id"] != config.dag_id:
        raise CompileError(
            f"dag_id {config.dag_id!r} in {PROJECT_FILE} does not match the DAG defined in "
            f"{dag_file.name} ({raw_dags[0]['dag_id']!r}); make them the same",
            kind="project", file=str(dag_file), line=raw_dags[0].get("line"))
    seen: set[str] = set()
    documents = []
    source_sha = hashlib.sha256(source.encode("utf-8")).hexdigest()
    for raw in raw_dags:
        if raw["dag_id"] in seen:
            raise CompileError(f"two DAGs use the dag_id {raw['dag_id']!r}",
                               kind="duplicate_dag_id", file=str(dag_file), line=raw.get("line"))
        seen.add(raw["dag_id"])
        documents.append(build_document(raw, config, source_sha, dag_file))
    check_task_settings(config, documents, project_dir / PROJECT_FILE)
    return CompiledProject(project_dir=project_dir, dag_file=dag_file, config=config,
                           source=source, documents=tuple(documents))


def build_document(raw: Mapping[str, Any], config: ProjectConfig, source_sha: str,
                   dag_file: Path, helper_modules: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
    """Merge leoflow.yaml into the child's description, validate it and hash it.

    ``helper_modules`` (a plain folder's: path → SHA-256 of each module the file imported)
    is part of the document, so a helper's change is a new version."""
    doc = dict(raw)
    doc["schema_version"] = SPEC_VERSION
    doc["project"] = config.dag_id
    doc["source_sha256"] = source_sha
    if helper_modules:
        doc["helper_modules"] = dict(sorted(helper_modules.items()))
    doc["python_version"] = config.python_version
    doc["dependencies"] = list(config.dependencies)
    doc["image"] = config.image
    doc["env"] = dict(config.env)
    doc["tasks"] = [_with_kubernetes(task, config) for task in doc["tasks"]]
    if config.description and not doc.get("description"):
        doc["description"] = config.description
    if config.owner:
        doc["owner"] = config.owner
    doc["tags"] = sorted(set(doc.get("tags", [])) | set(config.tags))
    file = str(dag_file)
    try:
        check_graph(doc["dag_id"], doc["tasks"], file=file)
    except GraphError as exc:
        kind = "cycle" if "cycle" in exc.message else (
            "unknown_upstream" if "unknown task" in exc.message else "duplicate_task_id")
        raise CompileError(exc.message, kind=kind, file=exc.file, line=exc.line) from None
    check_schedule(doc, file)
    check_params_used(doc, file)
    doc["content_hash"] = ""
    try:
        validate({**doc, "content_hash": "sha256:" + "0" * 64}, DAG_SCHEMA, file=file)
    except SpecError as exc:
        raise CompileError(f"the compiled spec is invalid at {exc.message}", kind="spec",
                           file=file, line=doc.get("line")) from None
    return with_content_hash({k: v for k, v in doc.items() if k != "content_hash"})


def with_image(document: Mapping[str, Any], image: str) -> dict[str, Any]:
    """The compiled ``document`` recording the container ``image`` built for it, rehashed.

    ``leoflow compile --build`` calls this after the build (or push): the image's tag comes
    from the content hash of the spec without it, and the spec that names the image is a
    new version with its own hash, so dag.json stays consistent with its ``content_hash``.
    """
    return with_content_hash({**{k: v for k, v in document.items() if k != "content_hash"},
                              "image": image})


def _with_kubernetes(task: Mapping[str, Any], config: ProjectConfig) -> dict[str, Any]:
    """The task with its pod settings (leoflow.yaml's defaults and its own), when any."""
    settings = config.kubernetes_for(task["task_id"])
    return {**task, "kubernetes": settings} if settings else dict(task)


def check_task_settings(config: ProjectConfig, documents: Sequence[Mapping[str, Any]],
                        project_file: Path) -> None:
    """Every task named under leoflow.yaml's ``tasks:`` exists in one of the DAGs."""
    known = {task["task_id"] for doc in documents for task in doc["tasks"]}
    for task_id, line in config.task_lines.items():
        if task_id not in known:
            raise CompileError(
                f"tasks.{task_id}: no task {task_id!r} in the DAG (its tasks: "
                f"{', '.join(sorted(known)) or 'none'})", kind="project",
                file=str(project_file), line=line)


def check_schedule(doc: Mapping[str, Any], file: str) -> None:
    """Cron expressions (5 fields, checked with croniter) and time zones must be valid."""
    schedule = doc["schedule"]
    line = doc.get("line")
    if schedule["kind"] == "cron":
        from croniter import croniter

        expr = schedule["cron"]
        if len(expr.split()) != 5 or not croniter.is_valid(expr):
            raise CompileError(
                f"DAG {doc['dag_id']!r}: schedule {schedule.get('expression') or expr!r} is "
                "not a valid cron expression (5 fields: minute hour day-of-month month "
                "day-of-week, e.g. '0 6 * * 1-5') or preset such as '@daily'",
                kind="schedule", file=file, line=line)
    if schedule["kind"] == "timedelta" and not schedule.get("seconds"):
        raise CompileError(f"DAG {doc['dag_id']!r}: a timedelta schedule must be positive",
                           kind="schedule", file=file, line=line)
    tz = schedule.get("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CompileError(f"DAG {doc['dag_id']!r}: unknown time zone {tz!r}",
                           kind="schedule", file=file, line=line) from None


def check_params_used(doc: Mapping[str, Any], file: str) -> None:
    """Every ``{"param": ...}`` input names a declared DAG param; xcom refs are upstream."""
    params = set(doc.get("params", {}))
    for task in doc["tasks"]:
        values = [*task["inputs"]["args"], *task["inputs"]["kwargs"].values()]
        if task.get("expand"):
            values.extend(task["expand"]["values"].values())
        for value in values:
            for name in _param_names(value):
                if name not in params:
                    raise CompileError(
                        f"task {task['task_id']!r} uses DAG param {name!r}, which the DAG "
                        "does not declare", kind="definition", file=file, line=task.get("line"))
            for ref in iter_xcom_refs(value):
                if ref.task_id not in task["upstream"]:
                    raise CompileError(
                        f"task {task['task_id']!r} reads the result of {ref.task_id!r} but "
                        "does not depend on it", kind="unknown_upstream", file=file,
                        line=task.get("line"))


def _param_names(encoded: Any) -> list[str]:
    if not isinstance(encoded, Mapping) or len(encoded) != 1:
        return []
    ((tag, body),) = encoded.items()
    if tag == "param":
        return [body["name"]]
    if tag == "list":
        return [n for item in body for n in _param_names(item)]
    if tag == "dict":
        return [n for item in body.values() for n in _param_names(item)]
    return []


def _display_path(file: str | None) -> str | None:
    if not file:
        return file
    path = Path(file)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
