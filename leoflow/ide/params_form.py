"""The Trigger dialog's form, derived from a DAG's params (pure: no UI, no I/O).

Each param of dag.json is ``{"default": ..., "description": ..., "schema": {...}}`` where
``schema`` is JSON Schema (Airflow's ``Param(8, type="integer", minimum=1)``). The form has
one field per param, its input chosen from the schema's type; what the user enters is
turned back into JSON values and merged over the conf JSON field. The engine validates the
result again (``resolve_params``), so this module only has to build a good form and say
clearly which field holds a bad value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leoflow.errors import LeoflowError

Kind = Literal["integer", "number", "boolean", "string", "enum", "json"]


class ParamValueError(LeoflowError):
    """A form value that is not what its param takes; ``field`` names it (``conf`` for the
    conf JSON field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ParamField:
    name: str
    kind: Kind
    default: Any = None
    has_default: bool = False
    description: str | None = None
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    options: tuple[Any, ...] = ()
    title: str | None = None

    @property
    def label(self) -> str:
        return self.title or self.name

    @property
    def bounds(self) -> str | None:
        """The allowed range as the form shows it ("1 to 64", "at least 1"), or None."""
        low, high = _plain(self.minimum), _plain(self.maximum)
        if low is not None and high is not None:
            return f"{low} to {high}"
        if low is not None:
            return f"at least {low}"
        if high is not None:
            return f"at most {high}"
        return None

    def initial(self) -> Any:
        """The value the form field starts with."""
        if not self.has_default:
            return None if self.kind != "json" else ""
        if self.kind == "json":
            return json.dumps(self.default)
        return self.default


def _types(schema: Mapping[str, Any]) -> tuple[list[str], bool]:
    declared = schema.get("type")
    names = [declared] if isinstance(declared, str) else list(declared or [])
    nullable = "null" in names
    return [n for n in names if n != "null"], nullable


def param_fields(params: Mapping[str, Mapping[str, Any]]) -> list[ParamField]:
    """One field per param, in the order the DAG declared them."""
    fields = []
    for name, param in params.items():
        schema = param.get("schema") or {}
        types, nullable = _types(schema)
        kind: Kind
        if "enum" in schema and isinstance(schema["enum"], list):
            kind = "enum"
        elif len(types) == 1 and types[0] in ("integer", "number", "boolean", "string"):
            kind = types[0]  # type: ignore[assignment]
        elif not types and "default" in param and isinstance(param["default"], bool):
            kind = "boolean"
        elif not types and "default" in param and isinstance(param["default"], int):
            kind = "integer"
        elif not types and "default" in param and isinstance(param["default"], float):
            kind = "number"
        elif not types and "default" in param and isinstance(param["default"], str):
            kind = "string"
        else:
            kind = "json"
        fields.append(ParamField(
            name=name, kind=kind, default=param.get("default"), has_default="default" in param,
            description=param.get("description") or schema.get("description"),
            nullable=nullable, minimum=schema.get("minimum"), maximum=schema.get("maximum"),
            options=tuple(schema.get("enum") or ()), title=schema.get("title")))
    return fields


def _plain(number: float | None) -> int | float | None:
    return int(number) if isinstance(number, float) and number.is_integer() else number


def check_bounds(field: ParamField, value: float) -> None:
    """Refuse a number outside the param's range, naming the bound (the form never clamps:
    a clamped 100 would run as 64 while the user believes 100)."""
    if field.minimum is not None and value < field.minimum:
        raise ParamValueError(field.name, f"must be at least {_plain(field.minimum)}, "
                                          f"got {_plain(value)}")
    if field.maximum is not None and value > field.maximum:
        raise ParamValueError(field.name, f"must be at most {_plain(field.maximum)}, "
                                          f"got {_plain(value)}")


def field_value(field: ParamField, raw: Any) -> Any:
    """The JSON value of what the user entered in ``field``."""
    if raw is None or (isinstance(raw, str) and raw == "" and field.kind != "string"):
        if field.nullable or not field.has_default:
            return None
        raise ParamValueError(field.name, "a value is required")
    if field.kind == "integer":
        if isinstance(raw, bool):
            raise ParamValueError(field.name, "must be a whole number")
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ParamValueError(field.name, f"must be a whole number, got {raw}")
            whole = int(raw)
        else:
            try:
                whole = int(str(raw).strip())
            except ValueError:
                raise ParamValueError(field.name, f"must be a whole number, got {raw!r}"
                                      ) from None
        check_bounds(field, whole)
        return whole
    if field.kind == "number":
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ParamValueError(field.name, f"must be a number, got {raw!r}") from None
        check_bounds(field, value)
        return value
    if field.kind == "boolean":
        return bool(raw)
    if field.kind == "string":
        return str(raw)
    if field.kind == "enum":
        if raw not in field.options:
            raise ParamValueError(field.name, f"must be one of {list(field.options)}")
        return raw
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ParamValueError(field.name, f"is not valid JSON: {exc.msg} (line {exc.lineno})"
                              ) from None


def parse_conf(text: str) -> dict[str, Any]:
    """The conf JSON field: empty means ``{}``; anything else must be a JSON object."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamValueError("conf", f"is not valid JSON: {exc.msg} (line {exc.lineno}, "
                                      f"column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ParamValueError("conf", 'must be a JSON object, e.g. {"limit": 10}')
    return value


def build_conf(fields: list[ParamField], values: Mapping[str, Any], conf_text: str
               ) -> dict[str, Any]:
    """The run's conf: the conf JSON field, with every form field's value over it.

    A form field left at its default is not written into conf (the default applies anyway,
    and a value typed into the conf field for that param is kept), so a run records only
    what the user chose.
    """
    conf = parse_conf(conf_text)
    for field in fields:
        if field.name not in values:
            continue
        value = field_value(field, values[field.name])
        if field.has_default and value == field.default:
            continue
        if value is None and not field.has_default and not field.nullable:
            continue  # left empty: the engine says it is required
        conf[field.name] = value
    return conf
