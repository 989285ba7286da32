"""``leoflow providers [PROJECT_OR_DAG]``: the Airflow providers in a DAG's environment.

Lists each provider installed in the DAG's environment with its version and the connection
types its hooks handle (what a connection's ``conn_type`` may say for that DAG). The
environment is built first when it is not yet (``--no-build`` only looks). Nothing of the
providers runs here: their metadata is read from the environment's files
(engine/environments/providers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError

EPILOG = """\
examples:
  leoflow providers                    the project in the current folder
  leoflow providers examples/hello     a project folder (or its dag.py)
  leoflow providers ~/airflow/dags     a plain Airflow DAGs folder (its requirements.txt)
  leoflow providers sales_daily        a DAG id: the environment it used last here
  leoflow providers my_dag --json      machine-readable

output:
  apache-airflow-providers-postgres 7.1.1
      postgres        airflow.providers.postgres.hooks.postgres.PostgresHook
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "providers", help="list the Airflow providers installed in a DAG's environment",
        description="List the Airflow providers (apache-airflow-providers-*) installed in a "
                    "DAG's environment, with their versions and the connection types their "
                    "hooks handle. The environment is the one its leoflow.yaml (or the "
                    "folder's requirements.txt) describes; it is built first if needed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="?", default=".",
                   help="a project folder or its dag.py, a plain Airflow DAGs folder or one "
                        "of its files, or a DAG id (default: the current folder)")
    p.add_argument("--no-build", action="store_true",
                   help="do not build a missing environment; fail instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of a list")
    p.set_defaults(func=providers_command)


def providers_command(args: argparse.Namespace) -> int:
    env_path = asyncio.run(_environment(args.target, build=not args.no_build))
    from leoflow.engine.environments.providers import read_providers

    providers = read_providers(env_path)
    if args.json:
        print(json.dumps({"environment": str(env_path),
                          "providers": [_as_json(p) for p in providers]}, indent=2))
        return 0
    print(f"environment: {env_path}")
    if not providers:
        print("no Airflow providers installed (list one in leoflow.yaml's dependencies, "
              "e.g. apache-airflow-providers-postgres)")
        return 0
    for provider in providers:
        print(f"{provider.package_name} {provider.version}")
        if provider.problem:
            print(f"    (its metadata could not be read: {provider.problem})")
        for t in provider.connection_types:
            print(f"    {t.connection_type:<15} {t.hook_class_name or '-'}")
    return 0


def _as_json(provider: Any) -> dict[str, Any]:
    return {"package_name": provider.package_name, "version": provider.version,
            "name": provider.name, "problem": provider.problem,
            "connection_types": [{"connection_type": t.connection_type,
                                  "hook_class_name": t.hook_class_name,
                                  "hook_name": t.hook_name}
                                 for t in provider.connection_types]}


async def _environment(target: str, *, build: bool) -> Path:
    """The environment folder of ``target`` (a path, else a DAG id)."""
    from leoflow.app.settings import Settings
    from leoflow.engine.environments.manager import EnvironmentManager

    manager = EnvironmentManager(Settings.load().home)
    if not Path(target).expanduser().exists():
        found = manager.of_dag(target)
        if found is None:
            raise LeoflowError(
                f"{target}: no such file or folder, and no DAG of that id has an environment "
                "on this machine; pass the DAG's project folder (leoflow providers "
                "path/to/project)")
        return found
    config = _project_config(Path(target).expanduser())
    if not build:
        env = manager.find(config.dag_id, config.python_version, config.dependencies)
        if env is None:
            raise LeoflowError(f"{target}: the environment of {config.dag_id} is not built "
                               "yet; run without --no-build to build it")
        return env.path

    def say(line: str) -> None:
        print(f"    {line}", file=sys.stderr, flush=True)

    env = await manager.ensure(config.dag_id, config.python_version, config.dependencies,
                               progress=say)
    return env.path


def _project_config(path: Path) -> Any:
    from leoflow.engine.compiler.compile import (
        is_plain_target,
        load_project_config,
        locate_project,
    )
    from leoflow.engine.compiler.folder import folder_config

    if is_plain_target(path):  # a plain Airflow folder, or one of its files
        resolved = path.resolve()
        return folder_config(resolved if resolved.is_dir() else resolved.parent)
    project_dir, _ = locate_project(path)
    return load_project_config(project_dir)
