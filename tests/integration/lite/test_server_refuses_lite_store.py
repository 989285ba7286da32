"""``leoflow-server`` refuses to join a running Lite's SQLite store: started without
``LEOFLOW_HOME`` it defaults to Lite's home (``~/.leoflow``) and would otherwise run a second
scheduler over Lite's runs. Real processes: one holding Lite's lock as ``leoflow lite``
does, and the ``leoflow-server`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leoflow.app.lite_lock import LiteLock, refuse_lite_store
from leoflow.app.lite_state import LiteStateError

HOLD = """
import sys, time
from pathlib import Path
from leoflow.app.lite_lock import LiteLock
lock = LiteLock(Path(sys.argv[1]))  # held while referenced, as by leoflow lite
lock.acquire({"url": "http://127.0.0.1:8088", "workspace": "w"})
print("held", flush=True)
time.sleep(60)
"""


def _env(user_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(HOME=str(user_home), LEOFLOW_BOOTSTRAP_PASSWORD="a-long-enough-password-1")
    return env


def test_leoflow_server_without_a_home_refuses_a_running_lites_store(tmp_path: Path) -> None:
    lite_home = tmp_path / ".leoflow"  # where Lite and leoflow-server both default to
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lite_home)],
                              stdout=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from leoflow.app.server import main; "
             "sys.exit(main())", "--port", "0"], env=_env(tmp_path), capture_output=True,
            text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert "Leoflow Lite is running on this database" in result.stderr
        assert f"pid {holder.pid}" in result.stderr
        assert "LEOFLOW_HOME=" in result.stderr  # says how to give the server its own home
        assert "Traceback" not in result.stderr
        assert time.monotonic() - started < 30  # refused before anything started
    finally:
        holder.kill()
        holder.wait(10)
    # Lite gone (its lock released by the OS): the same store is the server's to use
    refuse_lite_store(f"sqlite+aiosqlite:///{lite_home / 'leoflow.db'}")


def test_only_the_locked_sqlite_file_is_refused(tmp_path: Path) -> None:
    lock = LiteLock(tmp_path / "lite-home")
    lock.acquire({"url": "http://127.0.0.1:9"})
    try:
        with pytest.raises(LiteStateError, match="second scheduler"):
            refuse_lite_store(f"sqlite+aiosqlite:///{tmp_path / 'lite-home' / 'leoflow.db'}")
        refuse_lite_store(f"sqlite+aiosqlite:///{tmp_path / 'other' / 'leoflow.db'}")
        refuse_lite_store("postgresql+asyncpg://u:p@127.0.0.1/leoflow")
        refuse_lite_store("sqlite+aiosqlite://")  # in memory
    finally:
        lock.release()
