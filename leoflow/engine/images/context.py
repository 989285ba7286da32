"""Write a DAG image's build context: Dockerfile, .dockerignore, requirements, the agent's
wheel and a filtered copy of the project with its freshly compiled dag.json.

The context is a plain folder any builder can use (``docker build``, ``buildah bud``,
kaniko's ``--context dir://``). Only what the Dockerfile copies is in it, and the project
copy leaves out local state (``.leoflow/``, virtual environments, caches, VCS folders) and
files that commonly hold secrets (``.env``, keys, ``.netrc``...), plus whatever the
project's own ``.dockerignore`` names.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leoflow.engine.images import dockerfile as df
from leoflow.engine.images.errors import ImageError
from leoflow.engine.images.naming import resolve_image, spec_hash
from leoflow.engine.images.wheel import leoflow_version, write_agent_wheel
from leoflow.engine.spec.canonical import pretty_json

# The default context is <LEOFLOW_HOME>/images/<dag_id>, outside the project: inside the
# workspace, Lite's hot reload would see the copy's dag.py and leoflow.yaml as another
# project, and the user's VCS would see a build output.
IMAGES_DIR = "images"
MARKER = ".leoflow-image-context"
MIN_PYTHON = (3, 11)  # the agent's own requirement: it runs on the image's Python
EXCLUDED_DIRS = frozenset({".leoflow", ".git", ".hg", ".svn", ".venv", "venv", "__pycache__",
                           ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox",
                           "node_modules"})
EXCLUDED_FILES = (".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*",
                  "id_ed25519*", "id_ecdsa*", ".netrc", ".pypirc", ".npmrc",
                  ".git-credentials", "kubeconfig", "*.kubeconfig", "*.pyc", ".DS_Store",
                  ".dockerignore")


@dataclass(frozen=True)
class BuildContext:
    """A written context: where it is, what it builds and the files it holds."""

    path: Path
    plan: df.ImagePlan
    files: tuple[str, ...]  # relative POSIX paths, sorted

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"


def plan_image(*, dag_id: str, python_version: str | None, dependencies: Sequence[str],
               declared_image: str | None, documents: Sequence[Mapping[str, Any]],
               image: str | None = None, base_image: str | None = None,
               description: str | None = None, wheel_name: str = "") -> df.ImagePlan:
    """Decide the image's name, base and contents; raise ``ImageError`` on bad input."""
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    major, minor = (int(part) for part in version.split("."))
    if (major, minor) < MIN_PYTHON:
        raise ImageError(
            f"leoflow.yaml python_version {version}: DAG images need Python "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or later, because leoflow-agent runs on the "
            "image's Python beside the DAG's environment; raise python_version")
    for dependency in dependencies:
        if "\n" in dependency or "\r" in dependency:
            raise ImageError(f"leoflow.yaml dependencies: {dependency!r} spans several "
                             "lines; give one requirement per list item")
    hex_hash = spec_hash(documents)
    return df.ImagePlan(
        dag_id=dag_id, dag_ids=tuple(sorted(str(d["dag_id"]) for d in documents)),
        python_version=version, dependencies=tuple(dependencies),
        base_image=base_image or f"python:{version}-slim",
        image=resolve_image(image, declared=declared_image, dag_id=dag_id, hex_hash=hex_hash),
        spec_hash=hex_hash, leoflow_version=leoflow_version(), wheel_name=wheel_name,
        description=description)


def context_dir_for(requested: str | Path | None, *, home: Path, dag_id: str) -> Path:
    """``--context`` when given, else ``<home>/images/<dag_id>`` (home: LEOFLOW_HOME)."""
    if requested:
        return Path(requested).expanduser().resolve()
    return (home / IMAGES_DIR / dag_id).resolve()


