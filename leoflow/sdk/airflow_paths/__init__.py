"""Airflow import paths added by SDK features that live in their own modules.

Every module in this package defines ``AIRFLOW_MODULES``: ``{module name: {name: object}}``,
e.g. ``{"airflow.providers.standard.operators.latest_only": {"LatestOnlyOperator": ...}}``.
``airflow_shim`` merges them all into its table when the import hook is installed, so a
feature adds its Airflow names in a file of its own.
"""
