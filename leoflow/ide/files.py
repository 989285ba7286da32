"""The workspace's files as the editor sees them: every path confined to the workspace.

The IDE can write files, so every path that comes from a browser goes through
``Workspace.resolve`` first. A path is refused (``WorkspacePathError``) when it is empty,
absolute, contains ``..`` or a ``.`` component, a backslash, a NUL or another control
character, names a reserved folder (``.leoflow``, which holds the push token), or leads
through a symbolic link to somewhere outside the workspace. ``check_relative`` is the
pure part of the check (text only); ``Workspace.resolve`` adds what needs the file system
(symbolic links).

Everything here is synchronous and blocking: pages call it through ``run.io_bound``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from leoflow.engine.safe_files import UnsafeWriteError, describe_os_error, write_file
from leoflow.errors import LeoflowError

RESERVED = frozenset({".leoflow"})
HIDDEN_IN_TREE = frozenset({".git", ".venv", "venv", "__pycache__", ".leoflow", ".mypy_cache",
                            ".pytest_cache", ".ruff_cache", "node_modules", ".idea"})
MAX_TREE_ENTRIES = 5000
MAX_EDIT_BYTES = 2 * 1024 * 1024


class WorkspacePathError(LeoflowError):
    """A path the IDE will not touch; ``path`` is what was asked for."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path!r}: {reason}")
        self.path = path
        self.reason = reason


