"""Fixtures for in-process SDK tests: a clean DAG registry, a serializer shortcut, and
compiling a DAG file's text through the compile child's code."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.sdk import airflow_shim, registry
from leoflow.sdk.compile_child import compile_file
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


def compile_source(tmp_path: Path, source: str, name: str = "my_dags.py") -> dict[str, Any]:
    """Compile ``source`` as a DAG file in ``tmp_path`` as ``leoflow compile`` runs one (the
    child's code, in this process); the Airflow import hook is removed afterwards."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), "utf-8")
    try:
        return compile_file(str(path), str(tmp_path))
    finally:
        airflow_shim.uninstall()
