"""Run the SDK's compile child in a separate, time-limited process.

User code never runs in the caller's process: a DAG file that crashes, hangs or calls
``sys.exit`` only takes its own child down. The child is bounded (docs/security.md, "Files,
backups and compiling untrusted code"): a time limit, a memory limit (``RLIMIT_DATA``), the
head and tail of its output kept (``output.py``), and every process it started ended with it,
daemons that left its session included (``process_tree.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput
from leoflow.engine.compiler.process_tree import CompileTree

if TYPE_CHECKING:
    from leoflow.engine.compiler.tenant_user import CompileAs
    from leoflow.engine.executors.isolation import TryUser

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 30.0
MEMORY_LIMIT_ENV = "LEOFLOW_COMPILE_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT_MIB = 2048
MAX_REPORT_BYTES = 64 << 20  # a dag.json description larger than this is refused
MAX_TRACEBACK = 64 << 10
_CHUNK = 1 << 16
# Run in the DAG's own interpreter before any user code (standard library only): join the
# compile's cgroup when there is one, cap the data the process may allocate, then run the
# SDK's compile child as ``python -m`` would.
_BOOTSTRAP = """\
import resource, runpy, sys
procs, limit = sys.argv[1], int(sys.argv[2])
if procs:
    try:
        with open(procs, "w") as handle:
            handle.write("0")
    except OSError:
        pass
if limit > 0:
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
sys.argv = [sys.argv[0], *sys.argv[3:]]
runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
"""
# The same, for a tenant's project compiled as the tenant's user (``tenant_user.py``). The
# interpreter starts as root in isolated mode without ``site`` (``-I -S``): nothing of the
# project folder (the working directory), of the environment or of the DAG environment's
# site-packages (``.pth`` files run code) is read before the switch. It joins the cgroup and
# caps its memory while it still may, then becomes the tenant's user for good, and only
# then loads ``site`` and the SDK.
_BOOTSTRAP_AS_USER = """\
import os, resource, runpy, sys
procs, limit, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
groups, sdk = [int(g) for g in sys.argv[5].split(",") if g], sys.argv[6]
if procs:
    try:
        with open(procs, "w") as handle:
            handle.write("0")
    except OSError:
        pass
if limit > 0:
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
os.setgroups(groups or [gid])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, uid)
if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
    sys.exit("leoflow: the compile could not switch to the tenant's user")
try:
    os.setuid(0)
except PermissionError:
    pass
else:
    sys.exit("leoflow: the compile could become root again after switching users")
os.umask(0o077)
sys.dont_write_bytecode = True
import site
site.main()
if sdk:
    sys.path.insert(0, sdk)
