"""Which OS user runs a try's code under the subprocess executor (docs/security.md, "What
isolates tenants").

A task's code (its callable, its bash command, and the agent that renders its templates)
must not reach the control plane's secrets (the JWT secret, the Fernet key, the database
file in ``LEOFLOW_HOME``) nor another tenant's files. Processes of one OS user can read
each other's files and memory, so tenants are told apart by OS users:

* **root control plane**: the tries of tenant ``T`` run as ``leoflow-t-<T>-<hash>``, a
  system user created on demand (``useradd``) with a group of its own, and the shared group
  ``leoflow-tasks``. The control plane's files stay its own (0600/0700); POSIX ACL entries
  (``posix_acl.py``) open exactly what the try needs: passage (``--x``, no listing) through
  ``LEOFLOW_HOME``, ``venvs/`` and ``code/`` for ``leoflow-tasks``, and read access for
  that one user to its DAG's environment, its DAG's pinned code (``code/<dag_id>``) and its
  tenant's workspace folder (``tenants/<T>/``). Every other entry of the home is closed to
  other users (``o-rwx``) before it is opened to a task user. Each try gets a folder of its
  own (``HOME`` and ``TMPDIR``), owned by that user, removed when the try ends.
  The ``default`` tenant is the operator's (Lite's only tenant, the bootstrap admin's):
  its tries run as the control plane's user, as before.
* **non-root control plane**: every try runs as the control plane's user, so its code can
  read everything the control plane can. That is safe for one tenant only: the executor
  serves the first tenant whose try it launches and refuses the tries of any other with a
  message saying why, unless ``LEOFLOW_ALLOW_SHARED_UID=1`` (unsafe: tenants then read each
  other's data and the control plane's secrets) or tasks run in pods (the Kubernetes
  executor, which this module is not part of).

Which files a task user can reach is checked for real before its first try (``test -x`` /
``test -r`` run as that user): a Python or a Leoflow installed in a private home
(``/root/...``) gives one clear error naming the closed folder instead of a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from leoflow.engine.executors import posix_acl as acl
from leoflow.engine.executors.base import TaskLaunch
from leoflow.errors import LeoflowError

log = logging.getLogger("leoflow.executor.isolation")

DEFAULT_TENANT = "default"
TASKS_GROUP = "leoflow-tasks"
ALLOW_SHARED_ENV = "LEOFLOW_ALLOW_SHARED_UID"
ACCOUNT_PREFIX = "leoflow-t-"
TENANTS_DIR = "tenants"  # leoflow.engine.workspace_tenants.TENANTS_DIR
OPEN_TREE_LIMIT = 20_000  # entries of a tenant's workspace folder opened per try, at most


class IsolationRefused(LeoflowError):
    """A try that must not run: its code could reach another tenant or the control plane."""


@dataclass(frozen=True)
class TryPaths:
    """What a try's code needs to reach: found by the composition root from the store."""

    tenant: str
    dag_id: str
    python: str | None = None  # the DAG's interpreter (in its environment under the home)
    project_dir: Path | None = None
    other_pythons: tuple[str, ...] = ()  # a task's own environment (@task.virtualenv)


@dataclass(frozen=True)
class TryUser:
    """The OS user a try runs as, and the folder it owns for the try."""

    tenant: str
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        """What the agent's environment says instead of the control plane's user."""
        home = str(self.workdir)
        return {"HOME": home, "TMPDIR": home, "USER": self.name, "LOGNAME": self.name}

    @property
    def drop(self) -> dict[str, object]:
        """What ``leoflow.agent.privileges.drop`` needs (sent to the fork server)."""
        return {"uid": self.uid, "gid": self.gid, "groups": list(self.groups),
                "cwd": str(self.workdir)}


