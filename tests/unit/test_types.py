"""mypy checks leoflow/ and finds nothing: the type check gates CI as the tests do.

The configuration lives in pyproject.toml ([tool.mypy]): the defaults plus the bodies of
unannotated functions everywhere, and fully annotated functions in the scheduler and the
services. A failure prints mypy's own report, one ``file:line: error`` per finding.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# a cold run takes 20-40 s on a loaded machine; later ones reuse .mypy_cache
pytestmark = pytest.mark.slow


def test_mypy_finds_no_error_in_leoflow():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"mypy found errors:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout, result.stdout
