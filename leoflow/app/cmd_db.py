"""``leoflow db migrate`` and ``leoflow db check``: the metadata schema, on purpose.

Lite migrates its SQLite file by itself at start; a PostgreSQL deployment runs
``leoflow db migrate`` once per upgrade, and ``leoflow db check`` (e.g. in a readiness probe
or before a rollout) says whether the schema matches this version of Leoflow. Both print one
line; ``check`` exits 1 when the schema is older, newer or missing. Heavy imports
(SQLAlchemy, Alembic) happen inside the commands so that ``leoflow --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from leoflow.errors import LeoflowError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``db`` and its subcommands to the CLI's subparsers; each sets ``func``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        metavar="URL",
        help="metadata database (default: LEOFLOW_DATABASE_URL, config.toml, or the Lite file)",
    )
    parser = subparsers.add_parser(
        "db",
        help="manage the metadata database schema",
        description="Manage the metadata database schema.",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    migrate = commands.add_parser(
        "migrate",
        parents=[common],
        help="upgrade the schema to this version of Leoflow",
        description="Upgrade the schema to this version of Leoflow (no-op when up to date).",
    )
    migrate.set_defaults(func=run_migrate)
    check = commands.add_parser(
        "check",
        parents=[common],
        help="exit 1 unless the schema matches this version of Leoflow",
        description="Compare the schema revision with this version of Leoflow.",
    )
    check.set_defaults(func=run_check)
    return parser


def _database_url(args: argparse.Namespace) -> str:
    from leoflow.app.settings import Settings

    flags = {"database_url": getattr(args, "database_url", None)}
    return Settings.load(overrides=flags).database_url


def run_migrate(args: argparse.Namespace) -> int:
    """Upgrade the schema; prints ``schema upgraded from X to Y`` or ``already at Y``."""
    try:
        url = _database_url(args)
        before, after, where = asyncio.run(_migrate(url))
    except LeoflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if before == after:
        print(f"schema of {where} already at revision {after}")
    else:
        print(f"schema of {where} upgraded from revision {before or '<none>'} to {after}")
    return 0


async def _migrate(url: str) -> tuple[str | None, str | None, str]:
    from leoflow.engine.store import Store

    store = Store.from_url(url)
    try:
        before = (await store.schema_status()).current
        after = (await store.migrate()).current
        return before, after, store.url
    finally:
        await store.close()


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 when the schema matches the code, else 1 with what to do."""
    try:
        url = _database_url(args)
        status, where = asyncio.run(_check(url))
    except LeoflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if status.ok:
        print(f"schema of {where} is up to date (revision {status.current})")
        return 0
    print(f"error: {where}: {status.error()}", file=sys.stderr)
    return 1


async def _check(url: str) -> tuple[Any, str]:
    from leoflow.engine.store import Store, mask_url, normalize_url, schema
    from leoflow.engine.store.database import sqlite_path

    path = sqlite_path(normalize_url(url))
    if path is not None and not path.expanduser().exists():
        # Checking must not create the Lite file as a side effect.
        return schema.SchemaStatus(None, schema.head_revision()), mask_url(url)
    store = Store.from_url(url)
    try:
        return await store.schema_status(), store.url
    finally:
        await store.close()
