"""DAG environments keyed by what they contain, made once and shared by every DAG that
asks for the same contents.

An environment lives in ``<home>/venvs/env-<key>``, where ``key`` is the first 12 hex digits
of the SHA-256 of (python version, sorted dependencies, Leoflow version). Every DAG asking
for the same set uses the same directory: the second DAG asking for a 145-package Airflow
environment gets it in milliseconds (a marker check), not seconds. Changing any part of the
set gives a new directory, so a running task never sees its environment change under it.
``venvs/dags/<dag_id>`` is a symbolic link to the environment a DAG used last (what
``leoflow providers <dag_id>`` reads; where an operator looks).

Isolation between the DAGs sharing one: a finished environment is read-only (sealing.py):
its files lose their write bits and its bytecode is compiled at build time, so no task can
change the packages another DAG runs with, and a DAG that needs other packages gets another
environment.

A marker file is written last: a directory without it is a half-built environment (a crash,
a failed install) and is rebuilt from scratch. Builds are serialized per environment, both
inside the process (an asyncio lock) and across processes (``flock`` on a lock file), so two
concurrent ``ensure`` calls for the same contents build once, whichever DAGs ask.

The SDK is made importable through a ``.pth`` file that points at a directory holding only a
``leoflow`` symlink and links to Airflow's runtime packages (pendulum): user code sees
``leoflow``, pendulum and its own dependencies, and none of the control plane's packages
(SQLAlchemy, gRPC...).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from leoflow.engine.environments.errors import (
    DependencyInstallError,
    EnvironmentBuildError,
    PythonVersionNotFound,
)
from leoflow.engine.environments.sealing import is_sealed, remove, seal, writable
from leoflow.engine.environments.uv import Progress, find_uv, installed_pythons, run_uv

MARKER = ".leoflow-env.json"
ENV_PREFIX = "env-"
DAG_LINKS = "dags"  # venvs/dags/<dag_id> -> ../env-<key>
SDK_DIR = "leoflow-sdk"
PTH_NAME = "leoflow_sdk.pth"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


def leoflow_version() -> str:
    try:
        return metadata.version("leoflow")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def default_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def environment_key(python_version: str, dependencies: list[str] | tuple[str, ...],
                    version: str) -> str:
    """The 12-hex-digit identity of an environment's contents."""
    text = json.dumps([python_version, sorted(dependencies), version], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Environment:
    """A ready environment: run ``python`` to run the DAG's code in it."""

    dag_id: str
    path: Path
    python: Path
    key: str
    python_version: str
    dependencies: tuple[str, ...]


def _sdk_package_dir() -> Path:
    return Path(__file__).resolve().parents[2]


class EnvironmentManager:
    """Makes and finds per-DAG environments under ``home/venvs``."""

    def __init__(self, home: Path, *, uv: str | None = None) -> None:
        self.home = Path(home)
        self.venvs = self.home / "venvs"
        self._uv = uv
        self._locks: dict[str, asyncio.Lock] = {}
        self.builds = 0  # how many environments this manager built (observability, tests)

    @property
    def uv(self) -> str:
        if self._uv is None:
            self._uv = find_uv()
        return self._uv

    def describe(self, dag_id: str, python_version: str | None,
                 dependencies: list[str] | tuple[str, ...]) -> Environment:
        """Where the environment for these contents lives (whether or not it exists yet)."""
        if not _SAFE_ID.match(dag_id) or dag_id in {".", ".."}:
            raise ValueError(f"dag_id {dag_id!r} cannot name an environment directory")
        version = python_version or default_python_version()
        deps = tuple(sorted(str(d).strip() for d in dependencies if str(d).strip()))
        key = environment_key(version, deps, leoflow_version())
        path = self._path(dag_id, key)
        return Environment(dag_id=dag_id, path=path, python=path / "bin" / "python", key=key,
                           python_version=version, dependencies=deps)

    def _path(self, dag_id: str, key: str) -> Path:
        """Shared by every DAG with the same contents: the DAG's name is not part of it."""
        return self.venvs / f"{ENV_PREFIX}{key}"

    def of_dag(self, dag_id: str) -> Path | None:
        """The environment ``dag_id`` used last on this machine (``venvs/dags/<dag_id>``),
        whatever its contents; None when it has none (or it was removed)."""
        if not _SAFE_ID.match(dag_id) or dag_id in {".", ".."}:
            return None
        link = self.venvs / DAG_LINKS / dag_id
        target = link.resolve() if link.is_symlink() else None
        return target if target is not None and (target / MARKER).is_file() else None

    def find(self, dag_id: str, python_version: str | None,
             dependencies: list[str] | tuple[str, ...]) -> Environment | None:
        """The environment if it is complete, without building anything."""
        env = self.describe(dag_id, python_version, dependencies)
        return env if self._is_ready(env) else None

    def _is_ready(self, env: Environment) -> bool:
        try:
            marker = json.loads((env.path / MARKER).read_text("utf-8"))
        except (OSError, ValueError):
            return False
        return marker.get("key") == env.key and env.python.exists()

    async def ensure(self, dag_id: str, python_version: str | None,
                     dependencies: list[str] | tuple[str, ...],
                     progress: Progress | None = None) -> Environment:
        """The DAG's environment, built first if needed (never blocks the event loop)."""
        env = self.describe(dag_id, python_version, dependencies)
        lock = self._locks.setdefault(env.path.name, asyncio.Lock())
        async with lock:
            if self._is_ready(env):
                self._link_sdk(env)
                self._record(env)
                return env
            self.venvs.mkdir(parents=True, exist_ok=True)
            with await asyncio.to_thread(_file_lock, self.venvs / f".{env.path.name}.lock"):
                if not self._is_ready(env):  # another process may have built it meanwhile
                    await self._build(env, progress)
                elif progress is not None:
                    progress(f"reusing the environment built meanwhile: {env.path}")
            self._link_sdk(env)
            self._record(env)
            return env

    def _record(self, env: Environment) -> None:
        """Point ``venvs/dags/<dag_id>`` at the environment (atomically; cheap when it
        already does)."""
        links = self.venvs / DAG_LINKS
        link = links / env.dag_id
        target = Path("..") / env.path.name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        links.mkdir(parents=True, exist_ok=True)
        tmp = links / f".{env.dag_id}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)

    async def _build(self, env: Environment, progress: Progress | None) -> None:
        say = progress or (lambda line: None)
        uv = self.uv
        if env.path.exists():
            say(f"removing the incomplete environment {env.path}")
            await asyncio.to_thread(remove, env.path)
        say(f"creating the environment of {env.dag_id} with Python {env.python_version} "
            f"(shared by every DAG asking for the same packages)")
        try:
            created = await run_uv(uv, ["venv", "--python", env.python_version,
                                        "--no-python-downloads", str(env.path)],
                                   _without_activation(say))
            if created.returncode != 0:
                await self._raise_missing_python(env)
                raise EnvironmentBuildError(
                    f"uv venv failed for DAG {env.dag_id!r}: "
                    f"{created.tail[-1] if created.tail else 'no output'}",
                    dag_id=env.dag_id, output=created.output)
            if env.dependencies:
                say(f"resolving {', '.join(env.dependencies)}")
                installed_deps = await run_uv(
                    uv, ["pip", "install", "--compile-bytecode", "--python", str(env.python),
                         *env.dependencies], _narrated(say), still="still working")
                if installed_deps.returncode != 0:
                    raise DependencyInstallError(
                        f"installing the dependencies of DAG {env.dag_id!r} failed: "
                        f"{installed_deps.tail[-1] if installed_deps.tail else 'no output'}",
                        dag_id=env.dag_id, output=installed_deps.output)
            self._link_sdk(env)
            marker = {"key": env.key, "dag_id": env.dag_id,
                      "python_version": env.python_version,
                      "dependencies": list(env.dependencies), "leoflow": leoflow_version(),
                      "created_at": datetime.now(UTC).isoformat()}
            await asyncio.to_thread(seal, env.path, keep_top_writable=True)
            tmp = env.path / (MARKER + ".tmp")
            tmp.write_text(json.dumps(marker, indent=2), "utf-8")
            os.replace(tmp, env.path / MARKER)
            await asyncio.to_thread(seal, env.path)  # the marker and the root: read-only too
        except BaseException:
            await asyncio.to_thread(remove, env.path)
            raise
        self.builds += 1
        say(f"environment ready (read-only from now on): {env.path}")

    async def _raise_missing_python(self, env: Environment) -> None:
        """Listing interpreters is slow (uv probes each): done only after a failure."""
        installed = await installed_pythons(self.uv)
        if not any(_matches(env.python_version, v) for v in installed):
            raise PythonVersionNotFound(
                f"DAG {env.dag_id!r} asks for Python {env.python_version}, which is not "
                f"installed on this machine (installed: {', '.join(installed) or 'none found'}); "
                "install it or change python_version in leoflow.yaml",
                requested=env.python_version, installed=installed, dag_id=env.dag_id)

    def _link_sdk(self, env: Environment) -> None:
        """Point the environment at this Leoflow's SDK and Airflow's runtime packages
        (checked on every ensure: cheap).

        Besides ``leoflow``, the SDK folder links what Airflow's task runtime always gives
        DAG code (``RUNTIME_DISTRIBUTIONS``: pendulum, requests, httpx and what they
        need), so that Airflow DAG files import them with no ``dependencies`` line. The
        ``.pth`` file puts the folder after the environment's site-packages, so a version
        the DAG pins wins.
        """
        sdk_root = env.path / SDK_DIR
        links = {"leoflow": _sdk_package_dir(), **runtime_package_paths()}
        pth_ok = all((sp / PTH_NAME).exists()
                     for sp in (env.path / "lib").glob("python*/site-packages"))
        if pth_ok and all(_links_to(sdk_root / name, target) for name, target in links.items()):
            return
        site_dirs = list((env.path / "lib").glob("python*/site-packages"))
        with writable(env.path, sdk_root, *site_dirs):  # a sealed one is opened briefly
            sdk_root.mkdir(parents=True, exist_ok=True)
            with writable(sdk_root):
                for name, target in links.items():
                    link = sdk_root / name
                    if _links_to(link, target):
                        continue
                    if link.is_symlink() or link.exists():
                        link.unlink()
                    link.symlink_to(target, target_is_directory=target.is_dir())
            for site_packages in site_dirs:
                pth = site_packages / PTH_NAME
                if pth.exists() and is_sealed(env.path):
                    pth.unlink()  # read-only: replaced, not written over
                pth.write_text(str(sdk_root) + "\n", "utf-8")
        if (env.path / MARKER).exists():  # a finished environment: read-only again
            seal(sdk_root)
            for site_packages in site_dirs:
                seal(site_packages / PTH_NAME)

    async def installed_pythons(self) -> list[str]:
        """The Python versions present on this machine (what ``python_version`` may say)."""
        return await installed_pythons(self.uv)


# What Airflow's task runtime always provides to DAG code, importable in every DAG
# environment without a dependencies line: pendulum (``pendulum.datetime(...)`` starts
# almost every Airflow DAG file), requests and httpx (Airflow's own examples import them at
# the top; its task SDK depends on both), with every distribution they require. Pure
# Python apart from optional compiled speed-ups (pendulum's Rust extension,
# charset_normalizer's mypyc build), which these packages replace by their Python code
# when the environment's interpreter is another version.
RUNTIME_DISTRIBUTIONS = ("pendulum", "requests", "httpx")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)")


