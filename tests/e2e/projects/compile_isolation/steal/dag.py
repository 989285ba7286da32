"""Reads, at import (so while it is compiled), what the test lists in targets.json: the
control plane's JWT secret, Fernet key and database, the server's environment. What it got
goes to a file the test reads (evidence.json); then a plain read of the JWT secret, whose
error is the compile's import error."""

import json
import os
from pathlib import Path

from leoflow import DAG, task

HERE = Path(__file__).resolve().parent
TARGETS = json.loads((HERE / "targets.json").read_text())
found = {}
for name, path in TARGETS["read"].items():
    try:
        with open(path, "rb") as handle:
            found[name] = "READ " + handle.read(64).hex()
    except OSError as exc:
        found[name] = type(exc).__name__
evidence = {"uid": os.getuid(), "results": found, "environ": dict(os.environ)}
with open(TARGETS["evidence"], "w") as handle:
    json.dump(evidence, handle)
with open(TARGETS["read"]["jwt_secret"]) as handle:  # the import error, when refused
    print(handle.read())

with DAG("iso_compile_steal", schedule=None):
    @task
    def nothing() -> None:
        return None

    nothing()
