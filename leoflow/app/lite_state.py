"""What a Lite installation remembers between starts: its choices, its ports, its IDE secret.

Lite keeps everything under the Leoflow home (``~/.leoflow``) and the workspace
(``~/leoflow``). ``lite.json`` remembers the choices of the first start that later starts
reuse: the workspace folder, whether the store is the embedded PostgreSQL, and the agents'
gRPC port (kept stable so that agents still running after a crash reconnect to the next
start). The rest of Lite's files have modules of their own: ``lite_lock`` (who is
running), ``lite_backup`` (backup and restore, over ``leoflow.engine.backup``) and
``lite_users`` (the admin and its password).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from leoflow.app.workspace import DEFAULT_WORKSPACE
from leoflow.engine.safe_files import make_private_dir, write_file
from leoflow.errors import LeoflowError

STATE_FILE = "lite.json"
PGDATA_DIR = "pgdata"
IDE_SECRET_FILE = "ide_secret"
PASSWORD_BYTES = 12  # token_urlsafe(12): 16 characters, 96 bits


class LiteStateError(LeoflowError):
    """Lite's state cannot be used as asked (a server is running, no such user)."""


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


# -- lite.json -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiteConfig:
    """What the first start chose and later starts reuse."""

    workspace: Path | None = None
    postgres: str | None = None  # "embedded" or None (a URL belongs in config.toml)
    grpc_port: int | None = None

    @classmethod
    def load(cls, home: Path) -> LiteConfig:
        try:
            data = json.loads((home / STATE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return cls()
        workspace = data.get("workspace")
        port = data.get("grpc_port")
        return cls(workspace=Path(workspace) if isinstance(workspace, str) else None,
                   postgres=data.get("postgres") if data.get("postgres") == "embedded"
                   else None,
                   grpc_port=port if isinstance(port, int) and 0 < port < 65536 else None)

    def save(self, home: Path) -> None:
        make_private_dir(home)
        data = {"workspace": str(self.workspace) if self.workspace else None,
                "postgres": self.postgres, "grpc_port": self.grpc_port}
        write_file(home / STATE_FILE, json.dumps(data, indent=1) + "\n", mode=0o600)


def resolve_workspace(home: Path, flag: str | None) -> Path:
    """The workspace: the flag, else the one Lite used last, else ``~/leoflow``."""
    chosen = Path(flag) if flag else (LiteConfig.load(home).workspace or DEFAULT_WORKSPACE)
    return chosen.expanduser().resolve()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now. Probed with ``SO_REUSEADDR``, as
    servers bind: connections of a killed server left in TIME_WAIT do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def ide_secret(home: Path) -> str:
    """The secret that signs the IDE's session cookies: made once, kept in the home (not in
    the workspace, which may be a git repository), so that sessions survive a restart."""
    path = home / IDE_SECRET_FILE
    with contextlib.suppress(OSError):
        value = path.read_text("utf-8").strip()
        if len(value) >= 32:
            return value
    make_private_dir(home)
    value = secrets.token_urlsafe(48)
    write_file(path, value + "\n", mode=0o600)
    return value
