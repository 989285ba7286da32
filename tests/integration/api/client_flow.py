"""A user's script driving Leoflow with the official ``apache-airflow-client``, as its README
shows: get a token from ``POST /auth/token``, then call the API through the client.

Run as ``python client_flow.py HOST USERNAME PASSWORD DAG_ID``; prints one JSON object that
the tests check. It imports nothing from Leoflow (it also runs in a virtual environment
that holds only the client, to test other client versions) and uses only the standard
library besides the client.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import airflow_client.client as client
from airflow_client.client.models.clear_task_instances_body import ClearTaskInstancesBody
from airflow_client.client.models.clear_task_instances_body_task_ids_inner import (
    ClearTaskInstancesBodyTaskIdsInner,
)
from airflow_client.client.models.dag_patch_body import DAGPatchBody
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody


def token(host: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{host}/auth/token", method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 201:  # the README's check
            raise RuntimeError(f"POST /auth/token answered {response.status}")
        return json.loads(response.read())["access_token"]


def main(host: str, username: str, password: str, dag_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"client": metadata.version("apache-airflow-client")}
    configuration = client.Configuration(host=host, access_token=token(host, username,
                                                                       password))
    with client.ApiClient(configuration) as api:
        out["version"] = client.VersionApi(api).get_version().version
        out["health"] = client.MonitorApi(api).get_health().metadatabase.status
        dag_api = client.DAGApi(api)
        listed = dag_api.get_dags(limit=100)
        out["dags"] = sorted(d.dag_id for d in listed.dags)
        out["total_dags"] = listed.total_entries
        out["details_catchup"] = dag_api.get_dag_details(dag_id).catchup
        unpaused = dag_api.patch_dag(dag_id, DAGPatchBody(is_paused=False),
                                     update_mask=["is_paused"])
        out["paused_after_patch"] = unpaused.is_paused

        runs = client.DagRunApi(api)
        run = runs.trigger_dag_run(dag_id, TriggerDAGRunPostBody(
            logical_date=datetime.now(UTC), conf={"source": "client"}))
        out["triggered_state"] = run.state.value
        run_id = run.dag_run_id
        deadline = time.monotonic() + 90
        while run.state.value not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} still {run.state.value}")
            time.sleep(0.2)
            run = runs.get_dag_run(dag_id, run_id)
        out["run_state"] = run.state.value
        out["run_ids"] = [r.dag_run_id for r in runs.get_dag_runs(dag_id, limit=100).dag_runs]
        out["all_runs"] = runs.get_dag_runs("~", limit=100).total_entries

        tis = client.TaskInstanceApi(api)
        listed_tis = tis.get_task_instances(dag_id, run_id, limit=100)
        out["task_instances"] = sorted((t.task_id, t.state.value, t.try_number)
                                       for t in listed_tis.task_instances)
        out["shout_try"] = tis.get_task_instance(dag_id, run_id, "shout").try_number
        out["tries"] = tis.get_task_instance_tries(dag_id, run_id, "shout").total_entries

        xcoms = client.XComApi(api)
        entry = xcoms.get_xcom_entry(dag_id, "make_greeting", run_id, "return_value",
                                     map_index=-1)
        out["xcom"] = entry.actual_instance.value
        out["xcom_keys"] = [e.key for e in xcoms.get_xcom_entries(
            dag_id, run_id, "make_greeting").xcom_entries]

        log = tis.get_log(dag_id, run_id, "shout", 1, full_content=True, map_index=-1)
        out["log"] = [m.event if hasattr(m, "event") else m
                      for m in log.content.actual_instance]

        out["source_has_dag"] = "def shout" in (
            client.DagSourceApi(api).get_dag_source(dag_id, version_number=1).content or "")
        out["import_errors"] = client.ImportErrorApi(api).get_import_errors().total_entries
        cleared = tis.post_clear_task_instances(dag_id, ClearTaskInstancesBody(
            dag_run_id=run_id, only_failed=False,
            task_ids=[ClearTaskInstancesBodyTaskIdsInner("shout")]))
        out["clear_dry_run"] = [t.task_id for t in cleared.task_instances]
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
