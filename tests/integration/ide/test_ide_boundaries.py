"""The IDE's import arrows (DESIGN.md: app → ide → engine): the IDE never imports the
composition root (``leoflow.app``, which hands it everything) nor the SDK or the agent, and
reads the store's repositories in one module only (``queries.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_boundaries import PACKAGE, files_of, imported_modules

STORE_READERS = {"queries.py"}


@pytest.mark.parametrize("path", files_of("ide"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_ide_imports_downwards_only(path: Path) -> None:
    for name in imported_modules(path):
        assert not name.startswith(("leoflow.app", "leoflow.sdk", "leoflow.agent")), (path,
                                                                                       name)
        assert name != "leoflow", (path, "'import leoflow' loads the SDK")
        if name.startswith("leoflow.engine.store"):
            assert path.name in STORE_READERS, (path, name)
