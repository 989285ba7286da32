"""The IDE's own tests put DAGs in the store the way Lite does: through its hot reloader.

Lite registers a project only through ``Reloader`` (its watcher, or ``reload_now`` after a
save from the editor), so a page test that compiled or registered by another route would
test a path no user takes (about twenty once did). The ``ide`` fixture wires a real
reloader (``Ide.register`` calls ``reload_now``); this test reads tests/integration/ide for
calls that bypass it. A push compiles with ``compile_for_push``, the push dialog's own path.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IDE_TESTS = ROOT / "tests" / "integration" / "ide"

# Ways into the store or the compiler that Lite's hot reloader never takes from a save.
BYPASSES = {"register_dag", "register_version", "compile_project", "compile_projects",
            "compile_and_register", "recompile_for_file", "IdeServices"}
ALLOWED = {("conftest.py", "IdeServices")}  # the one IDE of the suite, given the reloader


def bypasses(source: str) -> list[tuple[int, str]]:
    """(line, name) of each call of a bypass in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in BYPASSES:
                found.append((node.lineno, str(name)))
    return found


def test_ide_tests_compile_and_register_only_through_the_hot_reloader() -> None:
    files = sorted(IDE_TESTS.glob("*.py"))
    assert len(files) > 10  # the suite is where it is said to be
    found = [f"{path.name}:{line}: {name}" for path in files
             for line, name in bypasses(path.read_text("utf-8"))
             if (path.name, name) not in ALLOWED]
    assert not found, ("IDE tests registering or compiling outside Lite's hot reloader "
                       "(use ide.register or save from the editor):\n" + "\n".join(found))


def test_the_check_sees_a_bypass() -> None:
    assert bypasses("await ide.plane.operations.register_dag(doc)\n") == [(1, "register_dag")]
    assert bypasses("x = compile_project(p)\nawait ide.register('p')\n") == [
        (1, "compile_project")]
