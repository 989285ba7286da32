"""Lite's metadata database: SQLite in the home (the default), a PostgreSQL URL, or the
embedded PostgreSQL (pgserver) under ``<home>/pgdata``, started for the command that needs
it and stopped at exit (unless a running Lite shares it)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError

log = logging.getLogger("leoflow.lite")


@contextlib.contextmanager
def lite_database(home: Path, postgres: str | None, *, for_server: bool) -> Any:
    """The metadata database URL: SQLite in the home, a PostgreSQL URL, or the embedded
    PostgreSQL (pgserver) under ``<home>/pgdata``, started here and stopped at exit."""
    from leoflow.app.lite_lock import running_server
    from leoflow.app.lite_state import LiteConfig
    from leoflow.app.settings import Settings

    if postgres is None and not for_server and LiteConfig.load(home).postgres == "embedded":
        postgres = "embedded"
    if postgres is None:
        yield Settings.load().database_url
        return
    if postgres != "embedded":
        if not postgres.startswith(("postgresql", "postgres://")):
            raise LeoflowError(f"--postgres must be 'embedded' or a postgresql:// URL, not "
                               f"{postgres!r}")
        yield postgres
        return
    # pgserver asks platformdirs for a runtime folder it does not use here
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import pgserver
    except ImportError:
        raise LeoflowError("--postgres embedded needs the pgserver package: pip install "
                           "pgserver") from None
    shared = not for_server and running_server(home) is not None
    log.info("starting the embedded PostgreSQL in %s", home / "pgdata")
    server = pgserver.get_server(home / "pgdata", cleanup_mode=None if shared else "stop")
    try:
        exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'leoflow';")
        if "1 row" not in exists:
            server.psql("CREATE DATABASE leoflow;")
        yield pgserver_url(server, "leoflow")
    finally:
        if not shared:
            server.cleanup()


def pgserver_url(server: Any, database: str) -> str:
    info = server.get_postmaster_info()
    if info.socket_dir is not None:  # pgserver listens on a Unix socket
        return (f"postgresql+asyncpg://postgres@/{database}?host={info.socket_dir}"
                f"&port={info.port}")
    return f"postgresql+asyncpg://postgres@{info.hostname}:{info.port}/{database}"
