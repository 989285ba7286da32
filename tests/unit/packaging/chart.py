"""Load and render the Leoflow Helm chart the way ``helm template`` would, without helm.

No ``helm`` binary runs on the machines the suite runs on, so the chart's templates are
rendered by ``gotemplate.Renderer`` (a strict subset of Go templates) and the values are
checked against ``values.schema.json`` with ``jsonschema``, as Helm does before rendering.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.unit.packaging.gotemplate import Renderer, merge_values

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "packaging" / "helm" / "leoflow"
EXAMPLES = sorted((CHART / "values-examples").glob("*.yaml"))
RELEASE = "prod"
NAMESPACE = "leoflow"


def chart_metadata() -> dict[str, Any]:
    return yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))


def default_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text("utf-8"))


def schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text("utf-8"))


def schema_errors(values: dict[str, Any]) -> list[str]:
    """Each violation as ``path: message`` (path joined with dots), sorted."""
    validator = jsonschema.Draft7Validator(schema())
    return sorted(".".join(str(p) for p in e.absolute_path) + ": " + e.message
                  for e in validator.iter_errors(values))


def values_with(path: Path | None = None, **override: Any) -> dict[str, Any]:
    """values.yaml with a values file (as ``-f``) and then ``override`` merged over it."""
    values = default_values()
    if path is not None:
        values = merge_values(values, yaml.safe_load(path.read_text("utf-8")))
    return merge_values(values, override)


@cache
def renderer() -> Renderer:
    templates = {f"templates/{p.name}": p.read_text("utf-8")
                 for p in sorted((CHART / "templates").iterdir()) if p.is_file()}
    return Renderer(templates)


@dataclass
class Rendered:
    """What ``helm template`` prints: the manifests, by kind and name, and NOTES.txt."""

    manifests: list[dict[str, Any]]
    notes: str

    def kinds(self) -> list[str]:
        return sorted(m["kind"] for m in self.manifests)

    def one(self, kind: str) -> dict[str, Any]:
        found = [m for m in self.manifests if m["kind"] == kind]
        assert len(found) == 1, f"{len(found)} {kind} manifests"
        return found[0]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m["kind"] == kind]


def render(values: dict[str, Any], *, release: str = RELEASE,
           namespace: str = NAMESPACE) -> Rendered:
    """Render every template (``_*`` files only define helpers, as in Helm); each output
    must be YAML whose documents are Kubernetes objects."""
    meta = chart_metadata()
    context = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm",
                    "IsInstall": True, "IsUpgrade": False},
        "Chart": {"Name": meta["name"], "Version": meta["version"],
                  "AppVersion": meta["appVersion"]},
    }
    manifests: list[dict[str, Any]] = []
    notes = ""
    for name in renderer().trees:
        text = renderer().render(name, context)
        base = name.rsplit("/", 1)[-1]
        if base.startswith("_"):
            assert not text.strip(), f"{name} renders text outside its defines: {text!r}"
            continue
        if base == "NOTES.txt":
            notes = text
            continue
        try:
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            numbered = "\n".join(f"{i:4} {line}" for i, line in
                                 enumerate(text.splitlines(), start=1))
            raise AssertionError(f"{name} does not render to YAML: {exc}\n{numbered}") from exc
        for document in documents:
            assert {"apiVersion", "kind", "metadata"} <= set(document), (name, document)
            manifests.append(document)
    return Rendered(manifests, notes)


def secret_data(rendered: Rendered) -> dict[tuple[str, str], str]:
    """(secret name, key) → decoded value, for the Secrets the chart itself creates."""
    return {(s["metadata"]["name"], key): base64.b64decode(value).decode()
            for s in rendered.all("Secret") for key, value in (s.get("data") or {}).items()}
