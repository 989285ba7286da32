"""The agent's side of the per-DAG-version zygote (``leoflow.sdk.zygote``).

Unless ``LEOFLOW_ZYGOTE=0`` is in its environment (the control plane passes it on), the agent
asks a zygote for the try's user process instead of starting ``python -m
leoflow.sdk.task_runner``: the DAG's interpreter has already imported the SDK and the DAG
module, and forks a child for the try. Everything else about the try stays the agent's:
its fencing identity, token, log stream, XCom and reports; only the user process's start
changes.

A zygote is keyed by what its children would otherwise start from: the interpreter, the
project folder, the DAG file and the contents of the project's Python files (a new DAG
version gets a new zygote), the environment the DAG module is imported under (the try's,
minus what differs per try), this OS user and the agents' parent (the fork server or the
control plane: a zygote ends with it). The first agent that needs a zygote starts it
(under a lock file, so concurrent tries start one), later ones connect to its socket. A
zygote that is missing or dead is replaced; a version whose module cannot be forked safely
(threads or sockets at import) is marked, and its tries start the normal way. Each such
fallback says why in the try's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from leoflow.agent.process import sdk_pythonpath
from leoflow.agent.try_tree import TREE_ENV, own_cgroup_procs

ENV_ZYGOTE = "LEOFLOW_ZYGOTE"  # "0": start every user process the normal way (default on)
OFF = ("0", "false", "no", "off")
ENV_IDLE = "LEOFLOW_ZYGOTE_IDLE"  # seconds a zygote with no work stays (default 60)
DEFAULT_IDLE = 60.0
START_TIMEOUT = 60.0  # the DAG module's import may be slow (a heavy library)
LOCK_TIMEOUT = 70.0
MAX_PROJECT_FILES = 2000
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
ZYGOTE_MODULE = "leoflow.sdk.zygote"
# what differs between two tries of one DAG version: not part of the zygote's environment.
# Connections and variables are the try's tenant's: a zygote never holds them (a module that
# reads them at import is not forked, leoflow.sdk.zygote), and editing one keeps the zygote
PER_TRY_PREFIXES = ("AIRFLOW_CTX_", "AIRFLOW_CONN_", "AIRFLOW_VAR_")
PER_TRY_NAMES = (TREE_ENV, "LEOFLOW_CHANNEL_IN", "LEOFLOW_CHANNEL_OUT", "LEOFLOW_AGENT_PID")


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether user processes are forked from zygotes: yes unless ``LEOFLOW_ZYGOTE`` says
    0 (false, no, off)."""
    env = os.environ if environ is None else environ
    return env.get(ENV_ZYGOTE, "").strip().lower() not in OFF


class ZygoteUnavailable(Exception):
    """Why this try's user process starts the normal way (said in the try's log)."""


@dataclass(frozen=True)
class ZygoteKey:
    """Where a DAG version's zygote listens, and how to start it."""

    python: str
    project_dir: str
    dag_file: str
    env: dict[str, str]
    socket_path: str
    airflow_dag_id: str = ""  # runtime "airflow": the zygote parses this DAG with Airflow

    @property
    def unsafe_path(self) -> str:
        return self.socket_path + ".unsafe"

    @property
    def lock_path(self) -> str:
        return self.socket_path + ".lock"

    @property
    def log_path(self) -> str:
        return self.socket_path + ".log"


def per_try_home(env: Mapping[str, str]) -> bool:
    """Whether HOME (and TMPDIR) are the try's own folders, removed when it ends: a
    tenant's task user gets them per try (engine/executors/isolation.py)."""
    home = env.get("HOME")
    if not home:
        return False
    try:
        return os.path.realpath(home) != os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        return True


