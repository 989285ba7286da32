"""Jinja templating of operator fields, in Airflow's style, done by the agent.

Airflow renders a task's templated fields (``bash_command``, ``env``, ``op_args``,
``op_kwargs``...) with the task context right before running it. Leoflow does the same in the
agent, which has Jinja2 (the DAG's environment may not). As in Airflow: undefined names are
errors (``StrictUndefined``), trailing newlines are kept, ``{% do %}`` works, a
``bash_command`` ending in ``.sh`` or ``.bash`` is a template file found in the project, and
``ds``/``ts`` style filters exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_MARKERS = ("{{", "{%", "{#")
SCRIPT_SUFFIXES = (".sh", ".bash")


class TemplateRenderError(Exception):
    """A templated field could not be rendered; names the field and Jinja's reason."""

    def __init__(self, field: str, error: Exception) -> None:
        self.field = field
        self.type_name = type(error).__name__
        hint = ""
        if isinstance(error, jinja2.UndefinedError):
            hint = (" (available: ds, ds_nodash, ts, logical_date, data_interval_start, "
                    "data_interval_end, run_id, params, dag_run, dag, task, ti, var, conn, "
                    "macros, ...; logical_date exists only when the run has one)")
        super().__init__(f"cannot render {field}: {error}{hint}")


def _date_filter(fmt: str) -> Any:
    def apply(value: datetime | None) -> str:
        return value.strftime(fmt) if value is not None else ""

    return apply


def make_environment(search_path: str | Path | None) -> jinja2.Environment:
    """Airflow's template environment (``template_undefined=StrictUndefined``)."""
    loader = jinja2.FileSystemLoader(str(search_path)) if search_path else None
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, extensions=["jinja2.ext.do"],
                             cache_size=0, autoescape=False)
    env.filters.update({
        "ds": _date_filter("%Y-%m-%d"), "ds_nodash": _date_filter("%Y%m%d"),
        "ts": lambda v: v.isoformat() if v is not None else "",
        "ts_nodash": _date_filter("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": lambda v: v.isoformat().replace("-", "").replace(":", "")
        if v is not None else "",
    })
    return env


def has_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(marker in value for marker in TEMPLATE_MARKERS)
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    return False


def render(value: Any, context: Mapping[str, Any], env: jinja2.Environment, field: str) -> Any:
    """Render every string inside ``value`` (lists and dicts recursively)."""
    if isinstance(value, str):
        if not any(marker in value for marker in TEMPLATE_MARKERS):
            return value
        try:
            return env.from_string(value).render(**context)
        except Exception as exc:  # Jinja and the user's expressions may raise anything
            raise TemplateRenderError(field, exc) from exc
    if isinstance(value, list):
        return [render(v, context, env, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(render(v, context, env, f"{field}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: render(v, context, env, f"{field}[{k!r}]") for k, v in value.items()}
    return value


def render_command(command: str, context: Mapping[str, Any], env: jinja2.Environment,
                   project_dir: str) -> str:
    """``bash_command``: a ``.sh``/``.bash`` path is a template file of the project."""
    stripped = command.strip()
    is_script = stripped.endswith(SCRIPT_SUFFIXES) and not any(c.isspace() for c in stripped)
    if is_script and (Path(project_dir) / stripped).is_file():
        try:
            return env.get_template(stripped).render(**context)
        except Exception as exc:
            raise TemplateRenderError(f"bash_command ({stripped})", exc) from exc
    return render(command, context, env, "bash_command")


def render_literal_inputs(value: Any, encoded: Any, context: Mapping[str, Any],
                          env: jinja2.Environment, field: str) -> Any:
    """Render the parts of a resolved input that were literals in the DAG file.

    Airflow renders strings written in ``op_args``/``op_kwargs`` (and a ``@task``'s arguments)
    but not the values that came from upstream XComs; the dag.json encoding of the inputs
    (``{"literal": ...}``, ``{"xcom": ...}``, ``{"list": [...]}``...) tells which is which.
    """
    if not isinstance(encoded, Mapping) or len(encoded) != 1:
        return value
    ((tag, body),) = encoded.items()
    if tag == "literal":
        return render(value, context, env, field)
    if tag == "list" and isinstance(value, list) and isinstance(body, list):
        return [render_literal_inputs(v, e, context, env, f"{field}[{i}]")
                for i, (v, e) in enumerate(zip(value, body, strict=False))] + value[len(body):]
    if tag == "dict" and isinstance(value, dict) and isinstance(body, Mapping):
        return {k: render_literal_inputs(v, body.get(k), context, env, f"{field}[{k!r}]")
                for k, v in value.items()}
    return value
