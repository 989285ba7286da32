"""An XCom write on a full disk, for real (issue 15, item 6): the store's SQLite file on a
2 MiB tmpfs that is then filled; the push fails with one line naming the cause and the file
(the agent turns a refused push into the try's failure: "XComPushError: cannot store XCom
'return_value': no space left on device: <path>"); before, SQLAlchemy's "database or disk
is full" named no file."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from leoflow.app.xcom_failures import DiskFullXCom, XComWriteError
from tests.integration.xcom.conftest import _sql_harness


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


async def test_an_xcom_push_on_a_full_disk_names_the_cause_and_the_file(
        small_disk: Path) -> None:
    database = small_disk / "leoflow.db"
    harness, store = await _sql_harness(f"sqlite+aiosqlite:///{database}")
    try:
        backend = DiskFullXCom(harness.backend, str(database))
        run = await harness.new_run()
        assert await backend.push(dag_run_id=run, task_id="t", key="small", value=1) > 0
        fill(small_disk)
        with pytest.raises(XComWriteError) as caught:
            await backend.push(dag_run_id=run, task_id="t", key="big", value="v" * 200_000)
        assert str(caught.value) == f"no space left on device: {database}"
        (small_disk / "filler").unlink()  # space back: pushes work again
        assert await backend.push(dag_run_id=run, task_id="t", key="big",
                                  value="v" * 200_000) > 0
    finally:
        await store.close()
