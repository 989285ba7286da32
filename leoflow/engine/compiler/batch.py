"""Compile many DAG files that share one interpreter in one bounded child.

One ``leoflow compile`` child per file pays the interpreter's start and the SDK's import
each time (~0.4 s); a folder of 50 files paid it 50 times. Here one child per environment
imports them once and forks a process per file (``leoflow/sdk/compile_batch.py``), so each
file is still compiled alone: its modules, a crash, ``os._exit`` or a hang touch only its
own fork, which is ended at the per-file ``timeout`` with its whole process group. The
batch as a whole keeps the one-file child's bounds: its memory limit, its output kept head
and tail, every process it started ended with it (``process_tree``).

Each file's result is what ``run_compile_child`` gives for it: the child's report, or the
``CompileError`` (timeout, crash with its output's tail, memory) that kept it out.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leoflow.engine.compiler.child import (
    DEFAULT_TIMEOUT,
    _collect,
    _command,
    _drain,
    _report,
    compile_memory_limit,
)
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput
from leoflow.engine.compiler.process_tree import CompileTree

BATCH_MODULE = "leoflow.sdk.compile_batch"
START_MARGIN = 30.0  # the batch's own start (interpreter, SDK) beyond the files' timeouts
TAIL_BYTES = 64 << 10

Result = dict[str, Any] | CompileError


def run_compile_batch(items: Sequence[tuple[Path, Path]], *, python: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None,
                      memory_limit: int | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT) -> list[Result]:
    """Compile each ``(dag_file, project_dir)`` in a fork of one child running ``python``;
    one result per item, in order. ``jobs`` forks at once (one per core by default)."""
    import sys

    if not items:
        return []
    interpreter = python or sys.executable
    limit = compile_memory_limit() if memory_limit is None else memory_limit
    workers = max(1, min(jobs or (os.cpu_count() or 1), len(items)))
    tree = CompileTree()
    try:
        with tempfile.TemporaryDirectory(prefix="leoflow-compile-") as tmp:
            out_dir = Path(tmp)
            spec = out_dir / "batch.json"
            spec.write_text(json.dumps({
                "items": [[str(f), str(p)] for f, p in items], "timeout": timeout,
                "jobs": workers}), encoding="utf-8")
            command, env = _command(interpreter, None, tree, limit, module=BATCH_MODULE)
            process = subprocess.Popen(
                [*command, str(spec), str(out_dir)], cwd=str(items[0][1]), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)
            stdout, stderr = BoundedOutput(output_limit), BoundedOutput(output_limit)
            overall = START_MARGIN + timeout * math.ceil(len(items) / workers)
            try:
                finished = _collect(process, {process.stdout: stdout,
                                              process.stderr: stderr}, overall)
            finally:
                tree.end(process.pid)
                _drain(process, {process.stdout: stdout, process.stderr: stderr})
                process.wait()
            return [_result(out_dir, i, Path(f), timeout, limit, finished, stderr)
                    for i, (f, _) in enumerate(items)]
    finally:
        tree.close()


def _result(out_dir: Path, index: int, dag_file: Path, timeout: float, limit: int,
            finished: bool, batch_stderr: BoundedOutput) -> Result:
    ended = _read_json(out_dir / f"{index}.end")
    if ended is None:  # the batch itself died or ran out of time before this file ended
        if not finished:
            return CompileError(
                f"did not finish within {timeout:g} s; does the DAG file do heavy work or "
                "wait for something at import time? Move that work into a task",
                kind="timeout", file=str(dag_file))
        tail = batch_stderr.text().strip().splitlines()[-1:]
        return CompileError(
            "the process compiling the DAG files exited before compiling this one"
            + (f": {tail[0]}" if tail else ""), kind="crash", file=str(dag_file),
            traceback=batch_stderr.text()[-TAIL_BYTES:])
    if ended.get("timeout"):
        return CompileError(
            f"did not finish within {timeout:g} s; does the DAG file do heavy work or "
            "wait for something at import time? Move that work into a task",
            kind="timeout", file=str(dag_file))
    code = ended.get("exit")
    if code is None:
        code = -int(ended.get("signal") or 0)
    output = BoundedOutput(TAIL_BYTES)
    output.feed(_tail(out_dir / f"{index}.out"))
    try:
        return _report(out_dir / f"{index}.json", int(code), output, dag_file, limit)
    except CompileError as exc:
        return exc


def _tail(path: Path) -> bytes:
    """The last bytes a fork wrote to its stdout and stderr."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            return handle.read()
    except OSError:
        return b""


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
