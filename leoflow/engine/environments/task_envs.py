"""A task's own virtual environment (``PythonVirtualenvOperator``, ``@task.virtualenv``).

dag.json says what such a task needs in ``options.virtualenv``: its requirements, Python
version, whether it sees the interpreter's site packages, pip options and index URLs. The
environment is made with uv under ``<home>/venvs/task-venv-<options>-<key>`` (``key``: Python
version + requirements + Leoflow version, as for DAG environments; ``<options>``: the other
settings), once, and reused by every task and run that asks for the same thing: Airflow's
``venv_cache_path`` is always on.

Unlike a DAG's environment it holds the requirements and nothing else (no Leoflow SDK, no
pendulum): the function runs there alone, as in Airflow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leoflow.engine.environments.errors import DependencyInstallError, EnvironmentBuildError
from leoflow.engine.environments.manager import (
    MARKER,
    Environment,
    EnvironmentManager,
    leoflow_version,
)
from leoflow.engine.environments.uv import Progress, run_uv

VENV_PYTHON_ENV = "LEOFLOW_VENV_PYTHON"  # read by leoflow.sdk.venv_operators
NAME_PREFIX = "task-venv-"


@dataclass(frozen=True)
class VenvRequest:
    """What one task asks its environment to hold (from dag.json's ``options.virtualenv``)."""

    requirements: tuple[str, ...]
    python_version: str | None = None
    system_site_packages: bool = True
    pip_install_options: tuple[str, ...] = ()
    index_urls: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> VenvRequest | None:
        """The request of a task's options, or ``None`` for a task without one."""
        raw = (options or {}).get("virtualenv")
        if not isinstance(raw, Mapping):
            return None
        version = raw.get("python_version")
        return cls(requirements=tuple(str(r) for r in raw.get("requirements") or ()),
                   python_version=str(version) if version else None,
                   system_site_packages=bool(raw.get("system_site_packages", True)),
                   pip_install_options=tuple(str(o) for o in
                                             raw.get("pip_install_options") or ()),
                   index_urls=tuple(str(u) for u in raw.get("index_urls") or ()))

    @property
    def name(self) -> str:
        """The directory prefix: the settings that the manager's key does not cover."""
        text = json.dumps([self.system_site_packages, list(self.pip_install_options),
                           list(self.index_urls)], separators=(",", ":"))
        return NAME_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:8]

    def describe(self) -> str:
        reqs = ", ".join(self.requirements) or "no requirements"
        site = " + system site packages" if self.system_site_packages else ""
        return f"Python {self.python_version or 'default'}, {reqs}{site}"


class TaskEnvironments(EnvironmentManager):
    """Finds and builds task environments; builds never block the event loop (uv runs as
    a subprocess, the cross-process lock is taken in a worker thread)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requests: dict[str, VenvRequest] = {}

    def find_for(self, request: VenvRequest) -> Environment | None:
        return self.find(request.name, request.python_version, request.requirements)

    async def ensure_for(self, request: VenvRequest,
                         progress: Progress | None = None) -> Environment:
        self._requests[request.name] = request
        return await self.ensure(request.name, request.python_version, request.requirements,
                                 progress)

    def env_for(self, options: Mapping[str, Any] | None) -> dict[str, str]:
        """The variables that tell the task runner where the task's interpreter is (empty
        for a task without an environment of its own, or one that is not built)."""
        request = VenvRequest.from_options(options)
        env = self.find_for(request) if request is not None else None
        return {VENV_PYTHON_ENV: str(env.python)} if env is not None else {}

    def _link_sdk(self, env: Environment) -> None:
        """A task environment holds its requirements only (see the module doc)."""

    def _path(self, dag_id: str, key: str) -> Path:
        """``task-venv-<options>-<key>``: the options the key does not cover are in the name."""
        return self.venvs / f"{dag_id}-{key}"

    def _record(self, env: Environment) -> None:
        """No ``venvs/dags`` link: a task environment belongs to no DAG in particular."""

    async def _build(self, env: Environment, progress: Progress | None) -> None:
        say = progress or (lambda line: None)
        request = self._requests.get(env.dag_id) or VenvRequest(env.dependencies,
                                                                env.python_version)
        uv = self.uv
        if env.path.exists():
            say(f"removing the incomplete environment {env.path}")
            await asyncio.to_thread(shutil.rmtree, env.path, True)
        say(f"creating a virtual environment: {request.describe()}")
        try:
            args = ["venv", "--python", env.python_version, "--no-python-downloads"]
            if request.system_site_packages:
                args.append("--system-site-packages")
            created = await run_uv(uv, [*args, str(env.path)], say)
            if created.returncode != 0:
                await self._raise_missing_python(env)
                raise EnvironmentBuildError(
                    f"uv venv failed for the task environment ({request.describe()}): "
                    f"{created.tail[-1] if created.tail else 'no output'}",
                    output=created.output)
            if env.dependencies:
                say(f"installing {', '.join(env.dependencies)}")
                indexes: list[str] = []
                for i, url in enumerate(request.index_urls):
                    indexes += ["--index-url" if i == 0 else "--extra-index-url", url]
                installed = await run_uv(uv, ["pip", "install", "--python", str(env.python),
                                              *indexes, *request.pip_install_options,
                                              *env.dependencies], say)
                if installed.returncode != 0:
                    raise DependencyInstallError(
                        f"installing the requirements {', '.join(env.dependencies)} failed: "
                        f"{installed.tail[-1] if installed.tail else 'no output'}",
                        output=installed.output)
            marker = {"key": env.key, "name": env.dag_id, "python_version": env.python_version,
                      "requirements": list(env.dependencies),
                      "system_site_packages": request.system_site_packages,
                      "pip_install_options": list(request.pip_install_options),
                      "index_urls": list(request.index_urls), "leoflow": leoflow_version(),
                      "created_at": datetime.now(UTC).isoformat()}
            tmp = env.path / (MARKER + ".tmp")
            tmp.write_text(json.dumps(marker, indent=2), "utf-8")
            os.replace(tmp, env.path / MARKER)  # written last: its presence means complete
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, env.path, True)
            raise
        self.builds += 1
        say(f"environment ready: {env.path}")
