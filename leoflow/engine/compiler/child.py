"""Run the SDK's compile child in a separate, time-limited process.

User code never runs in the caller's process: a DAG file that crashes, hangs or calls
``sys.exit`` only takes its own child down. On POSIX the child gets its own process group
so that a timeout kills whatever it started too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from leoflow.engine.compiler.errors import CompileError

DEFAULT_TIMEOUT = 30.0


def sdk_pythonpath() -> str:
    """A directory holding only the ``leoflow`` package, for a DAG's own interpreter.

    A DAG's environment must see the SDK but none of the control plane's site-packages, so
    we expose the package through a private directory holding one symlink to it.
    """
    package_dir = Path(__file__).resolve().parents[2]
    shim_root = Path(tempfile.gettempdir()) / f"leoflow-sdk-{os.getuid()}-{_tag(package_dir)}"
    link = shim_root / "leoflow"
    if not link.exists():
        shim_root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            link.symlink_to(package_dir, target_is_directory=True)
    return str(shim_root)


def _tag(path: Path) -> str:
    import hashlib

    return hashlib.sha256(str(path).encode()).hexdigest()[:12]


def run_compile_child(dag_file: Path, project_dir: Path, *, python: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Execute ``dag_file`` in a child and return its JSON report.

    Raises ``CompileError`` when the child hangs past ``timeout`` seconds or dies without
    writing a report (a crash in native code, an out-of-memory kill).
    """
    interpreter = python or sys.executable
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONSTARTUP", None)
    if interpreter != sys.executable:
        env["PYTHONPATH"] = sdk_pythonpath()
    with tempfile.TemporaryDirectory(prefix="leoflow-compile-") as tmp:
        out_path = Path(tmp) / "report.json"
        process = subprocess.Popen(
            [interpreter, "-m", "leoflow.sdk.compile_child", str(dag_file), str(project_dir),
             str(out_path)],
            cwd=str(project_dir), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            _stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            raise CompileError(
                f"did not finish within {timeout:g} s; does the DAG file do heavy work or "
                "wait for something at import time? Move that work into a task",
                kind="timeout", file=str(dag_file)) from None
        if not out_path.exists():
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            detail = f": {tail[-1]}" if tail else ""
            raise CompileError(
                f"the process compiling the DAG file exited with code {process.returncode} "
                f"before reporting{detail}", kind="crash", file=str(dag_file),
                traceback="\n".join(tail))
        return json.loads(out_path.read_text("utf-8"))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()

