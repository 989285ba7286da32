"""Airflow import paths of the secrets masker (``mask_secret``, ``redact``): Airflow 3's
``airflow.sdk.log`` and ``airflow.sdk.execution_time.secrets_masker``, Airflow 2's
``airflow.utils.log.secrets_masker``."""

from __future__ import annotations

from typing import Any

from leoflow.sdk.secrets_masker import (
    DEFAULT_SENSITIVE_FIELDS,
    SecretsMasker,
    mask_secret,
    redact,
    should_hide_value_for_key,
)

_MASKER = {"mask_secret": mask_secret, "redact": redact, "SecretsMasker": SecretsMasker,
           "should_hide_value_for_key": should_hide_value_for_key,
           "DEFAULT_SENSITIVE_FIELDS": DEFAULT_SENSITIVE_FIELDS}

AIRFLOW_MODULES: dict[str, dict[str, Any]] = {
    "airflow.sdk.log": {"mask_secret": mask_secret},
    "airflow.sdk.execution_time": {},
    "airflow.sdk.execution_time.secrets_masker": _MASKER,
    "airflow.utils.log": {},
    "airflow.utils.log.secrets_masker": _MASKER,
}
