"""Helpers for the Lite tests: a real ``leoflow lite`` in a subprocess, with its home and
workspace in the test's temporary folder, and small DAG projects written on the fly."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

READY = re.compile(r"Leoflow Lite \S+ is ready in [\d.]+ s: (http://\S+)")
PASSWORD = re.compile(r"^\s+password\s+(\S+)\s*$")


@dataclass
class LiteDirs:
    root: Path
    home: Path
    workspace: Path
    env: dict[str, str]

    @property
    def database(self) -> Path:
        return self.home / "leoflow.db"

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the Lite store directly (after the server stopped, or alongside it: WAL)."""
        with sqlite3.connect(self.database, timeout=10) as conn:
            return list(conn.execute(sql, args))


@pytest.fixture
def lite_dirs(tmp_path: Path) -> LiteDirs:
    home = tmp_path / "home"
    workspace = tmp_path / "workspace"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update({"LEOFLOW_HOME": str(home), "PYTHONUNBUFFERED": "1",
                "LEOFLOW_LOGIN_MAX_FAILURES": "1000"})
    return LiteDirs(tmp_path, home, workspace, env)


@pytest.fixture
def bare_lite_dirs(lite_dirs: LiteDirs) -> LiteDirs:
    """A workspace whose ``examples/`` exists already, so no example is copied: the tests
    that do not need the examples start faster and run no scheduled example."""
    (lite_dirs.workspace / "examples").mkdir(parents=True)
    return lite_dirs


def write_project(workspace: Path, dag_id: str, body: str, *,
                  dependencies: list[str] | None = None) -> Path:
    """A project ``workspace/dag_id`` whose dag.py holds ``body`` under a DAG context."""
    project = workspace / dag_id
    project.mkdir(parents=True, exist_ok=True)
    lines = [f"dag_id: {dag_id}",
             f'python_version: "{sys.version_info.major}.{sys.version_info.minor}"']
    if dependencies:
        lines += ["dependencies:", *(f"  - {json.dumps(d)}" for d in dependencies)]
    else:
        lines.append("dependencies: []")
    (project / "leoflow.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    (project / "dag.py").write_text(dag_source(dag_id, body), "utf-8")
    return project


def dag_source(dag_id: str, body: str) -> str:
    return ("from datetime import datetime\n\nfrom leoflow import DAG, task\n\n"
            f"with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):\n"
            + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    "))


SLEEPER = """
@task
def nap() -> int:
    import time
    time.sleep({seconds})
    return 1

@task
def after(value: int) -> int:
    return value + 1

after(nap())
"""


class LiteProcess:
    """``leoflow lite`` in a subprocess; its merged output is collected line by line."""

    def __init__(self, dirs: LiteDirs, *extra: str) -> None:
        self.dirs = dirs
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leoflow.app.cli", "lite", "--workspace",
             str(dirs.workspace), "--port", "0", "--no-browser", *extra],
            env=dirs.env, cwd=dirs.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        self.password: str | None = None

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 60.0
                 ) -> re.Match[str]:
        """The first output line (already seen or to come) matching ``pattern``."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        for line in list(self.lines):
            if match := regex.search(line):
                return match
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"leoflow lite exited ({self.process.poll()}) before "
                                     f"printing {regex.pattern!r}:\n{self.output}")
            if match := regex.search(line):
                return match
        raise AssertionError(f"no {regex.pattern!r} within {timeout} s:\n{self.output}")

    def wait_ready(self, timeout: float = 60.0) -> str:
        self.url = self.wait_for(READY, timeout).group(1)
        self.wait_for("Press Ctrl-C to stop", 10)  # the end of the banner
        for line in list(self.lines):
            if match := PASSWORD.match(line):
                self.password = match.group(1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
                if answer.status_code == 200 \
                        and answer.json()["metadatabase"]["status"] == "healthy":
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.url} never became healthy:\n{self.output}")

    def login(self, password: str | None = None, username: str = "admin") -> httpx.Client:
        answer = httpx.post(f"{self.url}/auth/token",
                            json={"username": username, "password": password or self.password},
                            timeout=10)
        assert answer.status_code == 201, answer.text
        token = answer.json()["access_token"]
        return httpx.Client(base_url=self.url, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"leoflow lite did not stop within {timeout} s:\n"
                                 f"{self.output}") from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._reader.join(5)


@pytest.fixture
def start_lite() -> Iterator[Any]:
    """``start_lite(dirs, *flags)`` → a started ``LiteProcess``; all are stopped at the end."""
    started: list[LiteProcess] = []

    def start(dirs: LiteDirs, *extra: str) -> LiteProcess:
        lite = LiteProcess(dirs, *extra)
        started.append(lite)
        return lite

    yield start
    for lite in started:
        if lite.process.poll() is None:
            lite.kill()


def run_cli(dirs: LiteDirs, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leoflow.app.cli", "lite", *args],
                          env=dirs.env, cwd=dirs.root, capture_output=True, text=True,
                          timeout=timeout, check=False)


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout} s")
