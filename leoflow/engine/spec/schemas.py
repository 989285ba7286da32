"""The JSON Schemas shipped in the package, and validation that names the failing field."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from leoflow.engine.spec.errors import SpecError

DAG_SCHEMA = "dag.schema.json"
PROJECT_SCHEMA = "leoflow_yaml.schema.json"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("leoflow.engine.spec").joinpath("schemas", name).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def field_path(path: Any) -> str:
    """``tasks[3].inputs.kwargs.x`` from a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(document: Mapping[str, Any], schema: str, *, file: str | None = None,
             line_of: Callable[[tuple[Any, ...]], int | None] | None = None) -> None:
    """Raise ``SpecError`` for the first (most relevant) schema violation of ``document``."""
    from jsonschema.exceptions import best_match

    errors = list(_validator(schema).iter_errors(document))
    if not errors:
        return
    error = best_match(errors)
    path = tuple(error.absolute_path)
    where = field_path(path)
    message = error.message
    if error.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown field")
    raise SpecError(f"{where}: {message}", file=file,
                    line=line_of(path) if line_of else None, field=where)
