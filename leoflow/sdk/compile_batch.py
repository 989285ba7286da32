"""The child side of a batch compile: many DAG files in one interpreter, a fork per file.

Started by the compiler (``engine/compiler/batch.py``) with the DAG environment's own
interpreter as ``python -m leoflow.sdk.compile_batch SPEC OUT_DIR``. SPEC is a JSON file:
``{"items": [[dag_file, project_dir], ...], "timeout": seconds, "jobs": n}``.

The interpreter and the SDK are loaded once; then each file is compiled by the compile
child's own ``compile_file`` in a process forked for it, so files stay as isolated from
each other as with one child per file: a file's modules, its ``sys.path`` changes, a crash,
``os._exit`` or a hang touch only its own fork. Each fork gets its own process group (killed
whole at its timeout), its stdout and stderr in ``OUT_DIR/<i>.out`` (the tail explains a
crash), and writes its report to ``OUT_DIR/<i>.json``; the batch writes ``OUT_DIR/<i>.end``
with how the fork ended. Standard library only, like every SDK module.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import sys
import time
from typing import Any

OUTPUT_LIMIT = 80 << 20  # what one fork may write to files (its output and its report)


# Imported before the forks when the environment has them: what Airflow's own runtime has
# always imported for DAG code (docs/airflow-folders.md), and known to start no thread.
PRELOADED = ("pendulum",)


def preload() -> None:
    """What every compile needs, imported once before the forks."""
    import importlib
    import importlib.util

    from leoflow.sdk import airflow_shim, compile_child  # noqa: F401

    if airflow_shim.real_airflow_available():
        with contextlib.suppress(Exception):  # its ~3 s import, once (each fork reports)
            importlib.import_module("airflow.sdk")
    else:
        airflow_shim.install()
    for name in PRELOADED:
        if importlib.util.find_spec(name) is not None:
            with contextlib.suppress(Exception):
                importlib.import_module(name)


def compile_one(index: int, dag_file: str, project_dir: str, out_dir: str) -> None:
    """In the fork: compile one file and write its report; never returns."""
    code = 0
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, OUTPUT_LIMIT))
        out = os.open(os.path.join(out_dir, f"{index}.out"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.chdir(project_dir)  # as the one-file child runs: in its project's folder
        from leoflow.sdk.compile_child import compile_file

        result = compile_file(os.path.abspath(dag_file), os.path.abspath(project_dir))
        target = os.path.join(out_dir, f"{index}.json")
        with open(target + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        os.replace(target + ".tmp", target)
    except BaseException:  # the report is missing: the compiler says the fork crashed
        code = 70
        try:
            import traceback

            traceback.print_exc()
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run(items: list[list[str]], out_dir: str, *, timeout: float, jobs: int) -> None:
    """Fork a compile per item, ``jobs`` at a time, each ended at its ``timeout``."""
    pending = list(enumerate(items))
    running: dict[int, tuple[int, float, Any]] = {}  # pid -> (index, deadline, pidfd)
    with selectors.DefaultSelector() as selector:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                index, (dag_file, project_dir) = pending.pop(0)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    compile_one(index, dag_file, project_dir, out_dir)
                with contextlib.suppress(OSError):  # the fork did it first, or ended
                    os.setpgid(pid, pid)
                fd = _pidfd(pid)
                if fd is not None:
                    selector.register(fd, selectors.EVENT_READ, pid)
                running[pid] = (index, time.monotonic() + timeout, fd)
            now = time.monotonic()
            wait = min(d for _, d, _ in running.values()) - now
            if selector.get_map():
                selector.select(max(0.0, min(wait, 1.0)))
            else:
                time.sleep(max(0.0, min(wait, 0.002)))
            for pid, (index, deadline, fd) in list(running.items()):
                ended = _reap(pid)
                if ended is None and time.monotonic() >= deadline:
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    ended = {"timeout": True}
                if ended is None:
                    continue
                del running[pid]
                if fd is not None:
                    selector.unregister(fd)
                    os.close(fd)
                _write_end(out_dir, index, ended)


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


def _reap(pid: int) -> dict[str, Any] | None:
    found, status = os.waitpid(pid, os.WNOHANG)
    if found == 0:
        return None
    _kill_group(pid)  # what the file left running in its group ends with it
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def _write_end(out_dir: str, index: int, ended: dict[str, Any]) -> None:
    with open(os.path.join(out_dir, f"{index}.end"), "w", encoding="utf-8") as handle:
        json.dump(ended, handle)


def main(argv: list[str]) -> int:
    spec_path, out_dir = argv
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    preload()
    run(spec["items"], out_dir, timeout=float(spec["timeout"]), jobs=int(spec["jobs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
