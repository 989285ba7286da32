"""Masking secrets in API answers, the way Airflow's secrets masker does.

A value is replaced by ``***`` when its key names a secret (``password``, ``token``,
``api_key``...; Airflow's list). JSON documents (variable values, connection extras) are
masked key by key; a connection's password is always masked.
"""

from __future__ import annotations

import json
from typing import Any

MASK = "***"

# airflow.sdk.execution_time.secrets_masker.DEFAULT_SENSITIVE_FIELDS
SENSITIVE_NAMES = frozenset({
    "access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
    "private_key", "secret", "token", "keyfile_dict", "service_account",
})


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_NAMES)


def mask_structure(value: Any) -> Any:
    """``value`` with every entry under a sensitive key replaced by ``***``."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_sensitive(k) and v not in (None, "")
                    else mask_structure(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_structure(v) for v in value]
    return value


def mask_json_text(text: str | None, *, opaque: bool) -> str | None:
    """Mask a JSON document held as text. Text that is not a JSON object or array is
    returned unchanged, or as ``***`` when ``opaque`` (we cannot tell what it holds)."""
    if text is None or text == "":
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return MASK if opaque else text
    if not isinstance(document, (dict, list)):
        return MASK if opaque else text
    masked = mask_structure(document)
    return text if masked == document else json.dumps(masked)


def mask_variable(key: str, value: str | None) -> str | None:
    """A variable's value as the API shows it (Airflow: masked when the key is sensitive,
    and sensitive entries of a JSON value masked)."""
    if value is None:
        return None
    if is_sensitive(key):
        return MASK
    return mask_json_text(value, opaque=False)


def unmask_structure(new: Any, old: Any) -> Any:
    """Put back the stored values where ``new`` still holds ``***`` from a masked read, so
    that a client that read, edited and sent back a document does not erase its secrets."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: (old[k] if v == MASK and k in old else unmask_structure(v, old.get(k)))
                for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [unmask_structure(n, o) for n, o in zip(new, old, strict=True)]
    return new
