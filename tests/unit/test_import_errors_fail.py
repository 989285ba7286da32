"""An import error in Leoflow's own code fails the suite; it never skips it.

``pytest.importorskip`` and ``try: import ... except ImportError`` are for optional
third-party packages (an extra that is not installed). Used on a ``leoflow`` module they
turn a broken import into a silently skipped suite: the browser suite, the official-client
suite and the IDE suite all once hid behind such guards. The first test reads the test tree
for them; the second breaks ``leoflow.app.lite`` in a child pytest and checks that the
browser suite reports an error instead of skipping.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _own(module: str | None) -> bool:
    return bool(module) and (module == "leoflow" or str(module).startswith("leoflow."))


def _imports_own(node: ast.stmt) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Import) and any(_own(a.name) for a in child.names):
            return True
        if isinstance(child, ast.ImportFrom) and child.level == 0 and _own(child.module):
            return True
    return False


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)} \
        if handler.type is not None else {"ImportError"}  # a bare except catches it too
    return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def guarded_own_imports(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` of every skip or fallback on a failed import of a leoflow module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip" and node.args
                and isinstance(node.args[0], ast.Constant) and _own(node.args[0].value)):
            found.append((node.lineno, f"importorskip({node.args[0].value!r})"))
        if (isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers)
                and any(_imports_own(stmt) for stmt in node.body)):
            found.append((node.lineno, "try: import leoflow... except ImportError"))
    return found


def test_the_detector_sees_both_forms() -> None:
    assert guarded_own_imports('pytest.importorskip("leoflow.app.lite")\n') == [
        (1, "importorskip('leoflow.app.lite')")]
    fallback = "try:\n    from leoflow.app import x\nexcept ImportError:\n    x = None\n"
    assert guarded_own_imports(fallback) == [(1, "try: import leoflow... except ImportError")]
    assert guarded_own_imports('pytest.importorskip("nicegui")\n') == []


def test_no_test_skips_or_falls_back_when_a_leoflow_module_fails_to_import() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {what}"
                 for path in sorted(TESTS.rglob("*.py")) if ".venv" not in path.parts
                 for line, what in guarded_own_imports(path.read_text(encoding="utf-8"))]
    assert offenders == [], "import Leoflow's own modules plainly:\n" + "\n".join(offenders)


BREAK_LITE = '''
import importlib.abc
import sys


class BreakLite(importlib.abc.MetaPathFinder):
    """Makes ``import leoflow.app.lite`` fail the way a moved module does."""

    def find_spec(self, name, path=None, target=None):
        if name == "leoflow.app.lite":  # as if it imported a module that was moved away
            raise ModuleNotFoundError("leoflow.app.lite is broken on purpose",
                                      name="leoflow.app.moved_away")
        return None


sys.meta_path.insert(0, BreakLite())
'''


@pytest.mark.slow  # a child pytest collecting the browser suite: ~15 s
def test_a_broken_leoflow_import_fails_the_browser_suite(tmp_path: Path) -> None:
    # the browser suite's own third-party guards come first: without them it cannot run
    pytest.importorskip("playwright.sync_api", reason="pip install .[dev] (Playwright)")
    pytest.importorskip("nicegui", reason="the IDE needs the lite extra: pip install .[lite]")
    (tmp_path / "break_lite.py").write_text(BREAK_LITE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # collected as in a run of the whole tree (tests/e2e, its other modules left out), so the
    # browser conftest loads during collection, where a skip would pass unnoticed
    e2e = TESTS / "e2e"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "break_lite",
         "-p", "no:cacheprovider", str(e2e), f"--ignore={e2e / 'projects'}",
         f"--ignore-glob={e2e}/test_*.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    # a collection error; the old importorskip guard made it exit 5, "no tests collected"
    assert done.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "leoflow.app.lite is broken on purpose" in output, output
    assert "skipped" not in output.lower(), output
