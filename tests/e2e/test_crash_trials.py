"""Crash trials: kill -9 of ``leoflow-server`` in the middle of runs, on SQLite and on
PostgreSQL, and check that nothing was lost, nothing ran twice, and no try was spent for
nothing (issue 15, "Crash consistency"; docs/security.md).

Real parts throughout: ``leoflow-server --dags-folder`` processes one after the other on one
store, their subprocess agents (which outlive the server), the user's tasks in the DAG's
environment, SIGKILL, SIGSTOP/SIGCONT, the REST API. Each task of the DAG records its side
effect in a file (run, task, try, start and end times, pid), so the test sees what really
ran, not what the store believes.

A trial triggers one run, then kills the server at one of these moments (seeded RNG):

- ``random``: after a random delay, with tasks queued, starting, running and reporting;
- ``after_report``: the server kills itself just after answering the N-th ``ReportState``
  (the test-only fault point ``LEOFLOW_TEST_FAULTS``): the answer the agent got must hold;
- ``frozen``: a task's freshly started agent is stopped (SIGSTOP) before it authenticates
  (``LEOFLOW_TEST_FREEZE_AGENT``), the server is killed and restarted, and the agent is
  thawed once the new server has launched the try again: it must be refused, not run.

The next server (same store, same agent port) must finish the run. Checked per run: it
ended (success: every task of the DAG succeeds when it runs); each task's side effect
happened exactly as many times as it has successful tries (once); no two tries of one task
overlapped; no try is recorded failed without having started; ``retries=0`` tasks that
never ran were run, not failed. The figures are printed (and quoted in docs/security.md).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_push_to_pro import free_port

pytestmark = pytest.mark.slow

TRIALS = int(os.environ.get("LEOFLOW_CRASH_TRIALS", "20"))
SEED = int(os.environ.get("LEOFLOW_CRASH_SEED", "15"))
PASSWORD = "crash-trials-password-15"
DAG_ID = "crash_trials"
TASKS = ["first", *(f"middle_{i}" for i in range(8)), "last"]
NO_RETRIES = {"first", "middle_0", "middle_2", "middle_4", "middle_6", "last"}
DAG = '''
import os
import time

import pendulum
from airflow.sdk import DAG, task

EFFECTS = {effects!r}
SECONDS = 0.4


def effect(context):
    ti = context["ti"]
    line = f"{{ti.run_id}} {{ti.task_id}} {{ti.try_number}} {{os.getpid()}}"
    with open(EFFECTS, "a") as out:
        out.write(f"start {{line}} {{time.time()}}\\n")
    time.sleep(SECONDS)
    with open(EFFECTS, "a") as out:
        out.write(f"end {{line}} {{time.time()}}\\n")


with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         max_active_tasks=16):
    @task(task_id="first")
    def first(**context):
        effect(context)

    @task(task_id="last")
    def last(**context):
        effect(context)

    middles = []
    for i in range(8):
        @task(task_id=f"middle_{{i}}", retries=0 if i % 2 == 0 else 2, retry_delay=1)
        def middle(**context):
            effect(context)
        middles.append(middle())
    first() >> middles >> last()
'''


@dataclass
class Server:
    """One ``leoflow-server`` process of the trials (they follow one another)."""

    process: subprocess.Popen[bytes]
    port: int

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Figures:
    trials: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    frozen_ran: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self, backend: str) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        return (f"crash trials on {backend}: {self.trials} trials ({kinds}) in "
                f"{self.seconds:.0f} s: lost {len(self.lost)}, duplicated "
                f"{len(self.duplicated)}, phantom {len(self.phantom)}, overlapping "
                f"{len(self.overlapping)}, unfinished runs {len(self.unfinished)}, failed "
                f"runs {len(self.failed_runs)}, frozen agents that ran {len(self.frozen_ran)}")


class Trials:
    """The servers of one backend, their store, and what the tasks left in the file."""

    def __init__(self, tmp_path: Path, database_url: str | None) -> None:
        self.folder, self.home = tmp_path / "dags", tmp_path / "home"
        self.folder.mkdir()
        self.home.mkdir()
        self.frozen_dir = tmp_path / "frozen"
        self.frozen_dir.mkdir()
        self.faults = tmp_path / "faults"  # armed by a trial, read by the server
        self.freeze = tmp_path / "freeze"
        self.effects = tmp_path / "effects.txt"
        self.effects.touch()
        (self.folder / f"{DAG_ID}.py").write_text(
            textwrap.dedent(DAG.format(effects=str(self.effects), dag_id=DAG_ID)), "utf-8")
        self.database_url = database_url
        self.log = tmp_path / "server.log"
        self.port = free_port()
        self.server: Server | None = None
        self.startups: list[float] = []  # seconds each server took to answer

    def start(self, env: dict[str, str] | None = None, *, register: bool = False) -> Server:
        """A server on the store; ``register``: compile and register the DAGs folder (the
        first one only: the DAG stays registered, and later starts skip the compile)."""
        # LEOFLOW_ZYGOTE*: the trials run with zygotes on when the test run asks for them
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith("LEOFLOW_") or k.startswith("LEOFLOW_ZYGOTE")}
        clean.update(LEOFLOW_HOME=str(self.home), LEOFLOW_BOOTSTRAP_PASSWORD=PASSWORD,
                     PYTHONUNBUFFERED="1", LEOFLOW_TEST_FAULTS=f"@{self.faults}",
                     LEOFLOW_TEST_FREEZE_AGENT=f"@{self.freeze}", **(env or {}))
        command = [sys.executable, "-m", "leoflow.app.server", "--host", "127.0.0.1",
                   "--port", str(self.port)]
        if register:
            command += ["--dags-folder", str(self.folder)]
        if self.database_url:
            command += ["--database-url", self.database_url]
        with self.log.open("ab") as sink:
            sink.write(f"---- {datetime.now()} start {env or {}}\n".encode())
            process = subprocess.Popen(command, env=clean, stdout=sink,
                                       stderr=subprocess.STDOUT, cwd=self.home.parent)
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, self.log.read_text("utf-8", "replace")[-4000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/v2/version", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "leoflow-server did not start"
            time.sleep(0.1)
        self.server = Server(process, self.port)
        self.startups.append(time.monotonic() - (deadline - 120))
        return self.server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        token = httpx.post(f"{self.url}/auth/token", timeout=30,
                           json={"username": "admin", "password": PASSWORD}
                           ).json()["access_token"]
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})

    def trigger(self, api: httpx.Client, run_id: str) -> None:
        api.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={
            "dag_run_id": run_id, "logical_date": datetime.now(UTC).isoformat(),
            "conf": {}}).raise_for_status()

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.effects.read_text().splitlines() if line]


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


def run_state(api: httpx.Client, run_id: str) -> str:
    return api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json().get("state")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def run_trials(tmp_path: Path, database_url: str | None, backend: str) -> Figures:
    rng = random.Random(SEED)
    trials = Trials(tmp_path, database_url)
    figures = Figures()
    began = time.monotonic()
    kinds = ["random", "after_report", "frozen"]
    plan = [kinds[i % 3] if i < 6 else rng.choice(kinds) for i in range(TRIALS)]
    server = trials.start(register=True)
    with trials.api() as api:
        wait_until(lambda: api.get(f"/api/v2/dags/{DAG_ID}").status_code == 200, 120,
                   "the DAG's registration")
        api.patch(f"/api/v2/dags/{DAG_ID}", params={"update_mask": "is_paused"},
                  json={"is_paused": False}).raise_for_status()
    frozen: dict[str, int] = {}  # run id -> pid of its frozen agent
    frozen_tasks: dict[str, str] = {}  # run id -> the task whose agent was frozen
    for number, kind in enumerate(plan):
        run_id = f"trial_{number:02d}_{kind}"
        figures.kinds[kind] += 1
        # arm this trial's fault in the running server (the previous run has ended)
        if kind == "after_report":
            trials.faults.write_text(f"reported={rng.randint(1, len(TASKS))} #{run_id}")
        elif kind == "frozen":
            frozen_tasks[run_id] = rng.choice(TASKS[:9])
            trials.freeze.write_text(f"{frozen_tasks[run_id]}:{trials.frozen_dir}")
        with trials.api() as api:
            trials.trigger(api, run_id)
            if kind == "random":
                time.sleep(rng.uniform(0.1, 3.0))
            elif kind == "after_report":
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.process.wait(30)  # it kills itself after the N-th answer
            else:
                pid_file = wait_until(
                    lambda: next((p for p in trials.frozen_dir.glob("*.pid")
                                  if p.read_text().strip()), None), 30, "a frozen agent")
                frozen[run_id] = int(pid_file.read_text())
                pid_file.rename(pid_file.with_suffix(".done"))
        server.kill()
        trials.faults.unlink(missing_ok=True)
        trials.freeze.unlink(missing_ok=True)
        server = trials.start()  # the same store, the same agent port
        with trials.api() as api:
            if run_id in frozen:
                # the restarted server launched the try again, then the old agent wakes
                task, pid = frozen_tasks[run_id], frozen[run_id]
                wait_until(lambda r=run_id, t=task: any(
                    f[:3] == ["start", r, t] for f in trials.lines()) or
                    run_state(api, r) in ("success", "failed"), 60,
                    "the frozen try launched again")
                os.kill(pid, signal.SIGCONT)
                wait_until(lambda p=pid: not alive(p), 30, "the thawed agent's end")
            try:
                wait_until(lambda r=run_id: run_state(api, r) in ("success", "failed"), 90,
                           f"the end of {run_id}")
            except AssertionError:
                figures.unfinished.append(run_id)
        figures.trials += 1
        print(f"{backend} trial {number} {kind}: at {time.monotonic() - began:.1f} s, "
              f"last startups {[round(x, 1) for x in trials.startups[-2:]]}", flush=True)
    with trials.api() as api:
        check(api, trials, plan, figures, frozen, frozen_tasks)
    server.kill()
    figures.seconds = time.monotonic() - began
    print(figures.summary(backend))
    if figures.lost or figures.duplicated or figures.phantom or figures.failed_runs:
        # what the servers said about it (pytest's temporary folders do not last)
        print("\n".join(line for line in trials.log.read_text("utf-8", "replace").splitlines()
                        if " WARNING " in line or " ERROR " in line or line.startswith("----")))
    return figures


def check(api: httpx.Client, trials: Trials, plan: list[str], figures: Figures,
          frozen: dict[str, int], frozen_tasks: dict[str, str]) -> None:
    """Compare what ran (the effects file) with what the store recorded."""
    effects: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for fields in trials.lines():
        effects[(fields[1], fields[2])].append(fields)
    for number, kind in enumerate(plan):
        run_id = f"trial_{number:02d}_{kind}"
        if run_state(api, run_id) != "success":
            figures.failed_runs.append(run_id)
        for task_id in TASKS:
            tries = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/"
                            f"{task_id}/tries").json()["task_instances"]
            recorded = {t["try_number"]: t["state"] for t in tries}
            mine = effects[(run_id, task_id)]
            started = {int(f[3]) for f in mine if f[0] == "start"}
            ended = [int(f[3]) for f in mine if f[0] == "end"]
            successes = sum(1 for s in recorded.values() if s == "success")
            name = f"{run_id}.{task_id}"
            if len(ended) > successes:
                (figures.duplicated if len(ended) > 1 else figures.lost).append(
                    f"{name}: side effect {len(ended)}x, tries {recorded}")
            if len(ended) < successes:
                figures.lost.append(f"{name}: {successes} successful tries, side effect "
                                    f"{len(ended)}x")
            for try_number, state in recorded.items():
                if state in ("failed", "up_for_retry") and try_number not in started:
                    figures.phantom.append(f"{name}: try {try_number} {state}, never started")
            if task_id in NO_RETRIES and not started:
                figures.phantom.append(f"{name}: retries=0 task never ran ({recorded})")
            spans = sorted((float(f[5]), f) for f in mine if f[0] == "start")
            ends = {(f[3], f[4]): float(f[5]) for f in mine if f[0] == "end"}
            for (_, one), (later, other) in itertools.pairwise(spans):
                finished = ends.get((one[3], one[4]))
                if finished is None or finished > later:
                    figures.overlapping.append(f"{name}: tries {one[3]} and {other[3]}")
        if run_id in frozen:
            # the user code of the thawed agent would be a second start of that task
            task_id = frozen_tasks[run_id]
            if sum(1 for f in effects[(run_id, task_id)] if f[0] == "start") > 1:
                figures.frozen_ran.append(f"{run_id}.{task_id}")


def assert_clean(figures: Figures) -> None:
    assert figures.trials == TRIALS
    problems = {"lost": figures.lost, "duplicated": figures.duplicated,
                "phantom": figures.phantom, "overlapping": figures.overlapping,
                "unfinished": figures.unfinished, "failed runs": figures.failed_runs,
                "frozen agents that ran": figures.frozen_ran}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def test_crash_trials_on_sqlite(tmp_path: Path) -> None:
    assert_clean(run_trials(tmp_path, None, "SQLite"))


def test_crash_trials_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    assert_clean(run_trials(tmp_path, postgres_url, "PostgreSQL"))
