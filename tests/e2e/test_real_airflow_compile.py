"""Airflow 3.3.2's example DAGs compiled both ways, compared task by task: with Leoflow's
import shim (no Airflow in the environment) and with the real Airflow (the session's DAG
environment holding apache-airflow 3.3.2 and providers, ``tests/real_airflow.py``).

The example folders come from the two wheels, fetched with pip as in
``test_airflow_examples.py`` (its ``dags_folder`` fixture). The shim side is
``compile_project`` on the folder (one compile child per file). The real side runs the
compile child's own ``compile_file`` on every file with the real environment's interpreter,
one forked process per file after one import of Airflow (``real_airflow_compile_driver.py``:
72 files in ~25 s instead of ~3 s of Airflow import each), and the results go through
the compiler's ``build_document`` as the folder compiler's do.

Compared strictly: every DAG field but the hashes and the runtime marks, and per task its
id, operator kind, upstreams, trigger rule, retries and delays, timeouts, owner, pool,
priority, group, multiple_outputs, callable, mapping, setup/teardown, assets, sensor
settings and line. The fields that differ by design are counted and printed with their
reasons (``EXPLAINED``); any other difference fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.compiler.compile import build_document, compile_project
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.folder import dag_files, folder_config
from tests.e2e.test_airflow_examples import dags_folder  # noqa: F401  (the fixture)
from tests.real_airflow import RealAirflowEnv

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("real_airflow_compile_driver.py")
NOT_COMPARED_DAG = {"content_hash", "source_sha256", "runtime", "airflow_versions", "tasks"}
NOT_COMPARED_TASK = {"runtime", "operator_module"}

# Fields that differ by design, with the reason (printed with their counts).
EXPLAINED = {
    "operator_class": "Airflow's decorators build private classes (_PythonDecoratedOperator, "
                      "_BashDecoratedOperator...): the real spec names them as Airflow's API "
                      "does; the shim's own classes have names without the underscore",
    "options": "the shim's settings for its own runtime (bash skip codes, venv settings, "
               "@asset functions...); under runtime airflow the task runner reads them from "
               "the operator itself",
    "doc": "Airflow's @task makes the function's docstring the task's doc_md; the shim does "
           "not (yet)",
    "sensor.trigger": "the shim waits for time, file, HTTP and external-task sensors with "
                      "Leoflow's control-plane triggers; a real sensor runs its own code",
    "inputs": "an operator's inputs follow the shim operator's own conventions (e.g. "
              "TriggerDagRunOperator's defaults, a HITL body of None); the real spec lists the "
              "operator's templated fields that hold a value; a Python callable's arguments "
              "are compared strictly",
}
# Single tasks whose difference is understood (dag_id, task_id, field) -> reason.
KNOWN = {
    ("example_bash_decorator", "show_dag_folder_stats", "inputs"):
        "the shim carries @task.bash's env (XCom references) under its private key",
    ("example_dynamic_task_mapping_with_no_taskflow_operators", "add_one", "line"):
        "a custom operator's partial().expand(): the real path records the line of the "
        "expand call (61), the shim the innermost frame in the file, the class's "
        "super().__init__ (31)",
    ("example_sensors", "timeout_after_second_date_in_the_future_async", "sensor"):
        "the shim writes no timeout for a sensor its control plane waits for",
    ("example_sensors", "fire_immediately_async", "sensor"):
        "the shim writes no timeout for a sensor its control plane waits for",
}
# Files only the real Airflow compiles: the shim stops at Airflow's server internals.
REAL_ONLY_DAGS = {"example_custom_weight"}
# Files the real path refuses, with what the message names.
REAL_REFUSED = {"example_workday_timetable.py": "AfterWorkdayTimetable"}


@dataclass
class Side:
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # file name -> kind: message
    seconds: float = 0.0


@pytest.fixture(scope="module")
def shim_side(dags_folder: Path) -> Side:  # noqa: F811
    started = time.monotonic()
    project = compile_project(dags_folder, keep_going=True)
    side = Side(seconds=time.monotonic() - started)
    side.documents = {d["dag_id"]: d for d in project.documents}
    side.errors = {Path(e.file or "").name: f"{e.kind}: {e.message}" for e in project.errors}
    return side


@pytest.fixture(scope="module")
def real_side(dags_folder: Path, real_airflow: RealAirflowEnv,  # noqa: F811
              tmp_path_factory: pytest.TempPathFactory) -> Side:
    root = dags_folder.resolve()
    files = dag_files(root)
    out = tmp_path_factory.mktemp("real-compile")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["AIRFLOW_HOME"] = str(out / "airflow-home")  # Airflow writes its folders there
    started = time.monotonic()
    done = subprocess.run([str(real_airflow.python), str(DRIVER), str(root), str(out),
                           *map(str, files)], capture_output=True, text=True, timeout=600,
                          cwd=root, env=env)
    side = Side(seconds=time.monotonic() - started)
    assert done.returncode == 0, done.stderr[-3000:]
    config = folder_config(root)
    for number, path in enumerate(files):
        report_file = out / f"{number}.json"
        assert report_file.is_file(), f"{path.name}: the compile wrote no result"
        report = json.loads(report_file.read_text("utf-8"))
        if not report["ok"]:
            if report["error"]["kind"] != "no_dag":  # a helper module or a plugin
                side.errors[path.name] = f"{report['error']['kind']}: " \
                                         f"{report['error']['message']}"
            continue
        relative = path.relative_to(root).as_posix()
        for raw in report["dags"]:
            try:
                document = build_document({**raw, "fileloc": relative}, config, "", path)
            except CompileError as exc:
                side.errors[path.name] = f"{exc.kind}: {exc.message}"
                continue
            side.documents[document["dag_id"]] = document
    return side


def differences(shim: dict[str, Any], real: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """``(task id or '', field, shim value, real value)`` for every field that differs."""
    found = []
    for key in sorted(set(shim) | set(real)):
        if key not in NOT_COMPARED_DAG and shim.get(key) != real.get(key):
            found.append(("", key, shim.get(key), real.get(key)))
    shim_tasks = {t["task_id"]: t for t in shim["tasks"]}
    real_tasks = {t["task_id"]: t for t in real["tasks"]}
    if list(shim_tasks) != list(real_tasks):
        found.append(("", "task ids", list(shim_tasks), list(real_tasks)))
    for task_id in shim_tasks.keys() & real_tasks.keys():
        a, b = shim_tasks[task_id], real_tasks[task_id]
        for key in sorted((set(a) | set(b)) - NOT_COMPARED_TASK):
            x, y = a.get(key), b.get(key)
            if key == "sensor" and x and y:
                if x.get("trigger") != y.get("trigger"):
                    found.append((task_id, "sensor.trigger", x.get("trigger"), None))
                x = {k: v for k, v in x.items() if k != "trigger"}
                y = {k: v for k, v in y.items() if k != "trigger"}
            if x != y:
                found.append((task_id, key, x, y))
    return found


def explained(dag_id: str, task: dict[str, Any] | None, key: str, real_value: Any) -> bool:
    if task is not None and (dag_id, task["task_id"], key) in KNOWN:
        return True
    if key == "operator_class":
        return str(real_value).startswith("_") and "Decorated" in str(real_value)
    if key == "inputs":
        return task is not None and not task.get("callable")
    return key in EXPLAINED


def test_the_example_dags_compile_to_the_same_specs_both_ways(shim_side: Side,
                                                              real_side: Side) -> None:
    shim, real = shim_side.documents, real_side.documents
    assert set(shim) <= set(real), f"only the shim compiles {sorted(set(shim) - set(real))}"
    assert set(real) - set(shim) == REAL_ONLY_DAGS
    assert set(real_side.errors) == set(REAL_REFUSED), real_side.errors
    for name, what in REAL_REFUSED.items():
        assert what in real_side.errors[name] and "not supported" in real_side.errors[name]

    unexplained: list[str] = []
    counts: Counter[str] = Counter()
    equal = 0
    for dag_id in sorted(shim):
        real_tasks = {t["task_id"]: t for t in real[dag_id]["tasks"]}
        found = differences(shim[dag_id], real[dag_id])
        equal += not found
        for task_id, key, a, b in found:
            task = real_tasks.get(task_id) if task_id else None
            if explained(dag_id, task, key, b):
                counts[key if (dag_id, task_id, key) not in KNOWN else f"{key} (known)"] += 1
            else:
                unexplained.append(f"{dag_id}.{task_id or '<dag>'} {key}: shim {a!r:.300} "
                                   f"real {b!r:.300}")
    tasks = sum(len(d["tasks"]) for d in shim.values())
    print(f"\nshim: {len(shim)} DAGs in {shim_side.seconds:.1f} s; real Airflow: {len(real)} "
          f"DAGs in {real_side.seconds:.1f} s; {equal} of {len(shim)} DAGs equal in every "
          f"field; {tasks} tasks compared")
    for key, count in counts.most_common():
        reason = EXPLAINED.get(key.split(" ")[0], "see KNOWN")
        print(f"  {count:4d} x {key}: {reason}")
    print(f"  refused by the real path: {real_side.errors}")
    assert unexplained == [], "\n".join(unexplained)
    # the structure the scheduler runs on is equal for every DAG: no task ids, upstreams,
    # trigger rules, retries, mapping, groups, schedules or assets among the differences
    assert not {k for k in counts if k.split(" ")[0] in {
        "upstream", "trigger_rule", "retries", "expand", "group_id", "schedule", "assets",
        "operator", "task ids"}}
