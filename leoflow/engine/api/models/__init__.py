"""Airflow 3 ``/api/v2`` request and response models, and the conversions from store rows.

Field names and JSON types follow Airflow's own models, because the official
``apache-airflow-client`` validates every response strictly (see AIRFLOW-COMPAT.md).
"""
