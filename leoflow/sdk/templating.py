"""The templating surface of operators in the user process: ``render_template``,
``template_ext`` files and the DAG's ``template_searchpath``.

Jinja lives in the agent (``leoflow.agent.templating``), not in the DAG's environment: the
SDK imports the standard library only. So ``task.render_template(content, context)`` called
by user code while a task runs is a request to the agent over the task runner's channel; the
agent renders ``content`` with the task's own template context, overlaid with the JSON values
of the ``context`` the caller passed (``params``, ``run_id``, ``ds``, a value the caller
added...). Objects that are not JSON (``ti``, dates) are the agent's own, which are the same.

``template_ext`` (a class attribute, or ``templates_exts=[...]`` on ``@task`` and
``PythonOperator``) and ``template_searchpath`` (on the DAG) travel in dag.json as the task
options ``template_ext`` and ``template_searchpath``: the agent reads a templated string that
ends with one of the extensions from a file in the DAG's folder or the search path, and
renders it, as Airflow does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

OP_RENDER = "render_template"

Renderer = Callable[[Any, dict[str, Any]], Any]
_renderer: Renderer | None = None


def set_renderer(renderer: Renderer | None) -> None:
    """Installed by the task runner (a channel request); ``None`` outside a running task."""
    global _renderer
    _renderer = renderer


def json_overlay(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of ``context`` that can travel to the agent as JSON."""
    overlay: dict[str, Any] = {}
    for key, value in (context or {}).items():
        if not isinstance(key, str):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        overlay[key] = value
    return overlay


def render_template(task: Any, content: Any, context: Mapping[str, Any] | None) -> Any:
    """Airflow's ``BaseOperator.render_template``: strings, and the strings inside lists,
    tuples and dicts, rendered with Jinja; other values are returned as they are."""
    if not _has_text(content):
        return content
    if _renderer is None:
        raise RuntimeError(
            f"task {getattr(task, 'task_id', '?')!r}: render_template() works while the task "
            "runs (the agent renders it with Jinja); it cannot be called while the DAG file "
            "is compiled")
    rendered = _renderer(content, json_overlay(context))
    return tuple(rendered) if isinstance(content, tuple) else rendered


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_text(v) for v in value)
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    return False


def template_options(op: Any) -> dict[str, Any]:
    """dag.json options for a task's template files (empty when it has none, so other
    tasks' specs and hashes stay as they were)."""
    options: dict[str, Any] = {}
    templates_dict = getattr(op, "templates_dict", None)
    if templates_dict is not None:  # rendered by the agent, given as context["templates_dict"]
        options["templates_dict"] = templates_dict
    exts = getattr(op, "template_ext", ()) or ()
    exts = [exts] if isinstance(exts, str) else [str(e) for e in exts]
    if not exts or op.operator_kind == "bash":  # bash_command .sh/.bash: the agent's rule
        return options
    options["template_ext"] = exts
    paths = getattr(op.dag, "template_searchpath", None) or []
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if paths:
        options["template_searchpath"] = [os.fspath(p) for p in paths]
    return options


def use_agent_templating(payload: Mapping[str, Any], context: dict[str, Any],
                         channel: Any) -> None:
    """In the task runner: ``render_template`` asks the agent, and ``templates_dict`` (which
    the agent rendered) is in the context."""
    set_renderer(lambda content, overlay: channel.request(OP_RENDER, content=content,
                                                          context=overlay))
    if payload.get("templates_dict") is not None:
        context["templates_dict"] = payload["templates_dict"]
