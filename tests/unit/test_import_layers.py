"""The layers of docs/architecture.md, checked by import-linter on every unit run.

The contracts live in pyproject.toml (``[tool.importlinter]``): leoflow's packages
(app -> ide -> engine -> rpc <- agent -> sdk), the engine's rooms from its faces down to the
spec, the scheduler's jobs above its pure core, "the IDE and the API reach the store only
through services", and who may import the HTTP and IDE frameworks. A broken arrow is fixed
in the code: no contract may carry an ``ignore_imports`` whitelist, and this module checks
that too. ``tests/unit/test_boundaries.py`` keeps what import-linter cannot say (the SDK and
``leoflow.remote`` import nothing outside the standard library, httpx for the latter).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# lint-imports' own entry point, run by this interpreter: a missing import-linter fails here
# (ModuleNotFoundError) instead of skipping the check
LINT_IMPORTS = ("import sys; from importlinter.cli import lint_imports_command; "
                "sys.exit(lint_imports_command())")


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_every_import_keeps_the_layers_of_docs_architecture():
    done = subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_no_contract_whitelists_an_import():
    found = contracts()
    assert len(found) >= 5, found  # the file is read: an empty list would pass trivially
    whitelisted = [c["id"] for c in found if c.get("ignore_imports")]
    assert whitelisted == []


def test_layer_contracts_place_every_room():
    """An exhaustive layers contract fails when a new package or module of its container is
    in no layer, so a new room cannot slip past the arrows by being unlisted."""
    layers = [c for c in contracts() if c["type"] == "layers"]
    assert layers, "no layers contract"
    assert [c["id"] for c in layers if not c.get("exhaustive")] == []
