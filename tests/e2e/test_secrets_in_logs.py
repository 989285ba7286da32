"""Secrets a task prints are masked in its stored log, as Airflow's secrets masker does
(docs/security.md, "Secrets in logs").

A real ``leoflow lite`` (subprocess; its API, hot reloader, scheduler, agents): an admin
stores a sensitive variable (``api_token``), an ordinary one (``region``) and a connection
with a password and a sensitive extra, over the API. A DAG of the workspace then prints
them from Python (stdout and stderr), registers a value of its own with Airflow's
``mask_secret`` and prints it, echoes the token from a bash command, returns them, and a
third task fails with the password in its exception. Afterwards:

* the log files on disk and the log API hold ``***`` and never a secret (nor its URL-encoded
  form inside the connection's URI); the ordinary variable is printed as it is;
* the failed try's error (shown by the IDE and the API) is masked too;
* the returned XCom, read through the API, shows ``***``; the downstream task pulled the
  real value (it compares them and succeeds): storage is intact.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

LAUNCH = "import sys; from leoflow.app.cli import main; sys.exit(main())"
TOKEN = "tok-9f8e7d6c5b4a"
PASSWORD = "pw:S3cr3t/with@chars"  # its URI form is percent-encoded
PRIVATE_KEY = "pk-0123456789abcdef"
OWN = "generated-mask-me-42"
REGION = "eu-west-7"
SECRETS = (TOKEN, PASSWORD, PRIVATE_KEY, OWN, "pw%3AS3cr3t%2Fwith%40chars")

DAG = '''
from airflow.providers.standard.operators.bash import BashOperator
from leoflow import DAG, task

with DAG("leaky", schedule=None):
    @task
    def leak() -> dict:
        import sys
        from airflow.hooks.base import BaseHook
        from airflow.models import Variable
        from airflow.sdk.log import mask_secret

        token = Variable.get("api_token")
        conn = BaseHook.get_connection("warehouse")
        print(f"the token is {token}")
        print(f"the password is {conn.password}", file=sys.stderr)
        print(f"the uri is {conn.get_uri()}")
        print(f"the key is {conn.extra_dejson['private_key']}")
        print(f"the region is {Variable.get('region')}")
        own = "generated-" + "mask-me-42"
        mask_secret(own)
        print(f"my own secret is {own}")
        return {"api_token": token, "note": f"password={conn.password}", "own": own,
                "region": Variable.get("region")}

    @task
    def downstream(value: dict) -> bool:
        from airflow.models import Variable
        if value["api_token"] != Variable.get("api_token"):
            raise ValueError("the XCom a downstream task pulled was masked")
        return True

    @task(retries=0)
    def fails() -> None:
        from airflow.hooks.base import BaseHook
        raise RuntimeError(f"cannot log in with {BaseHook.get_connection('warehouse').password}")

    echo = BashOperator(task_id="echo", bash_command="echo token={{ var.value.api_token }}")
    downstream(leak())
    fails()
'''


class Lite:
    def __init__(self, base: Path) -> None:
        self.home, self.workspace, self.output = base / ".leoflow", base / "workspace", \
            base / "lite.log"
        self.url = ""
        self.password = ""
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.output.read_text("utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"leoflow lite exited:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"no {pattern!r} within {timeout:g} s:\n{self.log()[-4000:]}")


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lite]:
    base = tmp_path_factory.mktemp("secrets-lite")
    server = Lite(base)
    project = server.workspace / "leaky"
    project.mkdir(parents=True)
    (project / "dag.py").write_text(textwrap.dedent(DAG))
    (project / "leoflow.yaml").write_text("dag_id: leaky\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(LEOFLOW_HOME=str(server.home), PYTHONUNBUFFERED="1")
    with open(server.output, "wb") as sink:
        server.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "lite", "--no-browser", "--port", "0",
             "--workspace", str(server.workspace)], env=env, stdout=sink,
            stderr=subprocess.STDOUT, cwd=base)
    try:
        server.url = server.wait_for(r"is ready in [\d.]+ s: (http://127\.0\.0\.1:\d+)",
                                     180).group(1)
        server.password = server.wait_for(r"password\s+(\S+)", 5).group(1)
        server.wait_for(r"projects registered from", 180)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGINT)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(10)


def api(lite: Lite) -> httpx.Client:
    answer = httpx.post(f"{lite.url}/auth/token",
                        json={"username": "admin", "password": lite.password}, timeout=30)
    assert answer.status_code == 201, answer.text
    return httpx.Client(base_url=f"{lite.url}/api/v2", timeout=30, headers={
        "Authorization": f"Bearer {answer.json()['access_token']}"})


def finished_run(client: httpx.Client) -> dict[str, Any]:
    for path, body in (("/variables", {"key": "api_token", "value": TOKEN}),
                       ("/variables", {"key": "region", "value": REGION}),
                       ("/connections", {"connection_id": "warehouse", "conn_type": "postgres",
                                         "host": "db.internal", "login": "etl",
                                         "password": PASSWORD,
                                         "extra": f'{{"private_key": "{PRIVATE_KEY}"}}'})):
        answer = client.post(path, json=body)
        assert answer.status_code == 201, answer.text
    assert client.patch("/dags/leaky", json={"is_paused": False}).status_code == 200
    answer = client.post("/dags/leaky/dagRuns", json={"logical_date": None})
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["dag_run_id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        run = client.get(f"/dags/leaky/dagRuns/{run_id}").json()
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish")


def api_log(client: httpx.Client, run_id: str, task_id: str) -> str:
    answer = client.get(f"/dags/leaky/dagRuns/{run_id}/taskInstances/{task_id}/logs/1")
    assert answer.status_code == 200, answer.text
    return "\n".join(str(item.get("event", item)) if isinstance(item, dict) else str(item)
                     for item in answer.json()["content"])


def test_secrets_printed_by_tasks_are_masked_in_stored_logs_errors_and_shown_xcom(
        lite: Lite) -> None:
    with api(lite) as client:
        run = finished_run(client)
        run_id = run["dag_run_id"]
        states = {ti["task_id"]: ti["state"] for ti in client.get(
            f"/dags/leaky/dagRuns/{run_id}/taskInstances").json()["task_instances"]}
        assert states == {"leak": "success", "downstream": "success", "echo": "success",
                          "fails": "failed"}, states
        logs = {task: api_log(client, run_id, task) for task in states}
        # printed, and masked: stdout, stderr, the URI's encoded form, mask_secret, bash
        assert "the token is ***" in logs["leak"]
        assert "the password is ***" in logs["leak"]
        assert "the key is ***" in logs["leak"]
        assert "my own secret is ***" in logs["leak"]
        assert f"the region is {REGION}" in logs["leak"]  # not a secret: as printed
        assert "token=***" in logs["echo"]
        assert "cannot log in with ***" in logs["fails"]
        for task, text in logs.items():
            for secret in SECRETS:
                assert secret not in text, (task, secret)
        # the failed try's error as the API shows it
        tries = client.get(f"/dags/leaky/dagRuns/{run_id}/taskInstances/fails/tries").json()
        assert PASSWORD not in str(tries)
        # the returned value shown by the API; the downstream task pulled the real one
        entry = client.get(f"/dags/leaky/dagRuns/{run_id}/taskInstances/leak/xcomEntries/"
                           "return_value").json()
        assert entry["value"] == {"api_token": "***", "note": "password=***", "own": OWN,
                                  "region": REGION}, entry
    # the files on disk: never in clear, whatever reads them
    files = [p for p in (lite.home / "logs").rglob("*") if p.is_file()]
    assert files, "no log file was written"
    stored = "\n".join(p.read_text("utf-8", errors="replace") for p in files)
    assert "***" in stored
    for secret in SECRETS:
        assert secret not in stored, secret