sys.argv = [sys.argv[0], *sys.argv[7:]]
runpy.run_module("leoflow.sdk.compile_child", run_name="__main__", alter_sys=True)
"""
# What a tenant's compile child gets of the control plane's environment: enough to find
# binaries and speak the locale, nothing that could carry a secret.
PASSED_TO_TENANTS = ("PATH", "LANG", "LC_ALL", "TZ")


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
    info = shim_root.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022 or link.resolve() != package_dir:
        # planted by another user (the name is predictable): a compile would import its code
        return _private_shim(package_dir)
    if info.st_mode & 0o055 != 0o055:
        shim_root.chmod(0o755)  # a tenant's compile user must pass through it too
    return str(shim_root)


_PRIVATE_SHIMS: dict[Path, str] = {}


def _private_shim(package_dir: Path) -> str:
    """A fresh folder of ours holding the link (made once per process)."""
    known = _PRIVATE_SHIMS.get(package_dir)
    if known is not None and Path(known, "leoflow").resolve() == package_dir:
        return known
    shim_root = Path(tempfile.mkdtemp(prefix="leoflow-sdk-"))
    shim_root.chmod(0o755)
    (shim_root / "leoflow").symlink_to(package_dir, target_is_directory=True)
    _PRIVATE_SHIMS[package_dir] = str(shim_root)
    return str(shim_root)


def _tag(path: Path) -> str:
    import hashlib

    return hashlib.sha256(str(path).encode()).hexdigest()[:12]


def run_compile_child(dag_file: Path, project_dir: Path, *, python: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT,
                      run_as: CompileAs | None = None) -> dict[str, Any]:
    """Execute ``dag_file`` in a child and return its JSON report.

    The child is bounded: ``timeout`` seconds, ``memory_limit`` bytes of data (default
    ``LEOFLOW_COMPILE_MEMORY_LIMIT`` MiB, 2048; 0 for none), ``output_limit`` bytes kept of
    each of its output streams (head and tail); whatever it started ends with it, daemons
    included (``process_tree``). Raises ``CompileError`` when the child hangs past the
    timeout, runs out of its memory, or dies without writing a report. ``run_as`` says whose
    project it is: a tenant's runs as that tenant's user (``tenant_user.py``).
    """
    interpreter = python or sys.executable
    limit = compile_memory_limit() if memory_limit is None else memory_limit
    user = run_as.enter(Path(dag_file), interpreter) if run_as is not None else None
    tree = CompileTree()
    try:
        with tempfile.TemporaryDirectory(prefix="leoflow-compile-") as tmp:
            out_path = (user.workdir if user else Path(tmp)) / "report.json"
            command, env = _command(interpreter, user, tree, limit)
            process = subprocess.Popen(
                [*command, str(dag_file), str(project_dir), str(out_path)],
                cwd=str(project_dir), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
            stdout, stderr = BoundedOutput(output_limit), BoundedOutput(output_limit)
            try:
                finished = _collect(process, {process.stdout: stdout,
                                              process.stderr: stderr}, timeout)
            finally:
                stray = tree.end(process.pid)
                _drain(process, {process.stdout: stdout,
                                 process.stderr: stderr})
                process.wait()
            if stray:
                log.info("%s: ended %d process(es) the DAG file left running", dag_file,
                         len(stray))
            if not finished:
                raise CompileError(
                    f"did not finish within {timeout:g} s; does the DAG file do heavy work or "
                    "wait for something at import time? Move that work into a task",
                    kind="timeout", file=str(dag_file))
            return _report(out_path, process.returncode, stderr, dag_file, limit)
    finally:
        tree.close()
        if run_as is not None:
            run_as.leave(user)


def _command(interpreter: str, user: TryUser | None, tree: CompileTree,
             limit: int, module: str = "leoflow.sdk.compile_child"
             ) -> tuple[list[str], dict[str, str]]:
    """The child's command line (before its own arguments) and environment; ``module`` is
    the SDK module it runs (``compile_batch`` for many files at once)."""
    sdk = sdk_pythonpath() if interpreter != sys.executable else ""
    if user is None:  # the control plane's own user: its environment, as always
        env = dict(os.environ)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONSTARTUP", None)
        env.update(tree.env)
        if sdk:
            env["PYTHONPATH"] = sdk
        return [interpreter, "-c", _BOOTSTRAP.replace("MODULE", repr(module)),
                tree.cgroup_procs, str(limit)], env
    env = {k: os.environ[k] for k in PASSED_TO_TENANTS if k in os.environ}
    env.update(user.env)
    env.update(tree.env)
    groups = ",".join(str(g) for g in user.groups)
    return [interpreter, "-I", "-S", "-c", _BOOTSTRAP_AS_USER, tree.cgroup_procs, str(limit),
            str(user.uid), str(user.gid), groups, sdk], env


def compile_memory_limit() -> int:
    """``LEOFLOW_COMPILE_MEMORY_LIMIT`` (MiB; 0 for none) in bytes, default 2 GiB."""
    raw = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    try:
        mib = int(raw) if raw else DEFAULT_MEMORY_LIMIT_MIB
    except ValueError:
        raise CompileError(f"{MEMORY_LIMIT_ENV}={raw!r} is not a whole number of MiB "
                           "(0 for no limit)", kind="project") from None
    return max(0, mib) << 20


def _collect(process: subprocess.Popen[bytes], outputs: dict[Any, BoundedOutput],
             timeout: float) -> bool:
    """Read the child's output (bounded) until it exits; False when the timeout passed.

    It waits for the child to exit, not for its pipes to close: a daemon it started keeps
    them open forever, and is killed afterwards with the rest of the tree."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for stream in outputs:
            selector.register(stream, selectors.EVENT_READ)
        while process.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not selector.get_map():
                time.sleep(min(remaining, 0.05))
                continue
            for key, _ in selector.select(min(remaining, 0.2)):
                data = os.read(key.fd, _CHUNK)
                if data:
                    outputs[key.fileobj].feed(data)
                else:
                    selector.unregister(key.fileobj)
    return True


