"""The operator's own project: compiled as the control plane's user, which may read its
home (the JWT secret's path is in targets.json)."""

import json
import os
from pathlib import Path

from leoflow import DAG, task

TARGETS = json.loads((Path(__file__).resolve().parent / "targets.json").read_text())
readable = os.access(TARGETS["read"]["jwt_secret"], os.R_OK)

with DAG("iso_compile_default", schedule=None,
         description=f"compiled by uid {os.getuid()}, home readable: {readable}"):
    @task
    def hello() -> str:
        return "hello"

    hello()
