"""Asset watchers through the real path (``projects/asset_watchers/dag.py``): the scheduler's
watchers poll the files the DAGs' ``FileDeleteTrigger`` / ``DirectoryFileDeleteTrigger``
name; a file that appears is deleted and becomes an asset event whose consumer run starts
(its task prints the event's extra); the next file makes the next run; a restarted control
plane keeps watching (from the ``asset_watcher`` rows); a paused consumer's asset is no
longer watched (Airflow's rule). The delay from a file's creation to its run is printed.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from leoflow.engine.store import runs
from leoflow.engine.store.rows import DagRunRow
from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "asset_watchers"
WATCHED = Path("/tmp/leoflow-e2e-asset-watchers")  # as in the project's dag.py
POKE = 0.2  # the triggers' poke_interval


@pytest.fixture
async def prepared(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


@pytest.fixture
def watched() -> Path:
    shutil.rmtree(WATCHED, ignore_errors=True)
    (WATCHED / "flags").mkdir(parents=True)
    yield WATCHED
    shutil.rmtree(WATCHED, ignore_errors=True)


async def watching(harness: Harness, count: int, timeout: float = 5.0) -> None:
    """Wait until the scheduler runs ``count`` watchers (a refresh follows a DAG change)."""
    deadline = time.monotonic() + timeout
    while len(harness.plane.scheduler.watchers.watches) != count:
        assert time.monotonic() < deadline, harness.plane.scheduler.watchers.status()
        await asyncio.sleep(0.02)


async def asset_runs(harness: Harness, dag_id: str) -> list[DagRunRow]:
    async with harness.plane.store.connect() as conn:
        page = await runs.list_runs(conn, dag_id=dag_id, run_type="asset_triggered",
                                    limit=None, order="id")
    return list(page.items)


async def drop_file(harness: Harness, path: Path, dag_id: str, count: int,
                    timeout: float = 15.0) -> tuple[DagRunRow, float]:
    """Create ``path``; wait for the ``count``-th asset run of ``dag_id``; return it and the
    delay from the file's creation to the run's creation (its ``queued_at``)."""
    path.write_text("id,value\n1,2\n")
    created = path.stat().st_mtime
    deadline = time.monotonic() + timeout
    while len(found := await asset_runs(harness, dag_id)) < count:
        assert time.monotonic() < deadline, f"no run of {dag_id} after {path} appeared"
        await harness.plane.scheduler.idle(5)
        await asyncio.sleep(0.02)
    run = found[count - 1]
    assert not path.exists(), "the watcher deletes the file it saw"
    return run, run.queued_at.timestamp() - created


async def test_a_file_that_appears_starts_the_consumer(
        prepared: Prepared, watched: Path, sqlite_url: str, e2e_home: Path) -> None:
    delays: list[float] = []
    async with open_plane(e2e_home, sqlite_url) as harness:
        for dag_id in ("watch_on_file", "watch_on_flag"):
            await harness.register(prepared, dag_id, one_off=False)
        await watching(harness, 2)

        first, delay = await drop_file(harness, watched / "incoming.csv", "watch_on_file", 1)
        delays.append(delay)
        assert await harness.wait(first, 60) == "success"
        result = await harness.result(first)
        assert result.xcom["on_file"] == [{"from_trigger": True, "payload": True}]
        assert "triggered by 1 event(s)" in "\n".join(result.lines("on_file"))

        second, delay = await drop_file(harness, watched / "incoming.csv", "watch_on_file", 2)
        delays.append(delay)
        assert await harness.wait(second, 60) == "success"

        flag, delay = await drop_file(harness, watched / "flags" / "us.flag", "watch_on_flag",
                                      1)
        delays.append(delay)
        assert await harness.wait(flag, 60) == "success"
        assert (await harness.result(flag)).xcom["on_flag"] == [
            {"from_trigger": True, "payload": {"filepath": str(watched / "flags" / "us.flag")}}]
        # another file in the watched directory is not this watcher's
        (watched / "flags" / "eu.flag").write_text("")

    # a new control plane on the same store resumes watching from the rows
    async with open_plane(e2e_home, sqlite_url) as harness:
        assert len(harness.plane.scheduler.watchers.watches) == 2
        third, delay = await drop_file(harness, watched / "incoming.csv", "watch_on_file", 3)
        delays.append(delay)
        assert await harness.wait(third, 60) == "success"
        assert (watched / "flags" / "eu.flag").exists()

        # pausing the only DAG scheduled on the asset stops its watcher
        await harness.plane.operations.set_paused("watch_on_file", True)
        await watching(harness, 1)
        (watched / "incoming.csv").write_text("kept")
        await asyncio.sleep(POKE * 5)
        assert (watched / "incoming.csv").exists(), "nobody watches it now"
        assert len(await asset_runs(harness, "watch_on_file")) == 3
        # unpausing starts it again: the file waiting there is taken
        await harness.plane.operations.set_paused("watch_on_file", False)
        deadline = time.monotonic() + 10
        while len(await asset_runs(harness, "watch_on_file")) < 4:
            assert time.monotonic() < deadline, "the unpaused DAG's watcher did not resume"
            await asyncio.sleep(0.05)
        assert not (watched / "incoming.csv").exists()

    shown = ", ".join(f"{d * 1000:.0f} ms" for d in delays)
    print(f"\nfile created → consumer run created: {shown} (poke_interval "
          f"{POKE * 1000:.0f} ms)")
    assert all(d <= POKE + 1.0 for d in delays), delays