@functools.cache
def runtime_package_paths() -> dict[str, Path]:
    """``{import name: folder or file}`` of the runtime distributions installed with
    Leoflow and of everything they require (optional extras left out). Read once per
    process: every ``ensure`` checks the links, and the metadata walk is not free."""
    found: dict[str, Path] = {}
    seen: set[str] = set()
    pending = list(RUNTIME_DISTRIBUTIONS)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for requirement in dist.requires or ():
            if "extra ==" in requirement.replace('"', "").replace("'", ""):
                continue
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                pending.append(match.group(1))
        for top in _top_level_names(dist):
            path = Path(str(dist.locate_file(top)))
            if path.is_dir():
                found[top] = path
            elif path.with_suffix(".py").is_file():
                found[top + ".py"] = path.with_suffix(".py")
    return found


def _top_level_names(dist: metadata.Distribution) -> set[str]:
    """The importable names a distribution installs (``top_level.txt``, else its files)."""
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        names.add(first[:-3] if first.endswith(".py") else first)
    return {n for n in names if n.isidentifier()}


def _narrated(say: Progress) -> Progress:
    """uv's phase lines, each followed by what comes next (uv is silent while it fetches
    and while it compiles bytecode)."""
    def hear(line: str) -> None:
        if re.match(r"\s*[+-] \S", line):
            return  # one line per package: "Installed 145 packages" said it already
        say(line)
        found = re.match(r"\s*Resolved (\d+) packages?", line)
        if found:
            say(f"fetching what uv's cache lacks of {found.group(1)} packages, then "
                "installing them (hard links from the cache)")
        elif re.match(r"\s*Installed \d+ packages?", line):
            say("compiling bytecode once (the environment is read-only afterwards)")
    return hear


def _without_activation(say: Progress) -> Progress:
    """uv venv's lines minus its advice to activate the environment (nobody should)."""
    return lambda line: None if line.lstrip().startswith("Activate with") else say(line)


def _links_to(link: Path, target: Path) -> bool:
    return link.is_symlink() and Path(os.readlink(link)) == target


def _matches(requested: str, installed: str) -> bool:
    """``3.11`` matches ``3.11.7``; ``3.11.7`` only itself."""
    want = requested.strip().split(".")
    have = installed.split(".")
    return have[:len(want)] == want


@contextlib.contextmanager
def _held(handle: int) -> Iterator[int]:
    try:
        yield handle
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def _file_lock(path: Path) -> contextlib.AbstractContextManager[int]:
    """Block (in a worker thread) until this process holds ``path``'s exclusive lock."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return _held(handle)
