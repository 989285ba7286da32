"""``BaseNotifier``: Airflow's notifier base class (``airflow.sdk.bases.notifier``).

A notifier is called with the task's context (``notifier(context)``): it renders its
``template_fields`` and calls ``notify(context)``. Human-in-the-loop operators call their
``notifiers`` when they start waiting. A failing notifier is logged, never fails the task
(Airflow's rule).

Rendering is done here, in the DAG's environment, which may not have Jinja: ``{{ a.b.c }}``
placeholders (a context name followed by attributes or keys) are replaced; anything else
(filters, calls, ``{% %}`` blocks) is left as written. docs/airflow-compat.md says so.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
_MISSING = object()


def task_logger(name: str) -> logging.Logger:
    """A logger whose INFO lines reach the task's log (its stdout), as Airflow's
    ``self.log`` does; the user process configures no logging of its own."""
    logger = logging.getLogger(f"airflow.task.{name}")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def _lookup(path: str, context: Mapping[str, Any]) -> Any:
    head, *rest = path.split(".")
    value: Any = context.get(head, _MISSING)
    for part in rest:
        if value is _MISSING:
            break
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        else:
            value = getattr(value, part, _MISSING)
    return value


def render_placeholders(text: str, context: Mapping[str, Any]) -> str:
    """Replace each ``{{ name.attr }}`` whose value is found in ``context``."""
    def replace(match: re.Match[str]) -> str:
        value = _lookup(match.group(1), context)
        return match.group(0) if value is _MISSING else str(value)

    return _PLACEHOLDER.sub(replace, text)


class BaseNotifier:
    """Subclass it and implement ``notify(context)``; see the module docstring."""

    template_fields: Sequence[str] = ()

    @property
    def log(self) -> logging.Logger:
        return task_logger(type(self).__name__)

    def render_template_fields(self, context: Mapping[str, Any]) -> None:
        fields = self.template_fields
        for name in (fields,) if isinstance(fields, str) else fields:
            value = getattr(self, name, None)
            if isinstance(value, str):
                setattr(self, name, render_placeholders(value, context))

    def notify(self, context: Mapping[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement notify(context)")

    def __call__(self, *args: Any) -> None:
        """``notifier(context)``; Airflow 2's ``(dag, ...)`` callback form is not supported."""
        context = args[0] if args and isinstance(args[0], Mapping) else {}
        try:
            self.render_template_fields(context)
            self.notify(context)
        except Exception as exc:  # a notification never decides the task's fate
            self.log.exception("Failed to send notification: %s", exc)