def zygote_env(try_env: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The try's environment without what differs per try: the zygote's. A per-try HOME
    and TMPDIR are replaced by the zygote's own folder (the try's are removed with it)."""
    env = {k: v for k, v in try_env.items()
           if not k.startswith(PER_TRY_PREFIXES) and k not in PER_TRY_NAMES}
    if per_try_home(try_env):
        env["HOME"] = env["TMPDIR"] = str(folder)
    return env


def _code_fingerprint(project_dir: str, dag_file: str) -> str:
    """The DAG file's bytes and every Python file's size and mtime in the project: what
    the DAG module's import reads, so that a changed file means another zygote."""
    digest = hashlib.blake2b()  # the standard library's own: no OpenSSL set-up per agent
    digest.update(Path(project_dir, dag_file).read_bytes())
    seen = 0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            seen += 1
            if seen > MAX_PROJECT_FILES:
                return digest.hexdigest()
            with contextlib.suppress(OSError):
                stat = os.stat(os.path.join(root, name))
                digest.update(f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def zygote_dir(try_env: Mapping[str, str]) -> Path:
    """The user's own socket folder: under TMPDIR, or the system's temporary folder when
    TMPDIR is a per-try folder (it goes with its try; the zygote serves many)."""
    base = ("/tmp" if per_try_home(try_env) and os.path.isdir("/tmp")
            else tempfile.gettempdir())
    path = Path(base) / f"leoflow-zygotes-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or path.stat().st_uid != os.getuid():
        raise ZygoteUnavailable(f"{path} is not this user's own folder")
    return path


def key_for(python: str, project_dir: str, dag_file: str, try_env: Mapping[str, str],
            airflow_dag_id: str = "") -> ZygoteKey:
    project_dir = os.path.abspath(project_dir)
    folder = zygote_dir(try_env)
    env = zygote_env(try_env, folder)
    identity = json.dumps({
        "python": python, "project_dir": project_dir, "dag_file": dag_file,
        "airflow_dag_id": airflow_dag_id,
        "code": _code_fingerprint(project_dir, dag_file), "env": env,
        "sdk": sdk_pythonpath(), "uid": os.getuid(), "anchor": os.getppid(),
        "cgroup": bool(own_cgroup_procs())}, sort_keys=True)
    name = hashlib.blake2b(identity.encode()).hexdigest()[:24]
    path = str(folder / f"{name}.sock")
    if len(path.encode()) > MAX_SOCKET_PATH:
        raise ZygoteUnavailable(f"the temporary folder's path is too long for a socket: {path}")
    return ZygoteKey(python, project_dir, dag_file, env, path, airflow_dag_id)


def idle_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(ENV_IDLE, DEFAULT_IDLE)))
    except ValueError:
        return DEFAULT_IDLE


