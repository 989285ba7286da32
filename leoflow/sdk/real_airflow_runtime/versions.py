"""Which task-SDK versions Leoflow can supervise, checked before anything of Airflow runs.

Leoflow plays the supervisor's part of Airflow's task-execution protocol (the typed messages
of ``airflow.sdk.execution_time.comms``) and calls the task runner's own functions
(``run``, ``finalize``, ``RuntimeTaskInstance``). Those are Airflow's internals, not a public
API: they change between task-SDK releases, so each supported release is pinned and tested,
and any other one fails the try at once with an error naming what is installed and what is
supported, instead of failing somewhere inside Airflow with a message nobody can act on.
"""

from __future__ import annotations

from importlib import metadata

TASK_SDK_DISTRIBUTION = "apache-airflow-task-sdk"
# task-SDK release -> the apache-airflow release that pins it (tested: tests/e2e/
# test_providers_run.py, tests/integration/agent/test_agent_real_airflow.py)
SUPPORTED: dict[str, str] = {"1.3.2": "3.3.2"}


class UnsupportedTaskSdk(RuntimeError):
    """The DAG's environment holds a task SDK Leoflow does not know how to supervise."""


def supported_text() -> str:
    return ", ".join(f"{sdk} (apache-airflow {airflow})" for sdk, airflow in SUPPORTED.items())


def installed_version() -> str | None:
    """The installed task SDK's version, or None when the environment has none."""
    try:
        return metadata.version(TASK_SDK_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def check_supported(version: str | None = None) -> str:
    """The installed task-SDK version when supported; ``UnsupportedTaskSdk`` otherwise."""
    found = installed_version() if version is None else version
    if found is None:
        raise UnsupportedTaskSdk(
            f"this task runs with the real Airflow, but {TASK_SDK_DISTRIBUTION} is not installed "
            "in the DAG's environment; add apache-airflow (or a provider, which depends on it) "
            "to the DAG's dependencies")
    if found not in SUPPORTED:
        airflow = _airflow_version()
        raise UnsupportedTaskSdk(
            f"the DAG's environment holds {TASK_SDK_DISTRIBUTION} {found}"
            f"{f' (apache-airflow {airflow})' if airflow else ''}, which Leoflow cannot run "
            f"tasks with; supported: {supported_text()}. Pin a supported release in the DAG's "
            f"dependencies, e.g. \"apache-airflow=={next(iter(SUPPORTED.values()))}\"")
    return found


def _airflow_version() -> str | None:
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return None
