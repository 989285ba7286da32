"""Starting and stopping the user's process: a clean environment and its own process group.

The user process never inherits the agent's environment, which may hold control-plane
secrets (the agent's own token, database URLs of a Lite control plane that started it): it
gets a short list of harmless variables (PATH, HOME, locale, TZ...), the task's environment
map from ``FetchTask`` (leoflow.yaml ``env``, ``AIRFLOW_VAR_*``, ``AIRFLOW_CONN_*``), and a
``PYTHONPATH`` that exposes the ``leoflow`` package alone. It runs in its own session, so a
timeout or a stop kills everything it started, not just its first process. On Linux it
also dies with the agent (PR_SET_PDEATHSIG, see ``die_with_agent_prefix``): an agent killed
with SIGKILL cannot stop it, and nothing else would, since it is in neither the agent's
session nor its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from leoflow.agent.try_tree import TREE_ENV as TRY_TREE_ENV
from leoflow.agent.try_tree import end_leftovers as end_try_leftovers
from leoflow.errors import InvariantError

PASSED_THROUGH = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                  "SSL_CERT_FILE", "SSL_CERT_DIR")
KILL_GRACE = 3.0


class UserProcess(Protocol):
    """What supervision needs of a user process: ``asyncio.subprocess.Process`` (a normal
    start) or ``zygote_client.ZygoteChild`` (forked by the DAG version's zygote)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def stdout(self) -> asyncio.StreamReader | None: ...

    @property
    def stderr(self) -> asyncio.StreamReader | None: ...

    async def wait(self) -> int: ...


AGENT_PID_ENV = "LEOFLOW_AGENT_PID"  # the task runner arms PR_SET_PDEATHSIG against it


@functools.cache
def die_with_agent_prefix() -> tuple[str, ...]:
    """The command prefix that makes a bash task get SIGKILL when the agent dies.

    util-linux's ``setpriv --pdeathsig`` sets Linux's PR_SET_PDEATHSIG and execs the command;
    a ``preexec_fn`` doing the same from Python crashed now and then (a ctypes call between
    fork and exec in a process with gRPC threads). Python tasks need no prefix: the task
    runner arms the signal itself (``AGENT_PID_ENV``). Empty where setpriv is missing.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return (setpriv, "--pdeathsig", "KILL") if setpriv else ()


@functools.cache
def sdk_package() -> tuple[Path, str]:
    """The ``leoflow`` package's folder and a short tag of its path (the fork server finds
    them once, before forking agents)."""
    package_dir = Path(__file__).resolve().parents[1]
    return package_dir, hashlib.sha256(str(package_dir).encode()).hexdigest()[:12]


def sdk_pythonpath() -> str:
    """A directory holding only a ``leoflow`` symlink, for the DAG's own interpreter.

    The same idea as the compiler's (``leoflow.engine.compiler.child``), copied because the
    agent must not import the engine: the DAG's environment sees the SDK and none of the
    packages installed beside the agent.
    """
    package_dir, tag = sdk_package()
    root = Path(tempfile.gettempdir()) / f"leoflow-sdk-{os.getuid()}-{tag}"
    link = root / "leoflow"
    if not link.exists():
        root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            link.symlink_to(package_dir, target_is_directory=True)
    return str(root)


def base_environment(task_env: Mapping[str, str], *, python: str | None,
                     agent_environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a task's processes (before Airflow's ``AIRFLOW_CTX_*``).

    When the DAG's interpreter lives in a virtual environment, its ``bin`` comes first on
    PATH (as if activated), so ``python`` or a console script in a bash task is the DAG's.
    """
    source = os.environ if agent_environ is None else agent_environ
    env = {name: source[name] for name in PASSED_THROUGH if name in source}
    env.update({name: value for name, value in source.items() if name.startswith("LC_")})
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    if python:
        bin_dir = Path(python).parent
        if (bin_dir.parent / "pyvenv.cfg").exists():
            env["VIRTUAL_ENV"] = str(bin_dir.parent)
            env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.update(task_env)
    return env


def airflow_context_env(*, dag_id: str, task_id: str, run_id: str, try_number: int,
                        logical_date: str | None, owner: str) -> dict[str, str]:
    """The ``AIRFLOW_CTX_*`` variables Airflow gives every task's processes, and the try's
    tree marker (``TRY_TREE_ENV``): the executor finds what the task left running by it
    when the agent dies (leoflow.engine.executors.try_tree)."""
    env = {"AIRFLOW_CTX_DAG_ID": dag_id, "AIRFLOW_CTX_TASK_ID": task_id,
           "AIRFLOW_CTX_DAG_RUN_ID": run_id, "AIRFLOW_CTX_TRY_NUMBER": str(try_number),
           "AIRFLOW_CTX_DAG_OWNER": owner}
    if os.environ.get(TRY_TREE_ENV):
        env[TRY_TREE_ENV] = os.environ[TRY_TREE_ENV]
    if logical_date:
        env["AIRFLOW_CTX_LOGICAL_DATE"] = logical_date
    return env


def exit_code_of(returncode: int | None) -> int:
    """A shell-style exit code: a process killed by signal N reports 128 + N."""
    if returncode is None:
        return -1
    return 128 - returncode if returncode < 0 else returncode


def _signal_group(pid: int, sig: int) -> bool:
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


async def exited(process: UserProcess) -> int:
    """The process's status once it exited.

    Not ``process.wait()`` alone: on Python 3.11 it also waits until the process's pipes
    close, and a child it left running (``sleep 1000 &``, a ``setsid`` daemon) may hold
    them for ever; the exit itself is seen by ``returncode``, checked every 50 ms.
    """
    waiter = asyncio.ensure_future(process.wait())
    try:
        while not waiter.done() and process.returncode is None:
            await asyncio.wait({waiter}, timeout=0.05)
    finally:
        if not waiter.done():
            waiter.cancel()
    code = process.returncode
    if code is None:  # the loop ends on an exit code or a finished wait(), which sets one
        raise InvariantError(f"process {process.pid} was waited for but has no exit code")
    return code


async def kill_group(process: UserProcess, grace: float = KILL_GRACE) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds (or at once if gone).

    The group is signalled again after the leader exits, so children that ignore SIGTERM
    do not outlive the task, and so is the rest of the try's tree (``setsid`` daemons).
    """
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(exited(process), grace)
    _signal_group(process.pid, signal.SIGKILL)
    if process.returncode is None:
        await exited(process)
    end_try_leftovers()


def reap_leftovers(process: UserProcess) -> None:
    """After the task ended: kill what it left running in its group (no leaking workers),
    and what left the group (``setsid``): the rest of the try's tree (``try_tree``)."""
    _signal_group(process.pid, signal.SIGKILL)
    if process.returncode is not None:
        end_try_leftovers()
