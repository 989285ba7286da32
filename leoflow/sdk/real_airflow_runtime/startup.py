"""The task runner's startup, done with Airflow's own pieces from Leoflow's payload.

Airflow's supervisor sends its runner a ``StartupDetails`` (the task instance, the DAG
file's path in its bundle, the ``TIRunContext`` the server returned when the try started),
and the runner's ``parse()`` reads the DAG file with a ``BundleDagBag`` and builds a
``RuntimeTaskInstance``. Here the same objects are made from the payload the agent sent:
the project folder is the bundle (a ``LocalDagBundle``), and the run's dates, conf, try
number and max tries come from the control plane's context, so ``get_template_context()``
(Airflow's own) gives the task the context Airflow would.
"""

from __future__ import annotations

import importlib
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BUNDLE_NAME = "leoflow"


class StartupError(RuntimeError):
    """The DAG file does not (any more) define the DAG or the task the payload names, or
    it failed to import: what Airflow's runner logs before it exits with 1."""


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _uuid(*parts: Any) -> uuid.UUID:
    """A stable id for this try (Airflow's ids are the server's; a try has none here)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "leoflow:" + "/".join(str(p) for p in parts))


# DAGs parsed before the try, by the DAG version's zygote (``preload``), per (path, dag_id):
# its forked children find theirs here instead of parsing the file again
PARSED: dict[tuple[str, str], Any] = {}
PARSING_DAG_ID_ENV = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"  # what Airflow's parse leaves set


def load_dag(project_dir: str, dag_file: str, dag_id: str) -> Any:
    """The DAG object, parsed as Airflow's worker parses it (``BundleDagBag``), or the one
    the zygote parsed from the same file before forking this process."""
    path = os.path.join(project_dir, dag_file)
    cached = PARSED.get((path, dag_id))
    if cached is not None:
        os.environ[PARSING_DAG_ID_ENV] = dag_id  # as the parse leaves it in a fresh process
        return cached
    dagbag = importlib.import_module("airflow.dag_processing.dagbag")
    parsing = importlib.import_module(
        "airflow.sdk.definitions._internal.dag_parsing_context")
    with parsing._airflow_parsing_context_manager(dag_id=dag_id):
        bag = dagbag.BundleDagBag(dag_folder=path, safe_mode=False, load_op_links=False,
                                  bundle_path=Path(project_dir), bundle_name=BUNDLE_NAME)
    if dag_id not in bag.dags:
        errors = "; ".join(f"{k}: {v.strip().splitlines()[-1] if v.strip() else v}"
                           for k, v in bag.import_errors.items())
        raise StartupError(
            f"{dag_file} defines no DAG {dag_id!r} (it defines: "
            f"{', '.join(sorted(bag.dags)) or 'none'})"
            + (f"; import errors: {errors}" if errors else
               "; was the file changed since it was compiled?"))
    return bag.dags[dag_id]


def find_templates_beside_the_source(dag: Any, dag_folder: str | None, project_dir: str) -> None:
    """Template files (``sql/query.sql`` with ``template_ext``) are found beside the DAG
    file in its project, as in Airflow: the try runs the run's pinned copy of the file,
    whose folder holds only the code, so the DAG's folder in the project and the project
    folder join the end of ``template_searchpath`` (the agent's search path for the shim)."""
    current = dag.template_searchpath
    paths = [current] if isinstance(current, str) else list(current or [])
    for extra in (dag_folder, project_dir):
        if extra and extra not in paths:
            paths.append(extra)
    dag.template_searchpath = paths


def _bundle(project_dir: str) -> Any:
    local = importlib.import_module("airflow.dag_processing.bundles.local")
    return local.LocalDagBundle(name=BUNDLE_NAME, path=project_dir)


def run_context(payload: dict[str, Any]) -> Any:
    """The ``TIRunContext`` the Task Execution API would have returned for this try."""
    models = importlib.import_module("airflow.sdk.api.datamodels._generated")
    raw = dict(payload.get("context") or {})
    run_after = _datetime(raw.get("run_after")) or datetime.now(timezone.utc)
    run_type = str(raw.get("run_type") or "manual")
    if run_type not in {t.value for t in models.DagRunType}:
        run_type = "manual"
    dag_run = models.DagRun(
        dag_id=payload["dag_id"], run_id=str(payload.get("run_id") or raw.get("run_id")),
        logical_date=_datetime(raw.get("logical_date")),
        data_interval_start=_datetime(raw.get("data_interval_start")),
        data_interval_end=_datetime(raw.get("data_interval_end")),
        run_after=run_after, start_date=run_after, end_date=None,
        run_type=models.DagRunType(run_type), state=models.DagRunState.RUNNING,
        conf=dict(raw.get("conf") or {}), consumed_asset_events=[],
        partition_key=(raw.get("dag_run") or {}).get("partition_key"))
    try_number = int(payload.get("try_number") or 1)
    max_tries = int(payload.get("max_tries") or 0)
    next_method = str(payload.get("next_method") or "") or None
    # a reschedule-mode sensor's later pokes: Airflow then asks when the first one was
    # (GetTaskRescheduleStartDate), to measure its timeout from there
    rescheduled = float(payload.get("first_poke_at") or 0.0) > 0
    return models.TIRunContext(
        dag_run=dag_run, max_tries=max_tries, should_retry=try_number <= max_tries,
        task_reschedule_count=1 if rescheduled else 0,
        next_method=next_method,
        next_kwargs=dict(payload.get("next_kwargs") or {}) if next_method else None)


def task_instance(payload: dict[str, Any], task: Any) -> Any:
    """The ``RuntimeTaskInstance``, built as the runner's ``parse()`` builds it."""
    runner = importlib.import_module("airflow.sdk.execution_time.task_runner")
    state = importlib.import_module("airflow.sdk.api.datamodels._generated").TaskInstanceState
    project_dir = os.path.abspath(payload.get("project_dir") or os.getcwd())
    context = run_context(payload)
    dag_id, run_id = payload["dag_id"], context.dag_run.run_id
    map_index = int(payload.get("map_index", -1))
    try_number = int(payload.get("try_number") or 1)
    return runner.RuntimeTaskInstance.model_construct(
        id=_uuid(dag_id, run_id, payload["task_id"], map_index, try_number),
        task_id=payload["task_id"], dag_id=dag_id, run_id=run_id, try_number=try_number,
        dag_version_id=_uuid(dag_id, payload.get("dag_file")), map_index=map_index,
        task=task, bundle_instance=_bundle(project_dir), _ti_context_from_server=context,
        max_tries=context.max_tries, start_date=datetime.now(timezone.utc),
        state=state.RUNNING, sentry_integration="")


def preload(project_dir: str, dag_file: str, dag_id: str,
            prepare: Any = None) -> None:
    """In a DAG version's zygote (``leoflow.sdk.zygote``), before it forks: import what
    Airflow's runner needs (its task SDK, ``task_runner``, the logging set-up) and parse the
    DAG file once, so that each forked try skips the 2 to 6 s of CPU a fresh interpreter
    spends there. ``prepare`` is the runner's environment set-up (``_prepare_environment``),
    passed in by the zygote. Raises what the parse raises (the try's normal start then
    reports it)."""
    project_dir = os.path.abspath(project_dir)
    if prepare is not None:
        prepare(project_dir)
    for name in WARM_MODULES:
        importlib.import_module(name)
    PARSED[(os.path.join(project_dir, dag_file), dag_id)] = load_dag(project_dir, dag_file,
                                                                     dag_id)


# modules the runner's start-up (``run``, ``task_instance``) imports after the parse:
# imported by the zygote, a try forked from it finds them loaded (a short list read off
# runner.py and this module, not a measured one)
WARM_MODULES: tuple[str, ...] = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.dag_processing.bundles.local",
    "airflow.sdk.api.datamodels._generated",
    "airflow.sdk.definitions.mappedoperator",
)
