"""Canonical JSON and content hashes: the same DAG always gives the same bytes and hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(document: Any) -> str:
    """Compact JSON with sorted keys; the form that is hashed."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def pretty_json(document: Any) -> str:
    """Sorted, indented JSON with a final newline: the form written to dag.json."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def content_hash(document: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the document without its own ``content_hash`` field."""
    body = {k: v for k, v in document.items() if k != "content_hash"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def with_content_hash(document: Mapping[str, Any]) -> dict[str, Any]:
    return {**document, "content_hash": content_hash(document)}
