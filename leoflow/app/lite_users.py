"""Lite's users from the command line: is there an admin yet, and a new password for one.

Both run without a Lite server (``leoflow lite reset-password`` works while Lite runs too:
the store is shared).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from leoflow.app.lite_state import LiteStateError, generate_password
from leoflow.engine.backup.sqlite import sqlite_path


async def admin_exists(database_url: str) -> bool:
    """Whether the store has a user with the Admin role.

    For SQLite this is one query through the standard library (no engine, no migration
    check: a store without the users table has no admin), which keeps it off the start's
    critical path; the control plane migrates the store as it opens it.
    """
    from leoflow.engine.auth.service import ADMIN_ROLE
    from leoflow.engine.store import Store, users

    database = sqlite_path(database_url)
    if database is not None:
        return await asyncio.to_thread(_sqlite_admin_exists, database, ADMIN_ROLE)
    store = await Store.open(database_url, auto_migrate=True)
    try:
        async with store.connect() as conn:
            return await users.count_users(conn, role=ADMIN_ROLE) > 0
    finally:
        await store.close()


def _sqlite_admin_exists(database: Path, role: str) -> bool:
    if not database.exists():
        return False
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT count(*) FROM user_account WHERE role = ?", (role,)).fetchone()
    except sqlite3.OperationalError:  # no users table yet: a store before its migration
        return False
    finally:
        conn.close()
    return bool(row and row[0])


async def reset_password(database_url: str, username: str) -> str:
    """Give ``username`` a new generated password (stored as an argon2 hash); returns it."""
    from leoflow.engine.auth.passwords import Passwords
    from leoflow.engine.store import Store, audit, users

    store = await Store.open(database_url, auto_migrate=True)
    try:
        async with store.connect() as conn:
            user = await users.get_user(conn, username)
            known = [] if user else [u.username for u in
                                     (await users.list_users(conn, limit=20)).items]
        if user is None:
            hint = f" (users: {', '.join(known)})" if known else " (there are no users yet)"
            raise LiteStateError(f"there is no user {username!r}{hint}")
        password = generate_password()
        password_hash = await Passwords().hash_async(password)
        async with store.begin() as conn:
            await users.update_user(conn, username, password_hash=password_hash)
            await audit.record_event(conn, "reset_password", username="leoflow lite",
                                     extra={"user": username})
    finally:
        await store.close()
    return password
