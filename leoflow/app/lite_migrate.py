"""``python -m leoflow.app.lite_migrate``: create and migrate Lite's new SQLite store in a
child process, on the other core, while ``leoflow lite`` imports and builds its app.

A first start replays every migration (Alembic's import and about 0.13 s of DDL, 0.25 s
together on the start's critical path). ``leoflow lite`` starts this child when its store
file does not exist yet and waits for it before the control plane opens the store. The
child's work is one transaction: if it fails or is killed, the store is left without
tables and the control plane migrates it itself, with the error shown there. The URL is
read from the standard input, so that it never appears in the process list.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys


def start_migration(database_url: str) -> subprocess.Popen[bytes] | None:
    """The child migrating a SQLite store whose file does not exist yet; None otherwise
    (another database, or a store that exists: its check is one SELECT)."""
    from leoflow.engine.backup.sqlite import sqlite_path

    path = sqlite_path(database_url)
    if path is None or path.exists():
        return None
    child = subprocess.Popen([sys.executable, "-m", "leoflow.app.lite_migrate"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    if child.stdin is not None:  # always, with stdin=PIPE
        child.stdin.write(database_url.encode("utf-8"))
        child.stdin.close()
    return child


async def _migrate(database_url: str) -> None:
    from leoflow.engine.store import Store

    store = await Store.open(database_url, auto_migrate=True)
    await store.close()


def main() -> int:
    asyncio.run(_migrate(sys.stdin.read().strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
