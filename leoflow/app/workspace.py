"""The Lite workspace: the folder of DAG projects a user edits, and the bundled examples.

A *project* is a folder holding ``leoflow.yaml`` (and its ``dag.py``); finding them is
``leoflow.engine.reload.projects``' job (the hot reloader's), used here for the examples.

``copy_examples`` puts the bundled examples into ``<workspace>/examples``. It is used by
``leoflow lite`` on the first start and by the IDE's *Download examples* button, and it
never overwrites a file the user changed unless the ``overwrite`` callback says so. To tell
"the user changed it" from "we shipped a newer version", it keeps a manifest of what it
copied (``examples/.leoflow-examples.json``: each file's SHA-256 as copied).

No third-party module is imported here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from leoflow.engine.reload.projects import find_projects, is_ignored
from leoflow.engine.safe_files import write_file

DEFAULT_WORKSPACE = Path("~/leoflow")
EXAMPLES_DIR = "examples"
MANIFEST = ".leoflow-examples.json"
# Where a wheel installs the examples ([tool.setuptools.data-files] in pyproject.toml).
INSTALLED_EXAMPLES = Path("share") / "leoflow" / "examples"
# Files of an example project that are copied (build outputs and caches are not).
EXAMPLE_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".md", ".txt", ".csv", ".json", ".sql",
                              ".sh", ".toml"})
EXCLUDED_EXAMPLE_FILES = frozenset({"dag.json"})


def ensure_workspace(workspace: Path) -> bool:
    """Create the workspace folder if needed; returns whether it was created."""
    if workspace.is_dir():
        return False
    workspace.mkdir(parents=True, exist_ok=True)
    return True


# -- the bundled examples ---------------------------------------------------------------------
def bundled_examples_dir() -> Path | None:
    """Where the examples shipped with Leoflow are, or None when they cannot be found.

    From a checkout (or an editable install) they are the repository's ``examples/``, beside
    the ``leoflow`` package; from a wheel they are installed under ``<prefix>/share/leoflow/
    examples``. ``LEOFLOW_EXAMPLES_DIR`` overrides both.
    """
    override = os.environ.get("LEOFLOW_EXAMPLES_DIR")
    candidates: list[Path] = [Path(override)] if override else []
    package = Path(__file__).resolve().parents[1]  # .../leoflow
    candidates.append(package.parent / EXAMPLES_DIR)
    prefixes = [sysconfig.get_paths().get("data"), sys.prefix, sys.base_prefix,
                sysconfig.get_config_var("userbase")]
    candidates += [Path(p) / INSTALLED_EXAMPLES for p in prefixes if p]
    for candidate in candidates:
        if candidate.is_dir() and find_projects(candidate, max_depth=1):
            return candidate
    return None


def _example_files(source: Path) -> Iterator[Path]:
    """The files of every example project, relative to ``source``."""
    for project in find_projects(source, max_depth=1):
        for path in sorted(project.rglob("*")):
            relative = path.relative_to(source)
            if not path.is_file() or is_ignored(relative) \
                    or any(p.startswith(".") for p in relative.parts):
                continue
            if path.suffix in EXAMPLE_SUFFIXES and path.name not in EXCLUDED_EXAMPLE_FILES:
                yield relative


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(target: Path) -> dict[str, str]:
    try:
        data = json.loads((target / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


@dataclass
class CopyReport:
    """What ``copy_examples`` did, as paths relative to ``<workspace>/examples``."""

    copied: list[str] = field(default_factory=list)     # new files
    updated: list[str] = field(default_factory=list)    # unchanged by the user, newer bundled
    replaced: list[str] = field(default_factory=list)   # changed by the user, overwrite said yes
    kept: list[str] = field(default_factory=list)       # changed by the user, left alone
    unchanged: list[str] = field(default_factory=list)  # already identical

    @property
    def written(self) -> list[str]:
        return [*self.copied, *self.updated, *self.replaced]


def example_conflicts(workspace: Path, source: Path | None = None) -> list[str]:
    """Files that ``copy_examples`` would have to ask about: the user changed them and the
    bundled version differs. Lets a UI ask once, before copying."""
    source = source or bundled_examples_dir()
    if source is None:
        return []
    target = workspace / EXAMPLES_DIR
    manifest = _read_manifest(target)
    conflicts = []
    for relative in _example_files(source):
        key = relative.as_posix()
        dest = target / relative
        if not dest.is_file():
            continue
        current = _sha256(dest)
        if current != _sha256(source / relative) and current != manifest.get(key):
            conflicts.append(key)
    return conflicts


def copy_examples(workspace: Path, overwrite: Callable[[str], bool] | None = None, *,
                  source: Path | None = None) -> CopyReport:
    """Copy the bundled examples into ``<workspace>/examples``.

    New files are copied; files the user never touched are brought up to date; a file the
    user changed is overwritten only when ``overwrite(relative_path)`` returns True (without
    a callback it is kept). Each file is written atomically (a temporary file, then a
    rename), so the hot reloader never compiles half a file. Raises ``FileNotFoundError``
    when the examples are not bundled with this installation.
    """
    source = source or bundled_examples_dir()
    if source is None:
        raise FileNotFoundError("the examples are not bundled with this installation of "
                                "Leoflow (set LEOFLOW_EXAMPLES_DIR to a copy of examples/)")
    target = workspace / EXAMPLES_DIR
    manifest = _read_manifest(target)
    report = CopyReport()
    for relative in _example_files(source):
        key = relative.as_posix()
        src, dest = source / relative, target / relative
        bundled = _sha256(src)
        if not dest.exists():
            _write(src, dest, workspace)
            report.copied.append(key)
        else:
            current = _sha256(dest) if dest.is_file() else None
            if current == bundled:
                report.unchanged.append(key)
            elif current is not None and current == manifest.get(key):
                _write(src, dest, workspace)
                report.updated.append(key)
            elif overwrite is not None and overwrite(key):
                _write(src, dest, workspace)
                report.replaced.append(key)
            else:
                report.kept.append(key)
                continue
        manifest[key] = bundled
    target.mkdir(parents=True, exist_ok=True)
    write_file(target / MANIFEST, json.dumps({"files": dict(sorted(manifest.items()))},
                                             indent=1), root=workspace)
    return report


def _write(src: Path, dest: Path, workspace: Path) -> None:
    """Atomic, and never through a link planted in the workspace (``write_file``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_file(dest, src.read_bytes(), root=workspace)
