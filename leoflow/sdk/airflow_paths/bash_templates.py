"""Airflow import paths of the object storage path (``leoflow.sdk.objectstorage``).

``BashOperator``'s ``output_processor``/``multiple_outputs`` and the templating surface
(``render_template``, ``template_ext``, ``template_searchpath``) need no new paths: they
live on classes the shim already maps.
"""

from __future__ import annotations

from typing import Any

from leoflow.sdk.objectstorage import ObjectStoragePath

_PATH = {"ObjectStoragePath": ObjectStoragePath}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.sdk": _PATH,
    "airflow.sdk.io": _PATH,
    "airflow.sdk.io.path": _PATH,
    "airflow.io": {},
    "airflow.io.path": _PATH,
}
