"""Run a task with the real Airflow's own task runner, Leoflow playing its supervisor.

When a DAG's environment holds the real Airflow (a provider package pulls in
``apache-airflow``), the compiler marks its tasks ``"runtime": "airflow"`` in dag.json and the
agent hands the runner a payload saying so. ``leoflow.sdk.task_runner`` then runs the task
here instead of with Leoflow's own operator classes:

* ``startup``: the DAG file is parsed as Airflow's worker parses it (``BundleDagBag``), the
  task is ``dag.task_dict[task_id]``, and a ``RuntimeTaskInstance`` with its ``TIRunContext``
  is built from the payload (the run's dates, conf, try number, max tries, resume method);
* ``comms``: ``task_runner.SUPERVISOR_COMMS`` is a ``LeoflowComms``, which answers the
  runner's typed requests (XCom, connections, variables, task state, masking, state
  reports) from Leoflow's channel to the agent;
* ``runner``: Airflow's ``run()`` and ``finalize()`` execute the task (templating, context,
  pre/post execute, callbacks, XCom push), and the terminal message the runner sent its
  supervisor becomes the channel's final message.

Airflow is imported with ``importlib`` only: this package lives in the SDK, which imports the
standard library alone (it runs beside every DAG's own packages), and Airflow exists only in
the DAG environments that asked for it. See docs/airflow-compat.md, "Providers: how a task
runs", for the design and the task-SDK versions supported.
"""

from __future__ import annotations

RUNTIME_FIELD = "runtime"  # dag.json task field and payload key
AIRFLOW_RUNTIME = "airflow"  # its value for a task run by the real Airflow
