"""Fixtures of the end-to-end suite: one LEOFLOW_HOME per session, a database per test.

Environments are built with uv under the session's home the first time a project needs
one and reused afterwards (uv's own cache stays the user's default, so packages are not
downloaded again); each project is compiled once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Projects


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("leoflow-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEOFLOW_HOME", str(home))
        patch.delenv("LEOFLOW_DATABASE_URL", raising=False)
        yield home


@pytest.fixture(scope="session")
def projects(e2e_home: Path) -> Projects:
    return Projects(e2e_home)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database for one test's control plane."""
    return f"sqlite+aiosqlite:///{tmp_path}/leoflow.db"
