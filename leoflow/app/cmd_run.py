"""``leoflow run DAG_DIR``: compile, register and run one DAG on the real path, in one process.

Like Airflow's ``dags test``, but through the real scheduler, executor and agents: the
DAG's own environment is built (or reused), the project is compiled with it, a control plane
with a throwaway SQLite store starts, the run is triggered, every state change is printed,
and the exit status says whether the run succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leoflow.errors import LeoflowError

if TYPE_CHECKING:
    from leoflow.engine.services.container import Services


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="run one DAG now, through the real scheduler and agents",
        description="Build the DAG's environment, compile it, run it once in a local control "
                    "plane with a throwaway database, print every state change and the "
                    "results. Exit status 0 when the run succeeds, 1 otherwise.",
        epilog="examples:\n  leoflow run examples/hello\n"
               "  leoflow run my_dag --conf '{\"limit\": 10}'\n"
               "  leoflow run ~/airflow/dags/etl.py --dag-id etl_daily",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="the project folder (or its dag.py), or a plain Airflow "
                   "DAGs folder or one of its files")
    p.add_argument("--conf", default="{}", help="the run's conf, a JSON object")
    p.add_argument("--dag-id", help="which DAG to run when the file defines several")
    p.add_argument("--database-url", help="keep the run in this database instead of a "
                   "throwaway SQLite file")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="give up after this many seconds (default 3600)")
    p.add_argument("--json", action="store_true", help="print the result as JSON at the end")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    try:
        conf = json.loads(args.conf)
    except ValueError as exc:
        raise LeoflowError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise LeoflowError("--conf must be a JSON object, e.g. '{\"n\": 3}'")
    return asyncio.run(run_dag(Path(args.path), conf=conf, dag_id=args.dag_id,
                               database_url=args.database_url, timeout=args.timeout,
                               as_json=args.json))


def _say(text: str) -> None:
    print(text, flush=True)


async def run_dag(path: Path, *, conf: dict[str, Any], dag_id: str | None = None,
                  database_url: str | None = None, timeout: float = 3600.0,
                  as_json: bool = False, out: Any = None) -> int:
    from leoflow.app.controlplane import start_control_plane
    from leoflow.app.settings import Settings
    from leoflow.engine.compiler.compile import (
        compile_project,
        is_plain_target,
        load_project_config,
        locate_project,
    )
    from leoflow.engine.compiler.folder import folder_config
    from leoflow.engine.environments.manager import EnvironmentManager

    say = out or _say
    base = Settings.load()
    if is_plain_target(Path(path)):  # a plain Airflow folder, or one of its files
        dag_file = Path(path).resolve()
        config = folder_config(dag_file if dag_file.is_dir() else dag_file.parent)
    else:
        project_dir, dag_file = locate_project(path)
        config = load_project_config(project_dir)
    say(f"==> environment for {config.dag_id} (python {config.python_version or 'default'}, "
        f"{len(config.dependencies)} dependencies)")
    env = await EnvironmentManager(base.home).ensure(
        config.dag_id, config.python_version, config.dependencies,
        progress=lambda line: say(f"    {line}"))
    say(f"==> compiling {dag_file}")
    project = await asyncio.to_thread(compile_project, path, python=str(env.python))
    documents = [d for d in project.documents if dag_id is None or d["dag_id"] == dag_id]
    if not documents:
        known = ", ".join(d["dag_id"] for d in project.documents) or "none"
        raise LeoflowError(f"{dag_file}: defines no DAG {dag_id!r} (it defines: {known})")
    if len(documents) > 1 and not project.plain and any(
            d["dag_id"] == config.dag_id for d in documents):
        documents = [d for d in documents if d["dag_id"] == config.dag_id]
    if len(documents) > 1:
        names = ", ".join(d["dag_id"] for d in documents)
        raise LeoflowError(f"{dag_file} defines several DAGs ({names}); choose one with "
                           "--dag-id")
    document = documents[0] if database_url else one_off_document(documents[0])
    source = project.source_of(document["dag_id"])
    with tempfile.TemporaryDirectory(prefix="leoflow-run-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'run.db'}"
        settings = Settings(home=base.home, database_url=url)
        started = time.monotonic()
        finished: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        target: dict[str, str] = {}

        def show(kind: str, data: dict[str, Any]) -> None:
            if data.get("run_id") != target.get("run_id"):
                return  # another run of the DAG (a scheduled one, in a kept database)
            clock = f"{time.monotonic() - started:7.2f}s"
            task = data.get("task_id", "")
            if data.get("map_index", -1) not in (-1, None):
                task += f"[{data['map_index']}]"
            if kind == "ti.finished":
                say(f"  {clock}  {task:<32} {data['state']}")
                if data.get("error") and data["state"] in ("failed", "up_for_retry"):
                    for line in str(data["error"]).splitlines()[-12:]:
                        say(f"  {'':>8}  | {line}")
            elif kind == "ti.running":
                say(f"  {clock}  {task:<32} running")
            elif kind == "run.finished" and not finished.done():
                finished.set_result(data["state"])

        plane = await start_control_plane(settings, listeners=[show])
        services = plane.services
        try:
            await services.operations.register_dag(document, source_code=source,
                                                fileloc=str(project.file_of(document["dag_id"])),
                                                paused_on_create=False)
            run = await services.operations.trigger_run(document["dag_id"], conf=conf,
                                                        triggered_by="cli")
            target["run_id"] = run.run_id
            say(f"==> run {run.run_id} of {document['dag_id']}")
            try:
                state = await asyncio.wait_for(finished, timeout)
            except TimeoutError:
                say(f"==> gave up after {timeout:g} s")
                state = "timeout"
            results = await _results(services, run.id)
        finally:
            await plane.stop()
    elapsed = time.monotonic() - started
    say(f"==> {document['dag_id']} {state} in {elapsed:.2f} s")
    for task_id, value in results.items():
        text = json.dumps(value)
        say(f"    {task_id:<32} {text if len(text) < 200 else text[:197] + '...'}")
    if as_json:
        say(json.dumps({"dag_id": document["dag_id"], "run_id": target["run_id"],
                        "state": state, "seconds": round(elapsed, 3), "xcom": results}))
    return 0 if state == "success" else 1


def one_off_document(document: dict[str, Any]) -> dict[str, Any]:
    """The DAG as ``leoflow run`` registers it in its throwaway store: without a schedule.

    An unpaused DAG with a schedule gets a scheduled run as soon as it is registered, which
    would run beside the triggered one. The triggered run has no logical date, so its
    context (``ds``, data interval) does not depend on the schedule and setting the schedule
    aside changes nothing else. With ``--database-url`` the DAG is registered unchanged.
    """
    from leoflow.engine.spec.canonical import with_content_hash

    schedule = document.get("schedule") or {}
    if schedule.get("kind", "none") == "none":
        return document
    return with_content_hash({**document, "catchup": False,
                              "schedule": {"kind": "none",
                                           "timezone": schedule.get("timezone", "UTC")}})


async def _results(services: Services, dag_run_id: int) -> dict[str, Any]:
    """The return value of every task instance that pushed one, in task order."""
    from leoflow.engine.store import task_instances

    async with services.store.connect() as conn:
        tis = await task_instances.list_for_run(conn, dag_run_id)
    out: dict[str, Any] = {}
    for ti in tis:
        found = await services.xcom.get(dag_run_id, ti.task_id, "return_value", ti.map_index)
        if found is not None:
            name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            out[name] = found.value
    return out