def write_context(project_dir: Path, context_dir: Path, plan: df.ImagePlan,
                  documents: Sequence[Mapping[str, Any]]) -> BuildContext:
    """Write the whole context into ``context_dir`` (replacing one Leoflow wrote before)."""
    project_dir = project_dir.resolve()
    context_dir = context_dir.resolve()
    if context_dir == project_dir or project_dir.is_relative_to(context_dir):
        raise ImageError(f"{context_dir}: the build context cannot be the project folder or "
                         "one of its parents; choose an empty folder")
    _prepare(context_dir)
    wheel = write_agent_wheel(context_dir / df.WHEELS_DIR)
    plan = _with_wheel(plan, wheel.path.name)
    (context_dir / "Dockerfile").write_text(df.render_dockerfile(plan), "utf-8")
    (context_dir / ".dockerignore").write_text(df.DOCKERIGNORE, "utf-8")
    (context_dir / df.DAG_REQUIREMENTS).write_text(df.render_requirements(plan), "utf-8")
    target = context_dir / df.PROJECT_SUBDIR
    _copy_project(project_dir, target, skip=context_dir)
    for doc, relative in zip(documents, compiled_paths(documents), strict=True):
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pretty_json(doc), "utf-8")
    files = tuple(sorted(p.relative_to(context_dir).as_posix()
                         for p in context_dir.rglob("*") if p.is_file() and p.name != MARKER))
    return BuildContext(path=context_dir, plan=plan, files=files)


def compiled_paths(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where the project keeps its dag.json (one DAG) or dags/<dag_id>.json (several)."""
    if len(documents) == 1:
        return ["dag.json"]
    return [f"dags/{doc['dag_id']}.json" for doc in documents]


def _with_wheel(plan: df.ImagePlan, wheel_name: str) -> df.ImagePlan:
    from dataclasses import replace

    return replace(plan, wheel_name=wheel_name)


def _prepare(context_dir: Path) -> None:
    """An empty folder for the context; only a folder Leoflow wrote before is emptied."""
    if context_dir.exists():
        if not context_dir.is_dir():
            raise ImageError(f"{context_dir}: exists and is not a folder; choose another "
                             "--context")
        if any(context_dir.iterdir()):
            if not (context_dir / MARKER).exists():
                raise ImageError(f"{context_dir}: is not empty and was not written by "
                                 "leoflow compile; choose an empty or new --context folder")
            shutil.rmtree(context_dir)
    context_dir.mkdir(parents=True, exist_ok=True)
    (context_dir / MARKER).write_text(
        "A DAG image build context written by leoflow compile --build; it is replaced on "
        "every build.\n", "utf-8")


def _ignore_patterns(project_dir: Path) -> list[str]:
    """Patterns of the project's own .dockerignore (negations are not supported)."""
    path = project_dir / ".dockerignore"
    if not path.is_file():
        return []
    patterns = []
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "!")):
            patterns.append(line.rstrip("/").removeprefix("./").removeprefix("**/"))
    return patterns


def excluded(relative: str, *, is_dir: bool, patterns: Sequence[str] = ()) -> bool:
    """Whether a project path (POSIX, relative) stays out of the image."""
    name = relative.rsplit("/", 1)[-1]
    if is_dir and name in EXCLUDED_DIRS:
        return True
    if not is_dir and any(fnmatch.fnmatch(name, p) for p in EXCLUDED_FILES):
        return True
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _copy_project(project_dir: Path, target: Path, *, skip: Path) -> None:
    patterns = _ignore_patterns(project_dir)
    for root, dirs, files in os.walk(project_dir):
        here = Path(root)
        relative_root = here.relative_to(project_dir)
        kept = []
        for name in sorted(dirs):
            path = here / name
            relative = (relative_root / name).as_posix()
            if path.resolve() == skip or path.is_symlink() or excluded(
                    relative, is_dir=True, patterns=patterns):
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            relative = (relative_root / name).as_posix()
            path = here / name
            if excluded(relative, is_dir=False, patterns=patterns) or not path.is_file():
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    target.mkdir(parents=True, exist_ok=True)
