"""Hot reload: saved DAG projects compiled and registered as new versions at once.

``reloader.Reloader`` is the face (Lite and ``leoflow-server --dags-folder`` start one);
the rooms behind it, by job: ``watcher`` (which saves matter), ``compiling`` (one
``leoflow.yaml`` project: environment, compile, register), ``plain_folder`` (a plain Airflow
DAGs folder), ``registering`` (writes, through the engine's services), ``events`` (what
subscribers are told), ``errors`` (typed error kinds) and ``projects`` (finding projects).
Nothing is imported here, so that ``projects`` stays cheap to import.
"""
