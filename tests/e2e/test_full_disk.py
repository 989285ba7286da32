"""A full disk under the task logs, for real (issue 15, item 6).

As root, a 2 MiB tmpfs is mounted as LEOFLOW_HOME's ``logs`` folder of a real control plane
(parallelism 1). A task prints until that disk is full: its try must fail naming ENOSPC and
the log's path, the run must end, and the log store must hold no descriptor of the log, so
deleting it frees the space at once (``os.statvfs``), without a restart; then another task
runs in the freed slot and writes its log. Before: the try stayed ``running`` for ever and
the deleted log kept its space until the server restarted.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leoflow.engine.logs import LogKey
from tests.e2e.harness import Projects, open_plane

pytestmark = pytest.mark.slow

FULL_DISK = Path(__file__).parent / "projects" / "full_disk"
SIZE = 2 << 20


def free_bytes(path: Path) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


@pytest.fixture
def small_log_disk(e2e_home: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted on the session home's logs folder for one test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    logs = e2e_home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs",
                              str(logs)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield logs
    finally:
        subprocess.run(["umount", "-l", str(logs)], check=False)


async def test_a_full_log_disk_fails_the_try_and_frees_its_slot_and_space(
        projects: Projects, sqlite_url: str, e2e_home: Path, small_log_disk: Path) -> None:
    prepared = await projects.prepare(FULL_DISK)
    async with open_plane(e2e_home, sqlite_url, parallelism=1) as harness:
        dag_id = await harness.register(prepared, "flood")
        started = time.monotonic()
        run = await harness.trigger(dag_id)
        state = await harness.wait(run, timeout=90)  # before: running for ever
        print(f"run failed {time.monotonic() - started:.1f} s after its trigger")
        result = await harness.result(run, max_log_records=1)
        flood = result.tasks["flood"]
        key = LogKey(run.dag_id, run.run_id, "flood", try_number=1, map_index=-1)
        log_path = harness.plane.logs.path(key)
        assert state == "failed" and flood.state == "failed", (state, flood)
        error = flood.error or ""
        print(f"the try's error: {error}")
        assert "No space left on device" in error and "ENOSPC" in error, error
        assert str(log_path) in error, error
        assert free_bytes(small_log_disk) < 64 << 10  # the disk is full indeed

        # the log store holds no descriptor of it: deleting it frees the space now
        log_path.unlink()
        freed = free_bytes(small_log_disk)
        print(f"free after deleting the log, no restart: {freed >> 10} KiB of {SIZE >> 10}")
        assert freed > SIZE * 0.9, freed

        # the slot is free (parallelism 1): another task runs and writes its log
        small = await harness.register(prepared, "small")
        run2 = await harness.trigger(small)
        assert await harness.wait(run2, timeout=60) == "success"
        done = await harness.result(run2)
        assert done.xcom["small"] == 7
        assert done.lines("small", streams=("stdout",)) == ["a small task, after space was freed"]
