"""The IDE's import arrows (DESIGN.md: app → ide → engine): the IDE never imports the
composition root (``leoflow.app``, which hands it everything) nor the SDK or the agent.
That it reaches the store only through the engine's services, without exceptions, is
``tests/unit/test_boundaries.py``'s rule for the IDE and the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_boundaries import PACKAGE, files_of, imported_modules


@pytest.mark.parametrize("path", files_of("ide"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_ide_imports_downwards_only(path: Path) -> None:
    for name in imported_modules(path):
        assert not name.startswith(("leoflow.app", "leoflow.sdk", "leoflow.agent")), (path,
                                                                                       name)
        assert name != "leoflow", (path, "'import leoflow' loads the SDK")
