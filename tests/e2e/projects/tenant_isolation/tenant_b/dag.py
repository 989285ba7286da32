# Tenant B attacks, for tests/e2e/test_tenant_isolation.py. The run's conf names the targets
# (the control plane's JWT secret, Fernet key and database; tenant A's project files, its
# DAG's environment and pinned code; the server's environment). Each read is reported:
# "READ" (the attack worked) or the error (PermissionError: isolation held).
import os
from datetime import datetime

from leoflow import DAG, BashOperator, get_current_context, task


def attempt(path: str) -> str:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(64)
    except OSError as exc:
        print(f"{path}: {type(exc).__name__}: {exc}", flush=True)
        return type(exc).__name__
    print(f"{path}: READ", flush=True)
    return "READ"


with DAG("iso_tenant_b", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def attack() -> dict:
        targets = get_current_context()["dag_run"].conf["targets"]
        return {"uid": os.getuid(),
                "results": {name: attempt(path) for name, path in targets.items()},
                "leoflow_env": sorted(k for k in os.environ if k.startswith("LEOFLOW_"))}

    attack()

    # The agent renders templates: Jinja reaching Python's os from there runs as B too.
    BashOperator(
        task_id="template_attack",
        bash_command="echo \"{{ cycler.__init__.__globals__.os.popen('cat ' ~ "
                     "dag_run.conf['targets']['jwt_secret'] ~ ' 2>&1 | head -c 200')"
                     ".read() | replace('\"', '') | trim }}\"")

    # A bash task tries the same files as a shell would.
    BashOperator(
        task_id="bash_attack",
        bash_command="cat {{ dag_run.conf['targets']['fernet_key'] }} 2>&1 | head -c 200; "
                     "echo; id -u")
