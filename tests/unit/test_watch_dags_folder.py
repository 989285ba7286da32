"""The watcher of a plain DAGs folder named ``dags`` (Airflow's usual name): its own name is
not an ignored folder, the folders below it still are."""

from __future__ import annotations

from pathlib import Path

import watchfiles

from leoflow.engine.reload.watcher import noticed, wanted

ROOT = Path("/srv/airflow/dags")
SAVED = watchfiles.Change.modified


def test_a_folder_named_dags_is_watched() -> None:
    assert wanted(SAVED, str(ROOT / "report.py"), root=ROOT)
    assert noticed(SAVED, str(ROOT / "report.py"), root=ROOT)
    assert wanted(SAVED, str(ROOT / "team" / "etl.py"), root=ROOT)


def test_ignored_folders_below_it_still_are() -> None:
    for ignored in (".venv", "__pycache__", "dags"):
        assert not wanted(SAVED, str(ROOT / ignored / "x.py"), root=ROOT)
    assert not wanted(SAVED, str(ROOT / "report.py~"), root=ROOT)
