"""Ctrl-C (SIGINT) to a real ``leoflow lite`` drains its scheduler (``Scheduler.drain``):
the running task is failed with Lite's reason, and a task that becomes due while Lite
stops (an ``all_done`` cleanup downstream of it) is recorded failed, never started: no
agent, no start date, no host. The store is whole: the run is failed and the next start
comes up with it."""

from __future__ import annotations

import signal

import pytest

from tests.integration.lite.conftest import LiteDirs, wait_until, write_project
from tests.integration.lite.test_lite_command import (
    registered_dags,
    run_state,
    ti_state,
    trigger,
)

pytestmark = pytest.mark.slow

NAP_THEN_CLEANUP = """
@task
def nap() -> int:
    import time
    time.sleep(60)
    return 1

@task(trigger_rule="all_done")
def cleanup() -> str:
    return "cleaned"

nap() >> cleanup()
"""


def test_ctrl_c_starts_nothing_once_lite_is_stopping(bare_lite_dirs: LiteDirs,
                                                      start_lite: object) -> None:
    dirs = bare_lite_dirs
    write_project(dirs.workspace, "napper", NAP_THEN_CLEANUP)
    lite = start_lite(dirs)  # type: ignore[operator]
    lite.wait_ready()
    with lite.login() as client:
        wait_until(lambda: "napper" in registered_dags(client), message="registration")
        run_id = trigger(client, "napper")
    wait_until(lambda: ti_state(dirs, "napper", run_id, "nap") == "running", timeout=30,
               message="nap running")
    assert lite.stop(signal.SIGINT) == 0
    assert "cancelled 1 running task instance" in lite.output
    assert run_state(dirs, "napper", run_id) == "failed"
    rows = dirs.query("SELECT task_id, state, start_date, hostname, pid FROM task_instance "
                      "WHERE dag_id = 'napper' AND run_id = ? ORDER BY task_id", run_id)
    (cleanup, nap) = rows
    assert nap[:2] == ("nap", "failed") and nap[2] is not None
    assert cleanup == ("cleanup", "failed", None, None, None)  # never started
    errors = dict(dirs.query("SELECT task_id, error FROM task_instance_history "
                             "WHERE dag_id = 'napper' AND run_id = ?", run_id))
    assert "Lite was stopped" in errors["nap"]
    assert "not started" in errors["cleanup"]
    again = start_lite(dirs)  # type: ignore[operator]
    again.wait_ready()
    assert run_state(dirs, "napper", run_id) == "failed"  # nothing resumed or retried
    assert again.stop() == 0
