"""Airflow 3 ``/api/v2`` request and response models, the conversions from store rows
(``convert``) and the rules that say which task instances a mark or a clear selects
(``selection``).

Field names and JSON types follow Airflow's own models, because the official
``apache-airflow-client`` validates every response strictly (see AIRFLOW-COMPAT.md).
"""
