"""Compiling DAG files whose environment holds the real Airflow (issue "Airflow providers
run unchanged").

When ``apache-airflow`` is importable in a DAG's environment (a provider in leoflow.yaml's
``dependencies`` pulls it in), the import shim steps aside and the DAG file builds real
Airflow objects (``airflow.sdk.DAG``, provider operators). The compile child then takes this
package's path: ``loading`` executes the file the way Airflow's DAG processor does and
collects its DAGs; ``dags`` and ``tasks`` walk them (``dag.task_dict``, never Airflow's
``SerializedDAG``) and write the same dag.json structures the shim path writes
(``leoflow.sdk.serialize``).

The contract with the runtime (``docs/dag-json.md``, "runtime"): every task of such a DAG
carries ``"runtime": "airflow"`` and ``"operator_module"`` (the module of its operator
class), and the DAG carries ``"runtime": "airflow"`` and ``"airflow_versions"``
(``{"apache-airflow": ..., "apache-airflow-task-sdk": ...}`` as installed where it was
compiled). A task with ``runtime: airflow`` is executed in the user process by the real
task SDK's task runner, whatever its ``operator`` kind; the kind (python, bash, http,
empty, branch, short_circuit, sensor) keeps telling the scheduler what it tells it for a
shim-compiled task. Without the field (every shim-compiled DAG) the runtime is Leoflow's
own SDK, as before.

Standard library only at module level: Airflow is imported inside the functions, which run
only when it is importable.
"""

from __future__ import annotations

RUNTIME = "airflow"
