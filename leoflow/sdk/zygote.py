"""A per-DAG-version zygote: the DAG's interpreter, SDK and DAG module imported once, one
fork per task try (``python -m leoflow.sdk.zygote SOCKET PROJECT_DIR DAG_FILE IDLE ANCHOR
[CGROUP]``).

A task's user process normally starts a fresh interpreter, imports the SDK and executes the
DAG file (~50 ms per try for a small DAG). The agent (``leoflow.agent.zygote_client``)
starts this process instead, once per DAG version, in the same environment, user and
working directory the user process would have, and then asks it for a child per try. The
child is what the user process would be, minus the start-up: it has its own session and
process group, fresh random seeds, only its own descriptors (the channel, stdout and
stderr, passed by the agent with SCM_RIGHTS), the try's environment map and no other, joins
the try's cgroup when the agent is in one, and is killed (SIGKILL to its group) when its
agent's connection drops, which stands for PR_SET_PDEATHSIG against the agent (the child's
parent is the zygote, against which it arms PR_SET_PDEATHSIG itself).

Safety. A process with threads or open sockets cannot be forked safely (a lock held by
another thread stays held in the child; a connection would be shared by every try). After
the DAG module is imported the zygote checks ``threading.active_count()`` and its open
sockets; if either shows, it writes the reason to ``SOCKET.unsafe`` and exits: the agent
starts that version's tries the normal way and says so in each try's log.

Life. The zygote ends when it has had no request and no running child for IDLE seconds, or
when the process ANCHOR (the agents' parent: the fork server or the control plane) is gone:
then it takes no new try and ends as soon as the tries it runs have ended (their agents may
be adopted by a restarting control plane), so it outlives its control plane only as long as
those tries' agents do. It answers only connections of its own user
(SO_PEERCRED). Protocol, one JSON line each way per connection: the agent sends ``{"env":
{...}, "cgroup": path or ""}`` with four descriptors (channel in, channel out, stdout,
stderr); the zygote answers ``{"pid": p}`` (or ``{"fallback": reason}``) and later
``{"exit": code}`` (code < 0: killed by signal -code). Standard library only.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import random
import select
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Any

READY = "ready"
UNSAFE_SUFFIX = ".unsafe"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
CHANNEL_IN_FD, CHANNEL_OUT_FD = 3, 4  # where the child finds its channel
MAX_REQUEST = 1024 * 1024
PLACE_TIMEOUT = 10.0  # seconds for a forked child to be set up before its task runs
AIRFLOW_FLAG = "--airflow"  # ``--airflow DAG_ID``: the DAG's tasks run with runtime "airflow"


def unsafe_reason() -> str:
    """Why this process must not be forked (threads, sockets), or "" when it may."""
    threads = threading.active_count()
    if threads > 1:
        names = ", ".join(t.name for t in threading.enumerate()
                          if t is not threading.main_thread())
        return f"the DAG module started {threads - 1} thread(s) at import ({names})"
    sockets = 0
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                    sockets += 1
    if sockets:
        return f"the DAG module opened {sockets} socket(s) at import"
    return ""


class _WatchedEnviron(os._Environ):
    """``os.environ`` while the DAG module is imported: notes the connections and variables
    it looks up (Airflow's EnvironmentVariablesBackend and Leoflow's ``Variable.get`` read
    ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` through it)."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str) and key.upper().startswith(SECRET_PREFIXES):
            SECRETS_READ.add(key)
        return super().__getitem__(key)


SECRET_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_")  # a try's own; not in the zygote's env
SECRETS_READ: set[str] = set()


@contextlib.contextmanager
def watching_secrets() -> Any:
    """Note the ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` names read while the block runs."""
    original = os.environ.__class__
    os.environ.__class__ = _WatchedEnviron
    try:
        yield SECRETS_READ
    finally:
        os.environ.__class__ = original


def secrets_reason(names: set[str]) -> str:
    """Why a module that read connections or variables at import is not forked: they are
    each try's (its tenant's), which the zygote does not hold, so what the module built
    from them would be wrong for every try."""
    if not names:
        return ""
    shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
    return (f"the DAG module reads connections or variables at import ({shown}); they are "
            "each try's own")


def _prctl_pdeathsig() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _reseed() -> None:
    """Fresh seeds: a child must not draw the numbers its siblings draw."""
    random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        with contextlib.suppress(Exception):
            numpy_random.seed()


def _become(request: dict[str, Any], fds: list[int], zygote_pid: int) -> None:
    """The child's own session, signals, death signal, the try's cgroup and descriptors."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets it at start
    _prctl_pdeathsig()
    if os.getppid() != zygote_pid:
        os._exit(137)
    cgroup = str(request.get("cgroup") or "")
    if cgroup:  # the try's cgroup (its whole tree ends with it), before anything runs
        with open(cgroup, "w") as handle:
            handle.write("0")
    # above every number they are moved to, so no dup2 below overwrites another
    chan_in, chan_out, out, err = (fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.dup2(chan_in, CHANNEL_IN_FD)
    os.dup2(chan_out, CHANNEL_OUT_FD)


def child(request: dict[str, Any], fds: list[int], zygote_pid: int, placed: int) -> None:
    """In the forked child: become the try's user process and run the task; never returns.

    ``placed`` is the write end of a pipe to the zygote: "ok" once the child is in the
    try's cgroup with its descriptors in place, or why not (the zygote then tells the agent
    to start the try the normal way: nothing of the task has run)."""
    code = 70
    try:
        placed = fcntl.fcntl(placed, fcntl.F_DUPFD, 64)  # out of the way of the dup2s below
        _become(request, fds, zygote_pid)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.write(placed, f"{type(exc).__name__}: {exc}"[:400].encode())
        os._exit(code)
    try:
        os.write(placed, b"ok")
        os.close(placed)
        keep = CHANNEL_OUT_FD + 1
        os.closerange(keep, max(keep, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf")
                                else 65536))
        env = {str(k): str(v) for k, v in dict(request.get("env") or {}).items()}
        env["LEOFLOW_CHANNEL_IN"], env["LEOFLOW_CHANNEL_OUT"] = (str(CHANNEL_IN_FD),
                                                                str(CHANNEL_OUT_FD))
        env.pop("LEOFLOW_AGENT_PID", None)  # the zygote is the parent; armed above
        os.environ.clear()
        os.environ.update(env)
        tempfile.tempdir = None  # found again from the try's TMPDIR, not the zygote's
        _reseed()
        # the zygote's exit handlers are its own (its AIRFLOW_HOME's removal): a child runs
        # those registered during its try, at its end, as a fresh process would
        atexit._clear()
        from leoflow.sdk import task_runner

        code = task_runner.main()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # what an interpreter's exit does: wait for the try's non-daemon threads, then run
        # its exit handlers
        with contextlib.suppress(Exception):
            threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        with contextlib.suppress(Exception):
            traceback.print_exc()
        code = 70
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


class Zygote:
    """The serving loop: accept, fork, report exits, end when idle or orphaned."""

    def __init__(self, path: str, idle: float, anchor: int) -> None:
        self.path = path
        self.idle = idle
        self.anchor = anchor
        self.children: dict[int, socket.socket] = {}  # child pid -> its agent's connection
        self.waiting: dict[socket.socket, int] = {}
        self.last = time.monotonic()

    def serve(self, listener: socket.socket, stop_listening: Any = None) -> None:
        """Serve until idle. When the anchor is gone, stop taking tries (``stop_listening``
        removes the socket) but stay until the running children end: their agents may
        live on (a control plane restarting with ``keep_agents`` adopts them), and the
        children would die with this process (PR_SET_PDEATHSIG)."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        anchor_fd = -1
        with contextlib.suppress(OSError, AttributeError):
            anchor_fd = os.pidfd_open(self.anchor)
        watched: list[Any] = [listener, wake_r] + ([anchor_fd] if anchor_fd >= 0 else [])
        orphaned = False
        try:
            while True:
                if not self.children and (orphaned
                                          or time.monotonic() - self.last > self.idle):
                    return
                gone = _readable(anchor_fd) if anchor_fd >= 0 else not _alive(self.anchor)
                if gone and not orphaned:
                    orphaned = True  # the control plane's side is gone: no new tries
                    watched = [wake_r]
                    if stop_listening is not None:
                        stop_listening()
                    continue
                try:
                    ready, _, _ = select.select(watched + list(self.waiting), [], [], 1.0)
                except InterruptedError:
                    continue
                if wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    self.reap()
                for conn in [c for c in ready if isinstance(c, socket.socket)
                             and c in self.waiting]:
                    self.agent_gone(conn)
                if listener in ready and not orphaned:
                    self.accept(listener)
        finally:
            for pid in list(self.children):  # only on an unexpected error: else none left
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)

    def accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        self.last = time.monotonic()
        conn.settimeout(5.0)
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            uid = int.from_bytes(creds[4:8], sys.byteorder)
            if uid != os.getuid():
                conn.close()
                return
            data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 4)
            while not data.endswith(b"\n"):
                more = conn.recv(MAX_REQUEST)
                if not more:
                    break
                data += more
            request = json.loads(data)
        except (OSError, ValueError):
            conn.close()
            return
        if len(fds) != 4:
            for fd in fds:
                os.close(fd)
            _send(conn, {"fallback": f"expected 4 descriptors, got {len(fds)}"})
            conn.close()
            return
        cgroup = str(request.get("cgroup") or "")
        if cgroup and not os.access(cgroup, os.W_OK):
            for fd in fds:
                os.close(fd)
            _send(conn, {"fallback": "the zygote cannot place a child in the try's cgroup"})
            conn.close()
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        zygote_pid = os.getpid()
        placed_r, placed_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            # every inherited descriptor (listener, other tries' connections) is closed
            # in the child by child()'s closerange
            os.close(placed_r)
            child(request, fds, zygote_pid, placed_w)
        os.close(placed_w)
        for fd in fds:
            os.close(fd)
        problem = _placed(placed_r)
        if problem:  # nothing of the task ran: the agent starts the try the normal way
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            _send(conn, {"fallback": f"the forked child could not be set up ({problem})"})
            conn.close()
            return
        self.children[pid] = conn
        self.waiting[conn] = pid
        if not _send(conn, {"pid": pid}):
            self.agent_gone(conn)

    def agent_gone(self, conn: socket.socket) -> None:
        """The agent's connection closed (or spoke out of turn): end its child's group."""
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            if conn.recv(1):
                return  # nothing is expected; ignore chatter
        pid = self.waiting.pop(conn, 0)
        if pid:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.last = time.monotonic()
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            self.waiting.pop(conn, None)
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.settimeout(2.0)
                _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
            conn.close()


def _placed(fd: int) -> str:
    """Wait for the child's word on its set-up: "" when placed, else why not."""
    data = b""
    deadline = time.monotonic() + PLACE_TIMEOUT
    try:
        while time.monotonic() < deadline:
            try:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            except InterruptedError:
                continue
            if not ready:
                break
            chunk = os.read(fd, 512)
            if not chunk:
                break
            data += chunk
        else:
            data = data or b"timed out"
    finally:
        os.close(fd)
    if data == b"ok":
        return ""
    return data.decode(errors="replace") or "it ended before it was set up"


def _send(conn: socket.socket, message: dict[str, Any]) -> bool:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
        return True
    except OSError:
        return False


def _readable(fd: int) -> bool:
    """A pidfd is readable once its process has exited."""
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load(project_dir: str, dag_file: str, airflow_dag_id: str) -> None:
    """Import the DAG module as the try's runner would: Leoflow's (``load_dag_file``) or,
    for runtime ``airflow``, Airflow's runner's start-up and its parse of the DAG."""
    from leoflow.sdk import task_runner

    full = os.path.join(project_dir, dag_file)
    if not airflow_dag_id:
        from leoflow.sdk.compile_child import load_dag_file

        load_dag_file(full, project_dir)
        task_runner.PRELOADED.add(full)
        return
    from leoflow.sdk.real_airflow_runtime import runner, startup

    startup.preload(project_dir, dag_file, airflow_dag_id,
                    prepare=runner._prepare_environment)


def main(argv: list[str]) -> int:
    airflow_dag_id = ""
    if AIRFLOW_FLAG in argv:  # runtime "airflow": Airflow's runner for this DAG id
        at = argv.index(AIRFLOW_FLAG)
        airflow_dag_id = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    path, project_dir, dag_file, idle, anchor = argv[:5]
    project_dir = os.path.abspath(project_dir)
    home_cgroup = argv[5] if len(argv) > 5 else ""
    # the agent reads one line from the pipe on stdout; what the import prints or logs (a
    # DAG file's prints, Airflow's "Filling up the DagBag") goes to the zygote's log (stderr)
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def tell(line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            out.write(line + "\n")
            out.flush()

    if home_cgroup:  # out of the first try's cgroup, which ends with that try
        try:
            with open(home_cgroup, "w") as handle:
                handle.write("0")
        except OSError as exc:  # remembered: the next tries do not try again
            reason = f"it cannot leave the first try's cgroup ({exc.strerror})"
            with contextlib.suppress(OSError), open(path + UNSAFE_SUFFIX, "w",
                                                    encoding="utf-8") as handle:
                handle.write(reason)
            tell(f"unsafe {reason}")
            return 0
    try:
        with watching_secrets() as read:
            _load(project_dir, dag_file, airflow_dag_id)
    except BaseException as exc:  # the user's module: the normal start will report it
        tell(f"failed importing {dag_file}: {type(exc).__name__}: {exc}"[:500])
        return 0
    reason = unsafe_reason() or secrets_reason(read)
    if reason:
        with contextlib.suppress(OSError), open(path + UNSAFE_SUFFIX, "w",
                                                encoding="utf-8") as handle:
            handle.write(reason)
        tell(f"unsafe {reason}")
        return 0
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    inode = os.stat(path).st_ino
    tell(READY)
    with contextlib.suppress(OSError):
        out.close()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)

    def stop_listening() -> None:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:  # not a successor's socket
                os.unlink(path)
                os.unlink(path + ".lock")  # a successor makes its own

    try:
        Zygote(path, float(idle), int(anchor)).serve(listener, stop_listening)
    finally:
        stop_listening()
        with contextlib.suppress(OSError):
            if os.path.getsize(path + ".log") == 0:
                os.unlink(path + ".log")
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
