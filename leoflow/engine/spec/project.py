"""leoflow.yaml: a DAG project's id, Python version, dependencies and environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leoflow.engine.spec.errors import SpecError
from leoflow.engine.spec.schemas import PROJECT_SCHEMA, validate

PROJECT_FILE = "leoflow.yaml"


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


def parse_project(text: str, *, file: str = PROJECT_FILE) -> ProjectConfig:
    """Parse and validate leoflow.yaml text; errors name the field and its line."""
    import yaml

    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"not valid YAML: {problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    if data is None:
        raise SpecError("is empty; it needs at least 'dag_id: <id>'", file=file, line=1)
    if not isinstance(data, dict):
        raise SpecError("must be a mapping of settings (e.g. 'dag_id: my_dag')", file=file,
                        line=1)
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
        schema_version=int(data.get("schema_version", 1)),
    )


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