def _drain(process: subprocess.Popen[bytes], outputs: dict[Any, BoundedOutput]) -> None:
    """What is left in the pipes once the tree is dead (bounded in time), then close."""
    deadline = time.monotonic() + 2.0
    with selectors.DefaultSelector() as selector:
        for stream in outputs:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(0.1):
                data = os.read(key.fd, _CHUNK)
                if data:
                    outputs[key.fileobj].feed(data)
                else:
                    selector.unregister(key.fileobj)
    for stream in outputs:
        stream.close()


def _report(out_path: Path, returncode: int, stderr: BoundedOutput, dag_file: Path,
            limit: int) -> dict[str, Any]:
    lines = stderr.text().strip().splitlines()
    data = _read_report(out_path)
    if data is None:
        tail = lines[-5:]
        if any("MemoryError" in line for line in tail):
            raise _memory_error(dag_file, limit)
        detail = f": {tail[-1]}" if tail else ""
        raise CompileError(
            f"the process compiling the DAG file exited with code {returncode} "
            f"before reporting{detail}", kind="crash", file=str(dag_file),
            traceback=stderr.text()[-MAX_TRACEBACK:])
    if isinstance(data, int):
        raise CompileError(
            f"the DAG file's description is {data >> 20} MiB, over the "
            f"{MAX_REPORT_BYTES >> 20} MiB a compile may return (huge literals in task "
            "arguments or params? read them in the task instead)", kind="spec",
            file=str(dag_file))
    try:
        report: dict[str, Any] = json.loads(data.decode("utf-8"))
    except ValueError:
        raise CompileError("the process compiling the DAG file wrote an unreadable report",
                           kind="crash", file=str(dag_file)) from None
    error = report.get("error") if not report.get("ok") else None
    if error and str(error.get("message", "")).startswith("MemoryError"):
        raise _memory_error(dag_file, limit, line=error.get("line"),
                            traceback=error.get("traceback", ""))
    return report


def _read_report(out_path: Path) -> bytes | int | None:
    """The report's bytes; its size when over ``MAX_REPORT_BYTES``; None when there is none.

    A tenant's compile writes it in a folder that tenant owns: it is opened without
    following a link and must be a regular file (a link to the control plane's secrets, or a
    FIFO, reads as no report)."""
    try:
        fd = os.open(out_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > MAX_REPORT_BYTES:
            return info.st_size
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
        return len(data) if len(data) > MAX_REPORT_BYTES else data
    finally:
        os.close(fd)


def _memory_error(dag_file: Path, limit: int, *, line: int | None = None,
                  traceback: str = "") -> CompileError:
    bound = f"{limit >> 20} MiB" if limit else "the machine's memory"
    return CompileError(
        f"ran out of memory while compiling (the limit is {bound}: {MEMORY_LIMIT_ENV}, in "
        "MiB, 0 for none); does the DAG file load data at import time? Move that work into "
        "a task", kind="memory", file=str(dag_file), line=line, traceback=traceback)
