"""Drive ``python -m leoflow.sdk.task_runner`` through its channel, as the agent does.

A small synchronous stand-in for the agent's side: it writes the task payload, answers
``xcom_pull``/``xcom_push`` from an in-memory dict, and collects the final message, stdout,
stderr and the exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

CONTEXT = {
    "ds": "2024-03-05", "ds_nodash": "20240305", "ts": "2024-03-05T00:00:00+00:00",
    "logical_date": "2024-03-05T00:00:00+00:00",
    "data_interval_start": "2024-03-05T00:00:00+00:00",
    "data_interval_end": "2024-03-05T00:00:00+00:00", "run_id": "manual__2024-03-05",
    "run_type": "manual", "params": {"factor": 3}, "conf": {"who": "conf"},
    "dag_id": "demo", "task_id": "t", "map_index": -1, "try_number": 1,
}


@dataclass
class RunnerResult:
    final: dict[str, Any] | None
    requests: list[dict[str, Any]]
    stdout: str
    stderr: str
    returncode: int
    pushed: dict[str, Any] = field(default_factory=dict)


def write_dag(tmp_path: Path, source: str) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "dag.py").write_text(textwrap.dedent(source), "utf-8")
    return project


def run_task(project: Path, task_id: str, *, dag_id: str = "demo", args: list[Any] = (),
             kwargs: dict[str, Any] | None = None, operator: str = "python",
             multiple_outputs: bool = False, xcoms: dict[str, Any] | None = None,
             env: dict[str, str] | None = None, context: dict[str, Any] | None = None,
             timeout: float = 30.0) -> RunnerResult:
    """Run one task; ``xcoms`` maps task ids to the entry PullXCom would return."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    child_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
                 "LEOFLOW_CHANNEL_IN": str(in_r), "LEOFLOW_CHANNEL_OUT": str(out_w),
                 **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "leoflow.sdk.task_runner"], cwd=project, env=child_env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        pass_fds=(in_r, out_w))
    os.close(in_r)
    os.close(out_w)
    to_runner = os.fdopen(in_w, "w", encoding="utf-8")
    from_runner = os.fdopen(out_r, "r", encoding="utf-8")
    payload = {"op": "task", "project_dir": str(project), "dag_file": "dag.py",
               "dag_id": dag_id, "task_id": task_id, "run_id": "manual__2024-03-05",
               "map_index": -1, "try_number": 1, "max_tries": 0, "operator": operator,
               "multiple_outputs": multiple_outputs, "args": list(args),
               "kwargs": kwargs or {}, "context": {**CONTEXT, **(context or {})}}
    to_runner.write(json.dumps(payload) + "\n")
    to_runner.flush()
    requests: list[dict[str, Any]] = []
    pushed: dict[str, Any] = {}
    final = None
    for line in from_runner:
        message = json.loads(line)
        if message["op"] in ("result", "skip", "error"):
            final = message
            continue
        requests.append(message)
        if message["op"] == "xcom_pull":
            if "missing" in message["task_ids"]:
                reply = {"ok": False, "error": {"type": "NotFound", "message": "no such task"}}
            else:
                reply = {"ok": True,
                         "value": [(xcoms or {}).get(t) for t in message["task_ids"]]}
        else:
            pushed[message["key"]] = message["value"]
            reply = {"ok": True, "value": None}
        to_runner.write(json.dumps({"op": "reply", "id": message["id"], **reply}) + "\n")
        to_runner.flush()
    stdout, stderr = process.communicate(timeout=timeout)
    to_runner.close()
    from_runner.close()
    return RunnerResult(final, requests, stdout.decode(), stderr.decode(), process.returncode,
                        pushed)
