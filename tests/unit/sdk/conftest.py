"""Fixtures for in-process SDK tests: a clean DAG registry and a serializer shortcut."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leoflow.sdk import registry
from leoflow.sdk.serialize import serialize_dag


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


@pytest.fixture
def describe() -> Callable[[Any], dict[str, Any]]:
    """Serialize a DAG object the way the compiler's child does."""
    return lambda dag: serialize_dag(dag, project_dir="/")


def edges(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(up, t["task_id"]) for t in doc["tasks"] for up in t["upstream"]}


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in doc["tasks"]}
