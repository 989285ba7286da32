"""The compile child's path for a DAG environment that holds the real Airflow."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from leoflow.sdk.real_airflow.dags import convert_dag
from leoflow.sdk.real_airflow.loading import load_real_dags


def describe_real(dag_file: str, project_dir: str,
                  load: Callable[[str, str], types.ModuleType]) -> list[dict[str, Any]]:
    """Run ``dag_file`` (with the compile child's ``load``) and describe the real Airflow
    DAGs it made, in creation order; an empty list when it made none."""
    loaded = load_real_dags(dag_file, project_dir, load)
    return [convert_dag(dag, loaded, project_dir) for dag in loaded.dags]