def account_name(tenant: str) -> str:
    """``leoflow-t-<tenant>-<hash>``: a valid user name (32 characters at most) that no two
    tenants share ("A" and "a" are two tenants)."""
    readable = re.sub(r"[^a-z0-9_-]", "-", tenant.lower())[:12].strip("-") or "x"
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:8]
    return f"{ACCOUNT_PREFIX}{readable}-{digest}"


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def shared_uid_allowed(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ALLOW_SHARED_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


class TaskUsers:
    """Chooses the OS user of each try and prepares what that user may reach.

    ``paths_of`` (from the composition root) says the try's tenant and paths; ``tenant_of``,
    its tenant alone (cheaper: most tries need nothing more). ``is_root``
    and ``allow_shared`` default to the process's euid and ``LEOFLOW_ALLOW_SHARED_UID``;
    tests set them.
    """

    def __init__(self, *, home: Path, code_dir: Path, code_roots: Sequence[Path] = (),
                 paths_of: Callable[[TaskLaunch], Awaitable[TryPaths]],
                 tenant_of: Callable[[TaskLaunch], Awaitable[str]] | None = None,
                 is_root: bool | None = None, allow_shared: bool | None = None,
                 agent_python: str | None = None) -> None:
        self.home = Path(home)
        self.code_dir = Path(code_dir)
        self.code_roots = tuple(Path(r) for r in code_roots)
        self.paths_of = paths_of
        self.tenant_of = tenant_of
        self.is_root = running_as_root() if is_root is None else is_root
        self.allow_shared = shared_uid_allowed() if allow_shared is None else allow_shared
        self.agent_python = agent_python or sys.executable
        self.shared_tenant: str | None = None  # non-root: the one tenant served
        self._accounts: dict[str, tuple[str, int, int, int]] = {}
        self._reachable: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """``per-tenant-uid``, ``shared-uid`` (allowed) or ``one-tenant`` (for the log)."""
        if self.allow_shared:
            return "shared-uid"
        return "per-tenant-uid" if self.is_root else "one-tenant"

    async def for_try(self, launch: TaskLaunch) -> TryUser | None:
        """The user of this try (None: the control plane's own), or ``IsolationRefused``."""
        if self.allow_shared:
            return None
        tenant = (await self.tenant_of(launch) if self.tenant_of is not None
                  else (await self.paths_of(launch)).tenant)
        if not self.is_root:
            self._one_tenant(tenant, launch)
            return None
        if tenant == DEFAULT_TENANT:
            return None
        return await asyncio.to_thread(self._prepare, f"{launch.ti_id}.{launch.try_number}",
                                       await self.paths_of(launch))

    def for_compile(self, tenant: str, project_dir: Path, python: str, *,
                    workspace: Path | None = None, what: str = "") -> TryUser | None:
        """The user that compiles ``tenant``'s project (None: the control plane's own), or
        ``IsolationRefused``. Compiling runs the project's ``dag.py``: the same code, with the
        same reach, as its tasks (docs/security.md, "Compiling a tenant's project"). Blocking:
        called in the compile's thread. ``workspace``: the workspace holding ``tenants/<T>/``
        (besides the code roots); ``what``: the file compiled, for the refusal."""
        if self.allow_shared or tenant == DEFAULT_TENANT:
            return None
        if not self.is_root:
            raise IsolationRefused(compile_refused_message(tenant, what or str(project_dir)))
        paths = TryPaths(tenant=tenant, dag_id="", python=python, project_dir=project_dir)
        roots = (Path(workspace),) if workspace is not None else ()
        return self._prepare("compile", paths, roots=roots)

    def release(self, user: TryUser | None) -> None:
        """The try ended (its processes are gone): remove its folder."""
        if user is not None:
            shutil.rmtree(user.workdir, ignore_errors=True)

    # -- non-root: one tenant ------------------------------------------------------------------
    def _one_tenant(self, tenant: str, launch: TaskLaunch) -> None:
        if self.shared_tenant is None:
            self.shared_tenant = tenant
            return
        if tenant == self.shared_tenant:
            return
        raise IsolationRefused(
            f"refused to run {launch.dag_id}.{launch.task_id} of tenant {tenant!r}: this "
            f"control plane runs as uid {os.getuid()}, not root, so every task runs as that "
            f"user and could read the control plane's secrets (JWT secret, Fernet key, "
            f"database) and the files of tenant {self.shared_tenant!r}, whose tasks it "
            f"already runs. Run it as root (each tenant's tasks then run as a user of their "
            f"own), use the Kubernetes executor (pods), or set {ALLOW_SHARED_ENV}=1 to accept "
            f"that tenants can read each other's data (unsafe)")

    # -- root: a user per tenant ---------------------------------------------------------------
    def _prepare(self, label: str, paths: TryPaths, roots: Sequence[Path] = ()) -> TryUser:
        with self._lock:
            name, uid, gid, tasks_gid = self._account(paths.tenant)
            self._open_home(tasks_gid, roots)
            for python in (paths.python, *paths.other_pythons):
                if python:
                    self._open_environment(Path(python), uid)
            if paths.dag_id:
                self._open_code(paths.dag_id, uid)
            if paths.project_dir is not None:
                self._open_project(paths.project_dir, paths.tenant, uid, tasks_gid, roots)
            user = TryUser(paths.tenant, name, uid, gid, (gid, tasks_gid),
                           self._workdir(label, uid, gid))
        try:
            self._check_reachable(user, paths)
        except BaseException:
            self.release(user)
            raise
        return user

    def _account(self, tenant: str) -> tuple[str, int, int, int]:
        found = self._accounts.get(tenant)
        if found is not None:
            return found
        import grp
        import pwd

        name = account_name(tenant)
        try:
            tasks_gid = grp.getgrnam(TASKS_GROUP).gr_gid
        except KeyError:
            _run_admin(["groupadd", "--system", TASKS_GROUP], f"the group {TASKS_GROUP}")
            tasks_gid = grp.getgrnam(TASKS_GROUP).gr_gid
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            shell = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
                          if os.path.exists(s)), "/bin/false")
            _run_admin(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", shell,
                        "--comment", f"Leoflow tasks of tenant {tenant}"[:200], name],
                       f"the user {name} for the tasks of tenant {tenant!r}")
            entry = pwd.getpwnam(name)
        if entry.pw_uid == 0 or entry.pw_gid == 0 or entry.pw_uid == os.getuid():
            raise IsolationRefused(f"the user {name} (tenant {tenant!r}) has uid "
                                   f"{entry.pw_uid} / gid {entry.pw_gid}: a task user must be "
                                   "unprivileged and not the control plane's")
        account = self._accounts[tenant] = (name, entry.pw_uid, entry.pw_gid, tasks_gid)
        log.info("tenant %r: tasks run as %s (uid %d)", tenant, name, entry.pw_uid)
        return account

    def _open_home(self, tasks_gid: int, roots: Sequence[Path] = ()) -> None:
        """Passage through the home for task users; everything in it closed to them first."""
        for folder in (self.home, self.home / "venvs", self.code_dir):
            if folder != self.home:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o700)
            _close_children(folder)
            _grant(folder, acl.EXECUTE, gid=tasks_gid)
        for root in (*roots, *self.code_roots):
            tenants = root / TENANTS_DIR
            if tenants.is_dir() and not tenants.is_symlink():
                _close_children(tenants)

    def _open_environment(self, python: Path, uid: int) -> None:
        """The environment holding ``python``, when it is one of the home's."""
        venvs = self.home / "venvs"
        if not python.is_relative_to(venvs):
            return
        relative = python.relative_to(venvs)
        if len(relative.parts) < 2:
            return
        _grant(venvs / relative.parts[0], acl.READ | acl.EXECUTE, uid=uid)

    def _open_code(self, dag_id: str, uid: int) -> None:
        """``code/<dag_id>``: the DAG's pinned files (the agent service writes them there)."""
        folder = self.code_dir / dag_id
        if folder.parent != self.code_dir:
            return
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        _grant(folder, acl.READ | acl.EXECUTE, uid=uid)

    def _open_project(self, project: Path, tenant: str, uid: int, tasks_gid: int,
                      roots: Sequence[Path] = ()) -> None:
        """A project in the tenant's own workspace folder: the whole folder, readable."""
        for root in (*roots, *self.code_roots):
            own = root / TENANTS_DIR / tenant
            if project == own or project.is_relative_to(own):
                _grant(root, acl.EXECUTE, gid=tasks_gid)
                _grant(root / TENANTS_DIR, acl.EXECUTE, gid=tasks_gid)
                _open_tree(own, uid)
                return

    def _workdir(self, label: str, uid: int, gid: int) -> Path:
        base = Path(tempfile.gettempdir()) / f"leoflow-tries-{os.getuid()}"
        with contextlib.suppress(FileExistsError):
            os.mkdir(base, 0o711)
        info = os.lstat(base)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise IsolationRefused(f"{base} is not a folder of the control plane's user "
                                   "(planted by someone else?); remove it")
        os.chmod(base, 0o711)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
        workdir = Path(tempfile.mkdtemp(prefix=f"{safe}.", dir=base))
        os.chown(workdir, uid, gid)
        return workdir

    def _check_reachable(self, user: TryUser, paths: TryPaths) -> None:
        """Run ``test`` as the task user on what its agent and its code need."""
        agent = Path(os.path.realpath(self.agent_python))
        needed: list[tuple[str, Path]] = [("x", agent),
                                          ("r", Path(os.__file__).resolve()),
                                          ("r", Path(acl.__file__).resolve())]
        for python in (paths.python, *paths.other_pythons):
            if python:
                needed += [("x", Path(python)), ("x", Path(os.path.realpath(python)))]
        if paths.project_dir is not None:
            needed.append(("x", paths.project_dir))
        checks: list[str] = []
        for mode, path in needed:
            if (user.uid, f"{mode}:{path}") in self._reachable:
                continue
            for ancestor in reversed(path.parents):
                checks.append(f"x:{ancestor}")
            checks.append(f"{mode}:{path}")
        checks = list(dict.fromkeys(checks))
        if not checks:
            return
        script = 'for a; do test -"${a%%:*}" "${a#*:}" || { echo "$a"; exit 1; }; done'
        done = subprocess.run(["/bin/sh", "-c", script, "sh", *checks], user=user.uid,
                              group=user.gid, extra_groups=list(user.groups),
                              capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            mode, _, blocked = done.stdout.strip().partition(":")
            raise IsolationRefused(_unreachable_message(user, mode, Path(blocked)))
        self._reachable.update((user.uid, f"{m}:{p}") for m, p in needed)


def compile_refused_message(tenant: str, what: str) -> str:
    """Why a non-root control plane does not compile a non-default tenant's project."""
    return (f"refused to compile {what} of tenant {tenant!r}: this control plane runs as uid "
            f"{os.getuid()}, not root, so compiling runs the project's code as that user, "
            "which could read the control plane's secrets (JWT secret, Fernet key, database) "
            "and the default tenant's files. Run it as root (each tenant's projects then "
            "compile as a user of their own, as its tasks run), push the DAG compiled "
            f"elsewhere (leoflow push), or set {ALLOW_SHARED_ENV}=1 to accept that tenants "
            "can read each other's data (unsafe)")


def _unreachable_message(user: TryUser, mode: str, blocked: Path) -> str:
    try:
        info = os.stat(blocked)
        found = f"mode {stat.S_IMODE(info.st_mode):o}, owner uid {info.st_uid}"
    except OSError as exc:
        found = exc.strerror or "missing"
    verb = "pass through" if mode == "x" else "read"
    return (f"tenant {user.tenant!r}'s tasks run as the user {user.name} (uid {user.uid}), "
            f"which cannot {verb} {blocked} ({found}): a task user must reach the Python and "
            "Leoflow that run its agent, its DAG's environment and its project. Install them "
            f"outside a private home (e.g. /usr/local, /opt), or open the folder for passage "
            f"(chmod o+x {blocked}); {ALLOW_SHARED_ENV}=1 would run every tenant as the control "
            "plane's user instead (unsafe)")


def _run_admin(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise IsolationRefused(f"cannot create {what}: {command[0]} is not available "
                               f"({exc.strerror}); tenant isolation needs useradd/groupadd, "
                               f"or set {ALLOW_SHARED_ENV}=1 (unsafe)") from exc
    if done.returncode not in (0, 9):  # 9: it exists already (made by another process)
        raise IsolationRefused(f"cannot create {what}: {command[0]} said "
                               f"{(done.stderr or done.stdout).strip()[:300]}")


def _grant(path: Path, perms: int, *, uid: int | None = None, gid: int | None = None) -> None:
    try:
        acl.grant(path, perms=perms, uid=uid, gid=gid)
    except acl.AclUnsupported as exc:
        raise IsolationRefused(f"cannot open {path} to a task user: {exc.strerror} (mount it "
                               f"with ACLs, or set {ALLOW_SHARED_ENV}=1: unsafe)") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IsolationRefused(f"{path} is a symbolic link; refused") from exc
        raise


def _close_children(folder: Path) -> None:
    """``o-rwx`` on every entry of ``folder`` that the control plane's user owns."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    me = os.getuid()
    for name in names:
        with contextlib.suppress(OSError):
            info = os.lstat(folder / name)
            if stat.S_ISLNK(info.st_mode) or info.st_uid != me or not info.st_mode & 0o007:
                continue
            os.chmod(folder / name, stat.S_IMODE(info.st_mode) & ~0o007)


def _walk(top: Path) -> Iterator[tuple[Path, bool]]:
    """Every entry under ``top`` (itself first), links skipped, at most OPEN_TREE_LIMIT."""
    count = 0
    for folder, dirs, files in os.walk(top, followlinks=False):
        for name in (".", *dirs, *files):
            path = Path(folder) if name == "." else Path(folder) / name
            count += 1
            if count > OPEN_TREE_LIMIT:
                log.warning("%s has more than %d entries; the rest stay closed to its task "
                            "user", top, OPEN_TREE_LIMIT)
                return
            yield path, name == "." or name in dirs


def _open_tree(top: Path, uid: int) -> None:
    """Read (and pass, for folders and executables) for ``uid`` on a whole folder."""
    for path, _ in _walk(top):
        try:
            fd = acl.open_nofollow(path)
        except OSError:
            continue  # a link (never followed), or gone
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_IXUSR:
                perms = acl.READ | acl.EXECUTE
            elif stat.S_ISREG(info.st_mode):
                perms = acl.READ
            else:
                continue
            acl.grant_fd(fd, perms=perms, uid=uid)
        except acl.AclUnsupported as exc:
            raise IsolationRefused(f"cannot open {top} to a task user: the file system keeps "
                                   f"no POSIX ACLs (set {ALLOW_SHARED_ENV}=1: unsafe)") from exc
        finally:
            os.close(fd)

