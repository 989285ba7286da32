"""What the control plane says about itself to Airflow's ``/config``, ``/providers`` and
``/jobs``: its effective, non-secret settings; the operators and integrations it ships;
the scheduler as a job.

Nothing here reads a secret: database URLs are shown by dialect only, keys and passwords
never (Airflow shows ``< hidden >`` for sensitive options; Leoflow leaves them out).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from leoflow.engine.services.container import Services
from leoflow.engine.spec.model import OPERATORS, TRIGGER_KINDS

OPERATOR_NOTES = {
    "python": "PythonOperator and @task: a Python callable in the DAG's own environment",
    "bash": "BashOperator: a shell command, its last stdout line pushed as XCom",
    "http": "HttpOperator: an HTTP call run inside the control plane (no agent)",
    "empty": "EmptyOperator: finished by the scheduler without an agent",
    "branch": "BranchPythonOperator and @task.branch: follow the returned task ids",
    "short_circuit": "ShortCircuitOperator: skip downstream tasks on a false result",
    "sensor": "Sensors: poke or reschedule, or deferred to the trigger runner",
}
TRIGGER_NOTES = {
    "time": "TimeDeltaTrigger and DateTimeTrigger",
    "file": "FileTrigger: wait for a file to appear",
    "http": "HttpTrigger: wait for an HTTP answer",
    "external_task": "ExternalTaskSensor's trigger: wait for another DAG's task",
    "file_delete": "FileDeleteTrigger: wait for a file to disappear",
}


@dataclass(frozen=True)
class Integration:
    """One of Leoflow's built-in operators or trigger kinds, shown as a provider."""

    package_name: str
    description: str
    version: str
    documentation_url: str | None


def integrations(version: str) -> list[Integration]:
    """Leoflow's operators and trigger kinds, in the order the spec lists them."""
    found = [Integration(f"leoflow.operators.{kind}", OPERATOR_NOTES.get(kind, kind),
                         version, None) for kind in OPERATORS]
    found += [Integration(f"leoflow.triggers.{kind}", TRIGGER_NOTES.get(kind, kind),
                          version, None) for kind in TRIGGER_KINDS]
    return found


def config_sections(services: Services | None, *, version: str,
                    page_limits: tuple[int, int]) -> dict[str, dict[str, str]]:
    """The effective settings a user may see, by Airflow's section names where one fits.
    ``page_limits`` is (fallback, maximum) of the API's pages."""
    core: dict[str, str] = {"leoflow_version": version, "default_timezone": "utc",
                            "max_active_tasks_per_dag": "16", "max_active_runs_per_dag": "16",
                            "dags_are_paused_at_creation": "True",
                            "simple_auth_manager_all_admins": "False"}
    sections: dict[str, dict[str, str]] = {"core": core}
    if services is not None:
        core["leoflow_home"] = str(services.home)
        core["executor"] = "LeoflowExecutor"
        sections["database"] = {"dialect": services.store.dialect,
                                "sql_alchemy_conn": "< hidden >"}
        policy = getattr(services.xcom, "policy", None)
        sections["xcom"] = {
            "backend": type(services.xcom).__name__,
            "max_value_bytes": str(getattr(policy, "max_bytes", 256 * 1024)),
            "ttl_seconds": str(getattr(policy, "ttl_seconds", "")),
        }
        sections["logging"] = {"backend": type(services.logs).__name__,
                               "base_log_folder": str(services.home / "logs")}
        sections["scheduler"] = {"event_driven": "True",
                                 "ha_election": str(services.leadership.election)}
    fallback, maximum = page_limits
    sections["api"] = {"fallback_page_limit": str(fallback),
                       "maximum_page_limit": str(maximum), "expose_config": "True"}
    return sections


@dataclass(frozen=True)
class SchedulerJob:
    """The scheduler of this replica as Airflow's ``SchedulerJob``."""

    id: int
    hostname: str
    unixname: str
    start_date: datetime
    latest_heartbeat: datetime
    leading: bool


def scheduler_job(services: Services | None, *, started_at: datetime,
                  now: datetime) -> SchedulerJob:
    """This replica's scheduler: running since the server started; its heartbeat is the
    leadership's last renewal, or now when it runs in this process."""
    heartbeat = None
    leading = True
    if services is not None and services.leadership.election:
        heartbeat = services.leadership.heartbeat()
        leading = services.leadership.is_leader()
    try:
        user = os.getlogin()
    except OSError:
        user = str(os.getuid())
    return SchedulerJob(id=1, hostname=socket.gethostname(), unixname=user,
                        start_date=started_at, latest_heartbeat=heartbeat or now,
                        leading=leading)
