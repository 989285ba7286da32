"""Real runs for the run views' journeys and screenshots, made through Lite's own API (the
same server the browser talks to): unpause, trigger, wait until the run ends.

The views are then read in the browser; the runs themselves come from the real scheduler
and agents, not from rows written by the test.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx


class Api:
    """Lite's ``/api/v2`` as the admin (a token from ``POST /auth/token``)."""

    def __init__(self, url: str, password: str, username: str = "admin") -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        answer = self.client.post("/auth/token", json={"username": username,
                                                       "password": password})
        answer.raise_for_status()
        self.client.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    def close(self) -> None:
        self.client.close()

    def wait_dag(self, dag_id: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while self.client.get(f"/api/v2/dags/{dag_id}").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} was not registered within {timeout:g} s")
            time.sleep(0.3)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None,
                note: str | None = None) -> str:
        self.wait_dag(dag_id)
        self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}
                          ).raise_for_status()
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if note:
            body["note"] = note
        answer = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        answer.raise_for_status()
        return str(answer.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        answer = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        answer.raise_for_status()
        return str(answer.json()["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}/{run_id} still {state} after {timeout:g} s")
            time.sleep(0.3)
