"""``ObjectStoragePath``: Airflow's path over object storage, for local files only.

Airflow's ``ObjectStoragePath`` (``airflow.sdk``) is a ``pathlib``-like path over fsspec
filesystems: ``ObjectStoragePath("s3://aws_default@bucket/key")`` names a connection, a
bucket and a key. Leoflow's SDK imports the standard library only, so it cannot carry fsspec
and the storage clients behind it. What it provides:

* any path can be *built* and combined (``base / "file.parquet"``, ``.name``, ``.suffix``,
  ``.protocol``, ``.bucket``, ``.key``, ``.conn_id``): a DAG file that builds paths at module
  level compiles unchanged;
* ``file://`` paths and plain local paths read and write the local filesystem
  (``open``, ``read_text``, ``write_bytes``, ``mkdir``, ``exists``, ``iterdir``...);
* every read or write of another scheme (``s3``, ``gs``, ``abfs``...) raises
  ``ObjectStorageNotSupported`` naming the path, the operation and what to use instead, so
  the task fails at run time with that reason rather than at compile time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

LOCAL_SCHEMES = frozenset({"", "file", "local"})


class ObjectStorageNotSupported(NotImplementedError):
    """A read or write of a remote ``ObjectStoragePath``, which Leoflow does not provide."""

    def __init__(self, path: ObjectStoragePath, operation: str) -> None:
        super().__init__(
            f"ObjectStoragePath({str(path)!r}).{operation}: Leoflow's ObjectStoragePath reads "
            f"and writes local paths (file://) only, not {path.protocol!r} storage; use the "
            f"storage's own client library in the task (add it to the DAG's requirements), "
            "or a local path")
        self.path = str(path)
        self.operation = operation


class ObjectStoragePath:
    """A path on a storage named by its URL scheme; local paths do real I/O (see module doc).

    ``conn_id`` may be given as an argument or in the URL's user part
    (``s3://aws_default@bucket/``), as in Airflow.
    """

    def __init__(self, *parts: str | os.PathLike[str] | ObjectStoragePath,
                 conn_id: str | None = None, **storage_options: Any) -> None:
        if not parts:
            parts = (".",)
        first, rest = parts[0], [str(p) if not isinstance(p, ObjectStoragePath) else p.path
                                 for p in parts[1:]]
        if isinstance(first, ObjectStoragePath):
            protocol, netloc, path = first.protocol, first._netloc, first.path
            conn_id = conn_id or first.conn_id
        else:
            text = os.fspath(first)
            split = urlsplit(text) if "://" in text else None
            if split is None:
                protocol, netloc, path = "file", "", text
            else:
                protocol, netloc, path = split.scheme.lower(), split.netloc, split.path
        if "@" in netloc:
            user, netloc = netloc.rsplit("@", 1)
            conn_id = conn_id or user or None
        self.protocol: str = "file" if protocol in LOCAL_SCHEMES else protocol
        self.conn_id: str | None = conn_id
        self.storage_options = dict(storage_options)
        self._netloc: str = netloc
        self._pure = PurePosixPath((path or "/") if netloc else (path or "."), *rest)

    # -- naming ----------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def path(self) -> str:
        """The path without scheme and connection (Airflow's ``.path``: ``bucket/key``)."""
        if self._netloc:
            key = str(self._pure).lstrip("/")
            return f"{self._netloc}/{key}" if key else self._netloc
        return str(self._pure)

    @property
    def bucket(self) -> str:
        return self._netloc

    container = bucket

    @property
    def key(self) -> str:
        return str(self._pure).lstrip("/") if self._netloc else str(self._pure)

    @property
    def name(self) -> str:
        return self._pure.name

    @property
    def stem(self) -> str:
        return self._pure.stem

    @property
    def suffix(self) -> str:
        return self._pure.suffix

    @property
    def suffixes(self) -> list[str]:
        return self._pure.suffixes

    @property
    def parts(self) -> tuple[str, ...]:
        return self._pure.parts

    @property
    def parent(self) -> ObjectStoragePath:
        return self._with(self._pure.parent)

    def joinpath(self, *others: str) -> ObjectStoragePath:
        return self._with(self._pure.joinpath(*others))

    def __truediv__(self, other: str | os.PathLike[str]) -> ObjectStoragePath:
        return self.joinpath(os.fspath(other))

    def with_name(self, name: str) -> ObjectStoragePath:
        return self._with(self._pure.with_name(name))

    def with_suffix(self, suffix: str) -> ObjectStoragePath:
        return self._with(self._pure.with_suffix(suffix))

    def _with(self, pure: PurePosixPath) -> ObjectStoragePath:
        clone = object.__new__(ObjectStoragePath)
        clone.protocol, clone.conn_id = self.protocol, self.conn_id
        clone.storage_options, clone._netloc, clone._pure = (
            dict(self.storage_options), self._netloc, pure)
        return clone

    def __str__(self) -> str:
        if self.is_local and not self._netloc:
            return str(self._pure)
        user = f"{self.conn_id}@" if self.conn_id else ""
        return f"{self.protocol}://{user}{self.path}"

    def __fspath__(self) -> str:
        return str(self._local("__fspath__"))

    def __repr__(self) -> str:
        return f"ObjectStoragePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectStoragePath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    # -- I/O: local only -------------------------------------------------------------------
    def _local(self, operation: str) -> Path:
        if not self.is_local or self._netloc:
            raise ObjectStorageNotSupported(self, operation)
        return Path(str(self._pure))

    @property
    def fs(self) -> Any:
        """Airflow's fsspec filesystem; Leoflow has none to give (standard library only)."""
        raise ObjectStorageNotSupported(self, "fs")

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        return self._local(f"open({mode!r})").open(mode, *args, **kwargs)

    def read_text(self, encoding: str | None = None) -> str:
        return self._local("read_text()").read_text(encoding=encoding)

    def read_bytes(self) -> bytes:
        return self._local("read_bytes()").read_bytes()

    def write_text(self, data: str, encoding: str | None = None) -> int:
        return self._local("write_text()").write_text(data, encoding=encoding)

    def write_bytes(self, data: bytes) -> int:
        return self._local("write_bytes()").write_bytes(data)

    def exists(self) -> bool:
        return self._local("exists()").exists()

    def is_file(self) -> bool:
        return self._local("is_file()").is_file()

    def is_dir(self) -> bool:
        return self._local("is_dir()").is_dir()

    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        self._local("mkdir()").mkdir(mode=mode, parents=parents, exist_ok=exist_ok)

    def touch(self, exist_ok: bool = True) -> None:
        self._local("touch()").touch(exist_ok=exist_ok)

    def unlink(self, missing_ok: bool = False) -> None:
        self._local("unlink()").unlink(missing_ok=missing_ok)

    def rmdir(self) -> None:
        self._local("rmdir()").rmdir()

    def stat(self) -> os.stat_result:
        return self._local("stat()").stat()

    def iterdir(self) -> Iterator[ObjectStoragePath]:
        for child in self._local("iterdir()").iterdir():
            yield self._with(PurePosixPath(str(child)))

    def glob(self, pattern: str) -> Iterator[ObjectStoragePath]:
        for child in self._local(f"glob({pattern!r})").glob(pattern):
            yield self._with(PurePosixPath(str(child)))
