"""The agent's half of the templating surface (``leoflow.sdk.templating``).

* ``template_ext``: a literal string input ending with one of the task's extensions (e.g.
  ``"sql/query.sql"`` with ``templates_exts=[".sql"]``) is read from the project folder or
  the DAG's ``template_searchpath`` and rendered, as Airflow does; values that came from
  upstream XComs are never read as files. A DAG file in a subfolder of a DAGs folder finds
  them beside itself first, as in Airflow.
* ``templates_dict``: rendered the same way and given to the task as
  ``context["templates_dict"]``.
* ``render_template`` requests from user code: rendered with the task's template context,
  overlaid with the JSON values the caller's context held.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from leoflow.agent.taskrun import TaskRun
from leoflow.agent.templating import TemplateRenderError, make_environment, render


def search_path(run: TaskRun) -> list[str]:
    """Where template files are found: the DAG file's folder in its project, the project
    folder (the top of a DAGs folder), ``template_searchpath`` (relative entries from the
    project), then the folder of the run's pinned copy of the DAG file."""
    project = Path(run.task.project_dir or os.getcwd())
    paths = [Path(run.task.dag_folder)] if run.task.dag_folder else []
    paths.append(project)
    for entry in run.options.get("template_searchpath") or []:
        paths.append(project / entry)  # an absolute entry stays absolute
    if run.task.dag_file:
        paths.append((project / run.task.dag_file).parent)
    unique: list[str] = []
    for path in paths:
        if str(path) not in unique:
            unique.append(str(path))
    return unique


def environment(run: TaskRun) -> jinja2.Environment:
    env = make_environment(None)
    env.loader = jinja2.FileSystemLoader(search_path(run))
    return env


def render_value(value: Any, context: Mapping[str, Any], env: jinja2.Environment,
                 field: str, exts: tuple[str, ...]) -> Any:
    """``render``, except that a string ending with one of ``exts`` is a template file."""
    if isinstance(value, str) and exts and value.endswith(exts):
        try:
            return env.get_template(value).render(**context)
        except jinja2.TemplateNotFound:
            raise TemplateRenderError(field, FileNotFoundError(
                f"template file {value!r} not found in {', '.join(search_path_of(env))}")
            ) from None
        except Exception as exc:  # Jinja and the user's expressions may raise anything
            raise TemplateRenderError(f"{field} ({value})", exc) from exc
    if isinstance(value, list):
        return [render_value(v, context, env, f"{field}[{i}]", exts)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: render_value(v, context, env, f"{field}[{k!r}]", exts)
                for k, v in value.items()}
    return render(value, context, env, field)


def search_path_of(env: jinja2.Environment) -> list[str]:
    loader = env.loader
    return list(getattr(loader, "searchpath", []) or [])


def _literal_parts(value: Any, encoded: Any, context: Mapping[str, Any],
                   env: jinja2.Environment, field: str, exts: tuple[str, ...]) -> Any:
    """As ``templating.render_literal_inputs``: only what was a literal in the DAG file."""
    if not isinstance(encoded, Mapping) or len(encoded) != 1:
        return value
    ((tag, body),) = encoded.items()
    if tag == "literal":
        return render_value(value, context, env, field, exts)
    if tag == "list" and isinstance(value, list) and isinstance(body, list):
        return [_literal_parts(v, e, context, env, f"{field}[{i}]", exts)
                for i, (v, e) in enumerate(zip(value, body, strict=False))] + value[len(body):]
    if tag == "dict" and isinstance(value, dict) and isinstance(body, Mapping):
        return {k: _literal_parts(v, body.get(k), context, env, f"{field}[{k!r}]", exts)
                for k, v in value.items()}
    return value


async def render_inputs(run: TaskRun) -> tuple[list[Any], dict[str, Any]]:
    """The task's arguments with Jinja and template files rendered (literal parts only)."""
    exts = tuple(str(e) for e in run.options.get("template_ext") or ())
    inputs = run.spec.get("inputs") or {}
    encoded_args = list(inputs.get("args") or [])
    encoded_kwargs = dict(inputs.get("kwargs") or {})
    context = run.template_context()
    env = environment(run)

    def render_all() -> tuple[list[Any], dict[str, Any]]:
        args = [_literal_parts(v, encoded_args[i] if i < len(encoded_args) else None,
                               context, env, f"args[{i}]", exts)
                for i, v in enumerate(run.args)]
        kwargs = {k: _literal_parts(v, encoded_kwargs.get(k), context, env, k, exts)
                  for k, v in run.kwargs.items()}
        return args, kwargs

    return await asyncio.to_thread(render_all)


async def templates_dict_payload(run: TaskRun) -> dict[str, Any]:
    """``{"templates_dict": <rendered>}`` for the runner's payload, or nothing."""
    templates = run.options.get("templates_dict")
    if templates is None:
        return {}
    exts = tuple(str(e) for e in run.options.get("template_ext") or ())
    context = run.template_context()
    env = environment(run)
    rendered = await asyncio.to_thread(render_value, templates, context, env,
                                       "templates_dict", exts)
    return {"templates_dict": rendered}


async def serve_render(run: TaskRun, message: Mapping[str, Any]) -> Any:
    """Answer a ``render_template`` request of the user's code."""
    context = run.template_context()
    overlay = message.get("context")
    if isinstance(overlay, Mapping):
        context.update(overlay)
    env = environment(run)
    return await asyncio.to_thread(render, message.get("content"), context, env,
                                   "render_template()")