class WorkspaceFileError(LeoflowError):
    """A file operation that cannot be done (exists already, not found, not text...)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class FileStamp:
    """Which content of a file the editor loaded or wrote: its SHA-256 (with size and mtime
    to say when). A save passes the stamp it loaded; the file on disk must still match."""

    sha256: str
    size: int
    mtime_ns: int


def stamp_of(data: bytes, mtime_ns: int = 0) -> FileStamp:
    return FileStamp(hashlib.sha256(data).hexdigest(), len(data), mtime_ns)


class FileChangedOnDisk(WorkspaceFileError):
    """A save refused: the file changed (or went) since the editor loaded it (another editor,
    ``git pull``). ``disk_text`` is what is there now (None: deleted), ``stamp`` its stamp."""

    def __init__(self, path: str, disk_text: str | None, stamp: FileStamp | None) -> None:
        super().__init__(path, "was deleted outside the editor since it was opened"
                         if disk_text is None else
                         "changed on disk since it was opened (another editor or a git pull)")
        self.disk_text = disk_text
        self.stamp = stamp


def check_relative(path: str) -> PurePosixPath:
    """The workspace-relative path ``path`` names, or ``WorkspacePathError``.

    Pure: looks at the text only. ``a/b.py`` and ``a/b.py/`` are accepted; ``/etc/passwd``,
    ``../x``, ``a/../../x``, ``./a``, ``a\\b``, ``C:x`` and ``.leoflow/push.json`` are not.
    """
    if not isinstance(path, str) or not path.strip():
        raise WorkspacePathError(str(path), "a path inside the workspace is required")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in path):
        raise WorkspacePathError(path, "control characters are not allowed in file names")
    if "\\" in path:
        raise WorkspacePathError(path, "use '/' to separate folders")
    if path.startswith("/") or path.startswith("~") or (len(path) > 1 and path[1] == ":"):
        raise WorkspacePathError(path, "absolute paths are not allowed; give a path relative "
                                       "to the workspace")
    parts = [p for p in path.rstrip("/").split("/")]
    for part in parts:
        if part == "":
            raise WorkspacePathError(path, "empty folder name ('//')")
        if part in (".", ".."):
            raise WorkspacePathError(path, "'.' and '..' are not allowed; the IDE only reaches "
                                           "files inside the workspace")
        if part in RESERVED:
            raise WorkspacePathError(path, f"{part} is reserved for Leoflow's own settings")
    return PurePosixPath(*parts)


def check_name(name: str) -> str:
    """A single file or folder name (for create and rename), or ``WorkspacePathError``."""
    checked = check_relative(name)
    if len(checked.parts) != 1:
        raise WorkspacePathError(name, "a name cannot contain '/'")
    return checked.parts[0]


@dataclass(frozen=True)
class TreeNode:
    """A file or folder of the tree; ``id`` is its workspace-relative path."""

    id: str
    label: str
    is_dir: bool
    children: tuple[TreeNode, ...] = ()

    def as_dict(self) -> dict:
        node: dict = {"id": self.id, "label": self.label,
                      "icon": "folder" if self.is_dir else _icon(self.label)}
        if self.is_dir:
            node["children"] = [c.as_dict() for c in self.children]
        return node


def _icon(name: str) -> str:
    if name.endswith(".py"):
        return "code"
    if name.endswith((".yaml", ".yml")):
        return "settings"
    return "description"


class Workspace:
    """File operations confined to ``root`` (the Lite workspace, ``~/leoflow``, or one
    tenant's folder of it), never reaching the ``excluded`` folders below it (other tenants'
    folders: ``leoflow.engine.workspace_tenants``)."""

    def __init__(self, root: Path, excluded: tuple[PurePosixPath, ...] = ()) -> None:
        self.root = Path(root).expanduser().resolve()
        self.excluded = tuple(self.root.joinpath(*PurePosixPath(e).parts) for e in excluded)

    def _excluded(self, real: Path) -> bool:
        return any(real == e or real.is_relative_to(e) for e in self.excluded)

    # -- checks ----------------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        """The absolute path of workspace-relative ``path``, after every check.

        The target may not exist yet (create); every existing part of it is resolved, so a
        symbolic link (of the file or of a folder above it) that leads out is refused.
        """
        rel = check_relative(path)
        target = self.root.joinpath(*rel.parts)
        real = target.resolve(strict=False)
        if real != self.root and not real.is_relative_to(self.root):
            raise WorkspacePathError(path, "leads outside the workspace (through a symbolic "
                                           "link)")
        if self._excluded(target) or self._excluded(real):
            raise WorkspacePathError(path, "is another tenant's folder; the IDE shows each "
                                           "tenant its own files only")
        return target

    def relative(self, absolute: Path) -> str:
        """The workspace-relative form of a path below the root (``a/b.py``)."""
        return Path(absolute).relative_to(self.root).as_posix()

    # -- reading ---------------------------------------------------------------------------
    def tree(self) -> list[TreeNode]:
        """Folders first, then files, by name; hidden tool folders and links out left out."""
        count = [0]
        return self._children(self.root, count)

    def _children(self, folder: Path, count: list[int]) -> list[TreeNode]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: (not e.is_dir(), e.name.lower()))
        except OSError:
            return []
        nodes: list[TreeNode] = []
        for entry in entries:
            if count[0] >= MAX_TREE_ENTRIES:
                break
            if entry.name in HIDDEN_IN_TREE or entry.name.endswith(".pyc") \
                    or entry.name.startswith((".leoflow", ".#")) \
                    or entry.name.endswith(".leoflow-tmp"):
                continue  # tool folders, Leoflow's own files, half-written saves
            path = Path(entry.path)
            if self._excluded(path):
                continue  # another tenant's folder
            if entry.is_symlink():
                real = path.resolve(strict=False)
                if not real.is_relative_to(self.root) or self._excluded(real):
                    continue  # a link out of the workspace: not shown, not reachable
            count[0] += 1
            rel = self.relative(path)
            if entry.is_dir():
                nodes.append(TreeNode(rel, entry.name, True, tuple(self._children(path, count))))
            else:
                nodes.append(TreeNode(rel, entry.name, False))
        return nodes

    def read_text(self, path: str) -> str:
        return self.read_versioned(path)[0]

    def read_versioned(self, path: str) -> tuple[str, FileStamp]:
        """The file's text and the stamp of that content (one read: they always agree)."""
        target = self.resolve(path)
        if not target.is_file():
            raise WorkspaceFileError(path, "no such file")
        if target.stat().st_size > MAX_EDIT_BYTES:
            raise WorkspaceFileError(path, "too large to edit here (over 2 MB)")
        with open(target, "rb") as handle:
            data = handle.read(MAX_EDIT_BYTES + 1)
            mtime_ns = os.fstat(handle.fileno()).st_mtime_ns
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WorkspaceFileError(path, "not a UTF-8 text file") from None
        return text.replace("\r\n", "\n").replace("\r", "\n"), stamp_of(data, mtime_ns)

    def on_disk(self, path: str) -> tuple[str, FileStamp] | None:
        """What ``path`` holds now (None: no such file), for comparing with a stamp."""
        try:
            return self.read_versioned(path)
        except WorkspaceFileError as exc:
            if isinstance(exc, WorkspacePathError) or exc.reason != "no such file":
                raise
            return None

    # -- writing ---------------------------------------------------------------------------
    def write_text(self, path: str, text: str, *, expected: FileStamp | None = None) -> Path:
        """Save ``text`` (the folder must exist); atomic, so a watcher never sees half a file.

        With ``expected`` (the stamp the editor loaded) the file must still hold that
        content, else ``FileChangedOnDisk`` and nothing is written: a save never throws
        away a change made outside the editor."""
        target = self.resolve(path)
        if target.is_dir():
            raise WorkspaceFileError(path, "is a folder")
        if not target.parent.is_dir():
            raise WorkspaceFileError(path, "its folder does not exist")
        if expected is not None:
            now = self.on_disk(path)
            if now is None or now[1].sha256 != expected.sha256:
                raise FileChangedOnDisk(path, *(now or (None, None)))
        return self._write(path, target, text, exclusive=False)

    def stamp(self, path: str) -> FileStamp | None:
        """The stamp of what ``path`` holds now (None: no such file)."""
        now = self.on_disk(path)
        return now[1] if now is not None else None

    def _write(self, path: str, target: Path, text: str, *, exclusive: bool) -> Path:
        """Through ``write_file``: no planted link followed, the folder checked again."""
        try:
            written = write_file(target, text, root=self.root, exclusive=exclusive)
        except UnsafeWriteError as exc:
            raise WorkspaceFileError(path, exc.reason) from None
        return target if written.parent == target.parent.resolve() else written

    def create_file(self, path: str, text: str = "") -> Path:
        target = self.resolve(path)
        if target.exists() or target.is_symlink():
            raise WorkspaceFileError(path, "exists already")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceFileError(path, describe_os_error(exc)) from None
        self.resolve(path)  # the folders just made cannot lead out, but check again
        return self._write(path, target, text, exclusive=True)

    def create_folder(self, path: str) -> Path:
        target = self.resolve(path)
        if target.exists() or target.is_symlink():
            raise WorkspaceFileError(path, "exists already")
        target.mkdir(parents=True)
        return target

    def rename(self, path: str, new_name: str) -> str:
        """Rename a file or folder in place; returns the new workspace-relative path."""
        source = self.resolve(path)
        if not source.exists():
            raise WorkspaceFileError(path, "no such file or folder")
        name = check_name(new_name)
        new_rel = (PurePosixPath(check_relative(path)).parent / name).as_posix()
        target = self.resolve(new_rel)
        if target.exists() or target.is_symlink():
            raise WorkspaceFileError(new_rel, "exists already")
        source.rename(target)
        return new_rel

    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything in it (never the workspace itself)."""
        target = self.resolve(path)
        if target == self.root:
            raise WorkspacePathError(path, "the workspace itself cannot be deleted")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        else:
            raise WorkspaceFileError(path, "no such file or folder")
