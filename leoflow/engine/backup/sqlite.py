"""The SQLite store's file: where a ``sqlite`` URL points, and a consistent copy of it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite`` URL, or None for another database."""
    prefix = next((p for p in ("sqlite+aiosqlite:///", "sqlite:///")
                   if database_url.startswith(p)), None)
    if prefix is None:
        return None
    return Path(database_url[len(prefix):].split("?", 1)[0])


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API takes a snapshot
    between the writer's transactions, WAL content included)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
