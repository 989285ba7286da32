"""Responses fed through the official client's own models, as a user script would get them.

``from_dict`` raises on anything the client refuses: a missing or null required field, a
wrong JSON type (its models are pydantic with Strict types), an unknown enum value, an id
that is not a UUID. Passing here is what "the client accepts it" means.
"""

from __future__ import annotations

from typing import Any

from airflow_client.client import models


def parse(model: str, payload: Any) -> Any:
    """``payload`` as the client's ``model`` (raises where the client would)."""
    return getattr(models, model).from_dict(payload)
