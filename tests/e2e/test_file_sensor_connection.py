"""Airflow's FileSensor resolves its ``fs_conn_id`` connection through the real path: in
the sensor's process (poke mode) and in the control plane (deferrable), failing as Airflow
does when the connection is not defined (a fresh Airflow 3 has no ``fs_default``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.harness import Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "file_sensor_connection"


async def test_the_connection_gives_the_base_path_and_must_exist(
        projects: Projects, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "deferred").mkdir(parents=True)
    (landing / "poked.csv").write_text("a\n")
    (landing / "deferred" / "x.csv").write_text("b\n")
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "dag.py").write_text((PROJECT / "dag.py").read_text())
    conn = {"conn_type": "fs", "extra": {"path": str(landing)}}
    (folder / "leoflow.yaml").write_text(
        "dag_id: fs_connection\nenv:\n"
        f"  AIRFLOW_CONN_LANDING: '{json.dumps(conn)}'\n")
    prepared = await projects.prepare(folder)
    async with open_plane(projects.home, f"sqlite+aiosqlite:///{tmp_path}/db.sqlite") as h:
        result = await h.run(prepared, timeout=90)
    assert result.states() == {"poke_no_default": "failed", "deferred_no_default": "failed",
                               "poke_landing": "success", "deferred_landing": "success"}
    assert result.state == "failed"
    for task_id in ("poke_no_default", "deferred_no_default"):
        (_try, _state, error) = result.tasks[task_id].tries[-1]
        assert "The conn_id `fs_default` isn't defined" in str(error), error