def _connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _start(key: ZygoteKey) -> None:
    """Start the zygote and wait for its first line (blocking; the lock is held)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(key.socket_path)  # a dead zygote's
    procs = own_cgroup_procs()
    home = str(Path(procs).parent.parent / "cgroup.procs") if procs else ""
    argv = [key.python, "-m", ZYGOTE_MODULE, key.socket_path, key.project_dir, key.dag_file,
            str(idle_seconds()), str(os.getppid())] + ([home] if home else [])
    if key.airflow_dag_id:
        argv += ["--airflow", key.airflow_dag_id]
    log = os.open(key.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        process = subprocess.Popen(argv, cwd=key.project_dir, env=key.env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=log, start_new_session=True, close_fds=True)
    except OSError as exc:
        raise ZygoteUnavailable(f"cannot start the DAG's interpreter {key.python}: "
                                f"{exc}") from None
    finally:
        os.close(log)
    stdout = process.stdout
    if stdout is None:  # asked for a pipe above
        raise ZygoteUnavailable("the zygote was started without its pipe")
    os.set_blocking(stdout.fileno(), False)
    deadline = time.monotonic() + START_TIMEOUT
    data = b""
    while b"\n" not in data and time.monotonic() < deadline:
        chunk = b""
        with contextlib.suppress(BlockingIOError):
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                break
        data += chunk
        if not chunk:
            time.sleep(0.002)
    stdout.close()
    line = data.decode(errors="replace").strip()
    if line != "ready":
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        if line.startswith("unsafe "):
            raise ZygoteUnavailable(f"not forkable: {line[len('unsafe '):]}")
        raise ZygoteUnavailable(line or f"the zygote did not start (see {key.log_path})")


def connect_or_start(key: ZygoteKey) -> socket.socket:
    """A connection to the version's zygote, started if missing (blocking)."""
    if os.path.exists(key.unsafe_path):
        reason = Path(key.unsafe_path).read_text("utf-8", errors="replace").strip()
        raise ZygoteUnavailable(f"not forkable: {reason}")
    sock = _connect(key.socket_path)
    if sock is not None:
        return sock
    lock = os.open(key.lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ZygoteUnavailable("another try is still starting the zygote") from None
                time.sleep(0.005)
        sock = _connect(key.socket_path)  # started meanwhile by the lock's last holder
        if sock is None:
            if os.path.exists(key.unsafe_path):
                reason = Path(key.unsafe_path).read_text("utf-8", errors="replace").strip()
                raise ZygoteUnavailable(f"not forkable: {reason}")
            _start(key)
            sock = _connect(key.socket_path)
        if sock is None:
            raise ZygoteUnavailable("the zygote started but does not answer")
        return sock
    finally:
        os.close(lock)  # releases the lock


def _connect_now(path: str) -> socket.socket | None:
    """A connection to a zygote that accepts at once (None: absent, or its backlog full)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


async def request_child(sock: socket.socket, env: Mapping[str, str], fds: list[int]) -> int:
    """Ask for the try's child (on a fresh connection, whose buffer takes the request at
    once); its pid."""
    procs = own_cgroup_procs()
    message = json.dumps({"env": dict(env), "cgroup": procs or ""}).encode() + b"\n"
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    data = b""
    try:
        async with asyncio.timeout(10.0):
            sent = 0
            while not sent:
                try:
                    sent = socket.send_fds(sock, [message], fds)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            if sent < len(message):
                await loop.sock_sendall(sock, message[sent:])
            while not data.endswith(b"\n"):
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    break
                data += chunk
    except (OSError, TimeoutError) as exc:
        raise ZygoteUnavailable(f"the zygote did not answer: {exc or 'timed out'}") from None
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {}
    if "pid" not in answer:
        raise ZygoteUnavailable(str(answer.get("fallback") or "the zygote closed the "
                                    "connection (killed?)"))
    return int(answer["pid"])


class ZygoteChild:
    """A try's user process forked by a zygote, as ``supervise`` and ``kill_group`` see an
    ``asyncio.subprocess.Process``: pid, returncode, stdout/stderr readers, ``wait()``.

    Its exit code arrives on the zygote connection; a connection that ends without one
    means the zygote died, and the child with it (PR_SET_PDEATHSIG): reported as SIGKILL.
    """

    def __init__(self, pid: int, conn: socket.socket, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout: asyncio.StreamReader | None = stdout
        self.stderr: asyncio.StreamReader | None = stderr
        self._conn = conn
        self._done: asyncio.Future[int] | None = None

    async def wait(self) -> int:
        if self._done is None:
            self._done = asyncio.ensure_future(self._read_exit())
        return await asyncio.shield(self._done)

    async def _read_exit(self) -> int:
        reader, writer = await asyncio.open_unix_connection(sock=self._conn)
        code = -9
        try:
            line = await reader.readline()
            with contextlib.suppress(ValueError):
                code = int(json.loads(line).get("exit", -9)) if line else -9
        finally:
            writer.close()
        if code == -9 and not line:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, 9)  # PR_SET_PDEATHSIG did it already; to be sure
        self.returncode = code
        return code


async def pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                 os.fdopen(fd, "rb", buffering=0))
    return reader


async def spawn(python: str, project_dir: str, dag_file: str, env: Mapping[str, str],
                channel_fds: tuple[int, int], *, airflow_dag_id: str = "") -> ZygoteChild:
    """The try's user process, forked by its DAG version's zygote (started if needed).

    ``channel_fds`` are the runner's ends of the channel (read, write); the caller closes
    them afterwards, as after a normal start. ``airflow_dag_id``: the task runs with the
    real Airflow's runner (runtime "airflow"), so the zygote preloads Airflow and parses
    that DAG with it. Raises ``ZygoteUnavailable`` with the reason when the try must start
    the normal way.
    """
    # No thread on the usual path (a running zygote): the key is a few small reads, the
    # connection a non-blocking connect and the request an asyncio read; a thread start
    # (and the executor's shutdown at the agent's end) cost more than the work.
    key = key_for(python, project_dir, dag_file, env, airflow_dag_id)
    sock = None if os.path.exists(key.unsafe_path) else _connect_now(key.socket_path)
    if sock is None:  # missing, busy or not forkable: the blocking way (may start it)
        sock = await asyncio.to_thread(connect_or_start, key)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = await request_child(sock, env, [channel_fds[0], channel_fds[1], out_w, err_w])
    except BaseException:
        sock.close()
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    sock.setblocking(False)
    return ZygoteChild(pid, sock, await pipe_reader(out_r), await pipe_reader(err_r))
