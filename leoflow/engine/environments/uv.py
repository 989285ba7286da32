"""Running ``uv`` off the event loop, its output passed on line by line.

Leoflow uses the ``uv`` binary shipped in the ``uv`` Python package (``find_uv_bin``), so no
separate install step is needed. Python downloads are always disabled: a DAG runs on an
interpreter the machine already has, never on one fetched behind the user's back. Package
indexes are uv's own configuration (``uv.toml``, ``UV_INDEX_URL``...), never hard-coded.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from leoflow.engine.environments.errors import UvNotFound
from leoflow.errors import InvariantError

Progress = Callable[[str], None]
TAIL_LINES = 40
QUIET_SECONDS = 5.0  # a line saying uv still works after this long without output


def find_uv() -> str:
    """The path of the ``uv`` binary; ``UvNotFound`` with the fix when it is missing."""
    try:
        from uv import find_uv_bin
    except ImportError:
        raise UvNotFound("uv is not installed beside Leoflow: pip install uv (per-DAG "
                         "environments are made with it)") from None
    try:
        return str(find_uv_bin())
    except FileNotFoundError as exc:
        raise UvNotFound(f"the uv package is installed but its binary is missing: {exc}") from None


def uv_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    env.pop("VIRTUAL_ENV", None)  # uv must act on the environment we name, not the caller's
    return env


@dataclass
class UvResult:
    returncode: int
    tail: list[str]

    @property
    def output(self) -> str:
        return "\n".join(self.tail)


async def run_uv(uv: str, args: Sequence[str], progress: Progress | None = None, *,
                 still: str = "uv is still working", quiet: float = QUIET_SECONDS) -> UvResult:
    """Run ``uv args...``; stdout and stderr lines go to ``progress`` as they come.

    uv prints a line per phase (``Resolved 145 packages in 2.7s``, ``Installed ...``) and
    nothing while it downloads: after ``quiet`` seconds without a line, ``progress`` hears
    ``<still> (12 s)`` so that a long build never looks stuck."""
    process = await asyncio.create_subprocess_exec(
        uv, *args, env=uv_environment(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, limit=1 << 20)
    if process.stdout is None:
        raise InvariantError("uv was started without a pipe for its output")
    tail: list[str] = []
    started = time.monotonic()
    while True:
        try:
            raw = await asyncio.wait_for(process.stdout.readline(), quiet)
        except TimeoutError:
            if progress is not None:
                progress(f"{still} ({time.monotonic() - started:.0f} s)")
            continue
        if not raw:
            break
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            continue
        tail = [*tail[-(TAIL_LINES - 1):], line]
        if progress is not None:
            progress(line)
    return UvResult(await process.wait(), tail)


async def installed_pythons(uv: str) -> list[str]:
    """Versions of the interpreters uv finds on this machine (no downloads), sorted."""
    process = await asyncio.create_subprocess_exec(
        uv, "python", "list", "--only-installed", "--no-python-downloads",
        "--output-format", "json", env=uv_environment(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await process.communicate()
    try:
        entries = json.loads(out or b"[]")
    except ValueError:
        return []
    versions = {str(e.get("version")) for e in entries if isinstance(e, dict) and e.get("version")}

    def order(version: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))

    return sorted(versions, key=order)
