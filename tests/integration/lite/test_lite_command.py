"""``leoflow lite`` end to end, in a subprocess with its home and workspace in a temporary
folder: first and later starts, passwords, backup and restore, hot reload through the real
command, Ctrl-C during a running task, and a restart after ``kill -9``."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.lite.conftest import (
    SLEEPER,
    LiteDirs,
    dag_source,
    run_cli,
    wait_until,
    write_project,
)

pytestmark = pytest.mark.slow

EXAMPLE_COUNT = len([p for p in (Path(__file__).parents[3] / "examples").iterdir()
                     if (p / "leoflow.yaml").is_file()])


def registered_dags(client: httpx.Client) -> set[str]:
    answer = client.get("/api/v2/dags", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return {d["dag_id"] for d in answer.json()["dags"]}


def trigger(client: httpx.Client, dag_id: str) -> str:
    answer = client.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["dag_run_id"])


def ti_state(dirs: LiteDirs, dag_id: str, run_id: str, task_id: str) -> str | None:
    rows = dirs.query("SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? "
                      "AND task_id = ?", dag_id, run_id, task_id)
    return rows[0][0] if rows else None


def run_state(dirs: LiteDirs, dag_id: str, run_id: str) -> str | None:
    rows = dirs.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?",
                      dag_id, run_id)
    return rows[0][0] if rows else None


def test_first_start_sets_everything_up_and_later_starts_reuse_it(
        lite_dirs: LiteDirs, start_lite: object) -> None:
    lite = start_lite(lite_dirs)  # type: ignore[operator]
    lite.wait_ready()
    assert lite.password, lite.output
    assert f"copied {EXAMPLE_COUNT * 2} example files" in lite.output
    assert (lite_dirs.workspace / "examples" / "hello" / "dag.py").is_file()
    with lite.login() as client:
        wait_until(lambda: len(registered_dags(client)) == EXAMPLE_COUNT, timeout=90,
                   message="every example registered")
        hello = client.get("/api/v2/dags/hello").json()
        assert hello["is_paused"] is False
    stored = lite_dirs.query("SELECT password_hash FROM user_account WHERE username='admin'")
    assert stored[0][0].startswith("$argon2") and lite.password not in stored[0][0]
    assert lite.stop() == 0
    assert "Leoflow Lite stopped" in lite.output

    again = start_lite(lite_dirs)  # type: ignore[operator]
    again.wait_ready()
    assert again.password is None and "password from the first start" in again.output
    assert "example files" not in again.output
    with again.login(lite.password) as client:
        assert len(registered_dags(client)) == EXAMPLE_COUNT
        versions = client.get("/api/leoflow/dags/hello/versions").json()
        assert versions["total_entries"] == 1  # unchanged files: no new version
    assert again.stop() == 0


def test_passwords_hot_reload_backup_and_restore(bare_lite_dirs: LiteDirs,
                                                 start_lite: object) -> None:
    dirs = bare_lite_dirs
    project = write_project(dirs.workspace, "sleeper", SLEEPER.format(seconds=0))
    lite = start_lite(dirs)  # type: ignore[operator]
    lite.wait_ready()
    first_password = lite.password
    with lite.login() as client:
        wait_until(lambda: "sleeper" in registered_dags(client), message="registration")

        # Hot reload through the real command: save, and a new version is served (still
        # number 1: a save replaces the draft no run has pinned).
        def versions() -> list[dict[str, object]]:
            return client.get("/api/leoflow/dags/sleeper/versions").json()["versions"]

        (first,) = versions()
        saved = time.monotonic()
        (project / "dag.py").write_text(dag_source("sleeper", SLEEPER.format(seconds=0.1)),
                                        "utf-8")
        wait_until(lambda: [(v["version_number"], v["content_hash"] != first["content_hash"])
                            for v in versions()] == [(1, True)], timeout=5, interval=0.02,
                   message="the saved version of sleeper")
        print(f"save → new version through the API: {time.monotonic() - saved:.3f} s")

    # A second Lite on the same home is refused.
    second = run_cli(dirs, "--workspace", str(dirs.workspace), "--port", "0", "--no-browser")
    assert second.returncode == 1 and "already running" in second.stderr

    reset = run_cli(dirs, "reset-password")
    assert reset.returncode == 0, reset.stderr
    new_password = reset.stdout.split("new password for admin: ")[1].split()[0]
    assert new_password != first_password
    refused = httpx.post(f"{lite.url}/auth/token",
                         json={"username": "admin", "password": first_password})
    assert refused.status_code == 401
    lite.login(new_password).close()
    unknown = run_cli(dirs, "reset-password", "--username", "nobody")
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr

    archive = dirs.root / "lite-backup.tar.gz"
    backup = run_cli(dirs, "backup", str(archive))  # while Lite runs
    assert backup.returncode == 0, backup.stderr
    refused_restore = run_cli(dirs, "restore", str(archive))
    assert refused_restore.returncode == 1 and "is running" in refused_restore.stderr
    assert lite.stop() == 0

    # Lose work, then restore it.
    (project / "dag.py").write_text("lost\n", "utf-8")
    dirs.database.unlink()
    restored = run_cli(dirs, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "previous state is kept" in restored.stdout
    assert "0.1" in (project / "dag.py").read_text("utf-8")
    lite = start_lite(dirs)  # type: ignore[operator]
    lite.wait_ready()
    assert lite.password is None  # the restored store has its admin
    with lite.login(new_password) as client:
        versions = client.get("/api/leoflow/dags/sleeper/versions").json()
        assert versions["total_entries"] == 1
        assert versions["versions"][0]["content_hash"] != first["content_hash"]
    assert lite.stop() == 0


def test_ctrl_c_cancels_a_running_task_and_records_it(bare_lite_dirs: LiteDirs,
                                                      start_lite: object) -> None:
    dirs = bare_lite_dirs
    write_project(dirs.workspace, "sleeper", SLEEPER.format(seconds=60))
    lite = start_lite(dirs)  # type: ignore[operator]
    lite.wait_ready()
    with lite.login() as client:
        wait_until(lambda: "sleeper" in registered_dags(client), message="registration")
        run_id = trigger(client, "sleeper")
    wait_until(lambda: ti_state(dirs, "sleeper", run_id, "nap") == "running", timeout=30,
               message="nap running")
    [(pid,)] = dirs.query("SELECT pid FROM task_instance WHERE task_id = 'nap'")
    started = time.monotonic()
    assert lite.stop(signal.SIGINT) == 0
    print(f"Ctrl-C → exit: {time.monotonic() - started:.2f} s")
    assert "cancelled 1 running task instance" in lite.output
    assert ti_state(dirs, "sleeper", run_id, "nap") == "failed"
    assert ti_state(dirs, "sleeper", run_id, "after") == "upstream_failed"
    assert run_state(dirs, "sleeper", run_id) == "failed"
    errors = dirs.query("SELECT error FROM task_instance_history WHERE task_id = 'nap'")
    assert errors and "Lite was stopped" in errors[0][0]
    if pid:  # the agent is gone too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # The store is intact: a new start comes up with it.
    again = start_lite(dirs)  # type: ignore[operator]
    again.wait_ready()
    assert again.stop() == 0


def test_after_kill_9_the_next_start_reconciles_the_run(bare_lite_dirs: LiteDirs,
                                                        start_lite: object) -> None:
    dirs = bare_lite_dirs
    write_project(dirs.workspace, "sleeper", SLEEPER.format(seconds=4))
    lite = start_lite(dirs)  # type: ignore[operator]
    lite.wait_ready()
    with lite.login() as client:
        wait_until(lambda: "sleeper" in registered_dags(client), message="registration")
        run_id = trigger(client, "sleeper")
    wait_until(lambda: ti_state(dirs, "sleeper", run_id, "nap") == "running", timeout=30,
               message="nap running")
    lite.kill()  # SIGKILL: no cleanup at all
    assert ti_state(dirs, "sleeper", run_id, "nap") == "running"

    again = start_lite(dirs)  # type: ignore[operator]
    again.wait_ready()
    # The agent kept running, reconnects to the same gRPC port (Lite remembers it), and
    # reports its result to the new process: the try succeeds once, it is not run again.
    final = wait_until(lambda: run_state(dirs, "sleeper", run_id)
                       in ("success", "failed") and run_state(dirs, "sleeper", run_id),
                       timeout=60, message="the run reconciled")
    tries = dirs.query("SELECT try_number, state, error FROM task_instance_history "
                       "WHERE task_id = 'nap' ORDER BY try_number")
    assert final == "success", tries
    assert tries == [(1, "success", None)]
    assert ti_state(dirs, "sleeper", run_id, "after") == "success"
    assert again.stop() == 0


@pytest.fixture
def home_outside_pytest(bare_lite_dirs: LiteDirs) -> Iterator[LiteDirs]:
    """A home outside pytest's temporary root. Run as root, pgserver runs PostgreSQL as
    another user, which must traverse the path to its data; pytest resets its root folder
    to mode 700 whenever a pytest session starts (another suite running at the same time)."""
    home = Path(tempfile.mkdtemp(prefix="leoflow-lite-pg-"))
    bare_lite_dirs.home = home
    bare_lite_dirs.env["LEOFLOW_HOME"] = str(home)
    yield bare_lite_dirs
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.postgres
def test_the_embedded_postgres_is_started_and_stopped_with_lite(
        home_outside_pytest: LiteDirs, start_lite: object) -> None:
    pytest.importorskip("pgserver", reason="--postgres embedded needs the lite-postgres extra")
    dirs = home_outside_pytest
    write_project(dirs.workspace, "sleeper", SLEEPER.format(seconds=0))
    lite = start_lite(dirs, "--postgres", "embedded")  # type: ignore[operator]
    lite.wait_ready(timeout=90)
    assert "store      PostgreSQL" in lite.output
    with lite.login() as client:
        wait_until(lambda: "sleeper" in registered_dags(client), message="registration")
    assert lite.stop() == 0
    assert (dirs.home / "pgdata" / "PG_VERSION").exists()
    assert not (dirs.home / "leoflow.db").exists()
    assert not (dirs.home / "pgdata" / "postmaster.pid").exists()  # stopped with Lite
    # The choice is remembered: the next start (no flag) uses the same store.
    again = start_lite(dirs)  # type: ignore[operator]
    again.wait_ready(timeout=90)
    assert "store      PostgreSQL" in again.output and again.password is None
    assert again.stop() == 0


AIRFLOW_FILE = '''
import pendulum
from airflow.sdk import DAG, task
from helpers.words import shout

for name in ("airflow_daily", "airflow_hourly"):
    with DAG(name, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        @task
        def hello() -> str:
            return shout("hello")
        hello()
'''


def test_lite_on_a_plain_airflow_folder_runs_its_dags_and_leaves_it_alone(
        lite_dirs: LiteDirs, start_lite: object) -> None:
    """``leoflow lite --workspace ~/airflow/dags``: every DAG of every file is registered,
    tasks import the folder's helper modules, and no example is copied into the folder."""
    dirs = lite_dirs
    (dirs.workspace / "helpers").mkdir(parents=True)
    (dirs.workspace / "helpers" / "__init__.py").write_text("")
    (dirs.workspace / "helpers" / "words.py").write_text(
        "def shout(word):\n    return word.upper() + '!'\n")
    (dirs.workspace / "pipelines.py").write_text(AIRFLOW_FILE)
    lite = start_lite(dirs)  # type: ignore[operator]
    lite.wait_ready()
    assert "holds Airflow DAG files" in lite.output
    assert not (dirs.workspace / "examples").exists()
    with lite.login() as client:
        wait_until(lambda: {"airflow_daily", "airflow_hourly"} <= registered_dags(client),
                   timeout=60, message="registration")
        run_id = trigger(client, "airflow_hourly")
        wait_until(lambda: run_state(dirs, "airflow_hourly", run_id) in ("success", "failed"),
                   timeout=60, message="the run's end")
        assert run_state(dirs, "airflow_hourly", run_id) == "success"
        xcom = client.get(f"/api/v2/dags/airflow_hourly/dagRuns/{run_id}/taskInstances/hello"
                          "/xcomEntries/return_value").json()
        assert xcom["value"] == "HELLO!"
    assert lite.stop() == 0
