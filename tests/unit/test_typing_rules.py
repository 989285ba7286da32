"""Product code states its invariants with typed errors, never with a bare ``assert``.

``assert`` vanishes under ``python -O`` (so the check it stands for silently stops), and when
it fires it says ``AssertionError`` with no message a user or an operator can act on. Code in
leoflow/ raises a typed error instead (``leoflow.errors.InvariantError`` for "cannot happen"
states, a domain error otherwise); tests keep their asserts.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "leoflow"


def bare_asserts(source: str, filename: str) -> list[int]:
    """The line of every ``assert`` statement in ``source``."""
    tree = ast.parse(source, filename=filename)
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def test_finds_an_assert_wherever_it_stands():
    source = (
        "def f(x):\n"
        "    if x:\n"
        "        assert (\n"
        "            x is not None\n"
        "        ), 'message'\n"
        "    return [x for x in ()]\n"
        "class C:\n"
        "    def m(self):\n"
        "        assert self\n"
    )
    assert bare_asserts(source, "example.py") == [3, 9]
    assert bare_asserts("x = 'assert x'\n# assert y\n", "example.py") == []


def test_product_code_has_no_bare_assert():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in bare_asserts(path.read_text("utf-8"), str(path))
    ]
    assert not found, (
        "bare assert in product code (raise leoflow.errors.InvariantError or a domain error "
        "instead): " + ", ".join(found)
    )
