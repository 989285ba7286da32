# Tenant A's tasks, for tests/e2e/test_tenant_isolation.py: they must run normally as their
# tenant's user (read the project, including a 0600 file; write their own temporary folder;
# push and pull XCom), python and bash alike.
import os
import tempfile
from datetime import datetime
from pathlib import Path

from leoflow import DAG, BashOperator, task

with DAG("iso_tenant_a", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def own_files() -> dict:
        import helper

        scratch = Path(tempfile.gettempdir()) / "scratch.txt"
        scratch.write_text("written by a")
        return {"uid": os.getuid(), "secret": Path("secret.txt").read_text().strip(),
                "helper": helper.VALUE, "scratch": scratch.read_text(),
                "tmp": tempfile.gettempdir(), "home": os.environ.get("HOME"),
                "leoflow_env": sorted(k for k in os.environ if k.startswith("LEOFLOW_"))}

    @task
    def check(found: dict) -> str:
        return f"{found['secret']}+{found['helper']}"

    bash_own = BashOperator(
        task_id="bash_own",
        bash_command='echo from-bash > "$TMPDIR/b.txt" && '
                     'echo "$(id -u) $(cat secret.txt) $(cat "$TMPDIR/b.txt")"')

    check(own_files())
