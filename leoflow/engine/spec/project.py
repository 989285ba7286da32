"""leoflow.yaml: a DAG project's id, Python version, dependencies and environment.

It also holds the pod settings used under the Kubernetes executor: a top-level
``kubernetes:`` block of defaults and ``tasks: {task_id: {kubernetes: ...}}`` overrides,
merged per task by ``ProjectConfig.kubernetes_for`` into the compiled spec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leoflow.engine.spec.errors import SpecError
from leoflow.engine.spec.schemas import PROJECT_SCHEMA, validate

PROJECT_FILE = "leoflow.yaml"
_PROJECT_PROPERTIES = tuple(json.loads(
    (Path(__file__).parent / "schemas" / "leoflow_yaml.schema.json").read_text("utf-8")
)["properties"])


@dataclass(frozen=True)
class ProjectConfig:
    """The validated content of a leoflow.yaml file."""

    dag_id: str
    python_version: str | None = None
    dependencies: tuple[str, ...] = ()
    description: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    schema_version: int = 1
    kubernetes: Mapping[str, Any] = field(default_factory=dict)
    task_kubernetes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    task_lines: Mapping[str, int] = field(default_factory=dict)  # where each is declared
    ignored_fields: tuple[str, ...] = ()  # of an original-Leoflow file (see _seed_format)

    def kubernetes_for(self, task_id: str) -> dict[str, Any]:
        """The pod settings of ``task_id``: the defaults with the task's own on top.

        Maps (resources' requests and limits, node_selector, env, annotations, labels) are
        merged key by key so a task can raise one limit without restating the rest; lists
        and strings (tolerations, service_account_name) are replaced.
        """
        return merge_kubernetes(self.kubernetes, self.task_kubernetes.get(task_id, {}))


MERGED_MAPS = ("node_selector", "env", "annotations", "labels")


def merge_kubernetes(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base`` (see ``ProjectConfig.kubernetes_for``); empty parts dropped."""
    merged: dict[str, Any] = {}
    for key in {*base, *top}:
        if key in MERGED_MAPS:
            value: Any = {**base.get(key, {}), **top.get(key, {})}
        elif key == "resources":
            low, high = base.get(key, {}), top.get(key, {})
            value = {part: {**low.get(part, {}), **high.get(part, {})}
                     for part in ("requests", "limits") if low.get(part) or high.get(part)}
        else:
            value = top[key] if key in top else base[key]
        if value or value == 0:
            merged[key] = value
    return dict(sorted(merged.items()))


def parse_project(text: str, *, file: str = PROJECT_FILE) -> ProjectConfig:
    """Parse and validate leoflow.yaml text; errors name the field and its line."""
    from leoflow.engine.spec.safe_yaml import load_yaml

    root, data = load_yaml(text, file=file)  # size and alias expansion bounded
    if data is None:
        raise SpecError("is empty; it needs at least 'dag_id: <id>'", file=file, line=1)
    if not isinstance(data, dict):
        raise SpecError("must be a mapping of settings (e.g. 'dag_id: my_dag')", file=file,
                        line=1)
    data, ignored = _seed_format(data)
    validate(data, PROJECT_SCHEMA, file=file, line_of=lambda path: yaml_line(root, path))
    return ProjectConfig(
        dag_id=data["dag_id"],
        python_version=data.get("python_version"),
        dependencies=tuple(data.get("dependencies") or ()),
        description=data.get("description"),
        owner=data.get("owner"),
        tags=tuple(data.get("tags") or ()),
        image=data.get("image"),
        env=dict(data.get("env") or {}),
        schema_version=int(float(data.get("schema_version", 1))),
        kubernetes=dict(data.get("kubernetes") or {}),
        task_kubernetes={task_id: dict((body or {}).get("kubernetes") or {})
                         for task_id, body in (data.get("tasks") or {}).items()},
        task_lines={task_id: yaml_line(root, ("tasks", task_id)) or 1
                    for task_id in (data.get("tasks") or {})},
        ignored_fields=ignored,
    )


def _seed_format(data: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A file written for the original Leoflow (``schema_version: "1.0"``, a string) may
    hold fields this version does not use: they are set aside (and listed in
    ``ignored_fields``) instead of refused, so such projects compile unchanged. Files of
    this version's format keep the strict check that catches a misspelt setting."""
    if not isinstance(data.get("schema_version"), str):
        return data, ()
    known = set(_PROJECT_PROPERTIES)
    ignored = tuple(sorted(str(k) for k in data if k not in known))
    return {k: v for k, v in data.items() if k in known}, ignored


def yaml_line(root: Any, path: tuple[Any, ...]) -> int | None:
    """1-based line of the node at ``path`` in a composed YAML tree (closest parent known)."""
    import yaml

    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(
                node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
