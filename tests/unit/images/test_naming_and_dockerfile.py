"""Image names, the image plan and the generated Dockerfile text (pure functions)."""

from __future__ import annotations

import pytest

from leoflow.engine.images import ImageError, plan_image, render_dockerfile, resolve_image
from leoflow.engine.images.context import excluded
from leoflow.engine.images.dockerfile import render_requirements
from leoflow.engine.images.naming import default_image, spec_hash

HASH = "0123456789abcdef" * 4
DOC = {"dag_id": "etl", "content_hash": "sha256:" + HASH}


def test_default_name_is_the_dag_id_and_twelve_hex_of_the_hash() -> None:
    assert default_image("etl", HASH) == "leoflow-dag-etl:0123456789ab"
    # a repository name is lowercase; '.', '_' and '-' stay where Docker allows them
    assert default_image("My_DAG.v2", HASH) == "leoflow-dag-my_dag.v2:0123456789ab"
    assert default_image("a..b_-c", HASH) == "leoflow-dag-a-b-c:0123456789ab"
    assert default_image("_x_", HASH) == "leoflow-dag-x:0123456789ab"


def test_the_hash_of_a_project_with_several_dags_covers_them_all() -> None:
    one = spec_hash([DOC])
    assert one == HASH
    both = spec_hash([DOC, {"dag_id": "b", "content_hash": "sha256:" + "f" * 64}])
    assert both != HASH and len(both) == 64
    assert both == spec_hash([{"dag_id": "b", "content_hash": "sha256:" + "f" * 64}, DOC])


@pytest.mark.parametrize(("requested", "declared", "expected"), [
    (None, None, "leoflow-dag-etl:0123456789ab"),
    (None, "ghcr.io/acme/etl:2024", "ghcr.io/acme/etl:2024"),
    ("registry.local:5000/team/etl:v1", "ghcr.io/acme/etl:2024",
     "registry.local:5000/team/etl:v1"),
    ("registry.local:5000/team/etl", None, "registry.local:5000/team/etl:0123456789ab"),
    ("etl", None, "etl:0123456789ab"),
])
def test_image_flag_wins_then_leoflow_yaml_then_the_default(
        requested: str | None, declared: str | None, expected: str) -> None:
    assert resolve_image(requested, declared=declared, dag_id="etl", hex_hash=HASH) == expected


@pytest.mark.parametrize(("requested", "message"), [
    ("Team/ETL:v1", "--image 'Team/ETL:v1' is not an image reference"),
    ("etl:bad tag", "is not an image reference"),
    ("etl@sha256:" + "a" * 64, "give NAME:TAG to build, not a digest"),
])
def test_bad_image_references_name_the_flag(requested: str, message: str) -> None:
    with pytest.raises(ImageError, match=message.replace("(", r"\(")):
        resolve_image(requested, declared=None, dag_id="etl", hex_hash=HASH)


def _plan(**overrides: object):  # type: ignore[no-untyped-def]
    options: dict = {"dag_id": "etl", "python_version": "3.12",
                     "dependencies": ["pandas==2.2.2", "requests>=2"],
                     "declared_image": None, "documents": [DOC]}
    options.update(overrides)
    return plan_image(**options)


def test_dependencies_go_into_the_dag_venv_and_the_requirements_file() -> None:
    plan = _plan()
    text = render_dockerfile(plan)
    assert "\nFROM python:3.12-slim\n" in text
    assert "syntax=" not in text  # BuildKit would pull a frontend image for it: offline builds
    assert ("RUN python -m venv /opt/leoflow/dag-venv \\\n"
            " && /opt/leoflow/dag-venv/bin/pip install -r /opt/leoflow/requirements-dag.txt"
            in text)
    requirements = render_requirements(plan).splitlines()
    assert requirements[1:] == ["pandas==2.2.2", "requests>=2"]
    # the DAG's environment comes before the agent's, and the project last (layer cache)
    assert (text.index("dag-venv/bin/pip install") < text.index("agent-venv/bin/pip install")
            < text.index("COPY --chown=10001:10001 project/"))


def test_base_image_override_keeps_the_python_check() -> None:
    text = render_dockerfile(_plan(base_image="leoflow-python-runtime:3.12"))
    assert "\nFROM leoflow-python-runtime:3.12\n" in text
    assert "v == '3.12'" in text
    # the runtime base already has user 10001: the Dockerfile creates it only when missing
    assert "getent passwd 10001 >/dev/null || useradd" in text


def test_python_version_defaults_to_this_python() -> None:
    import sys

    plan = _plan(python_version=None)
    assert plan.python_version == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_python_older_than_the_agent_is_refused() -> None:
    with pytest.raises(ImageError, match=r"python_version 3.10: DAG images need Python 3.11"):
        _plan(python_version="3.10")


def test_a_dependency_spanning_lines_is_refused() -> None:
    with pytest.raises(ImageError, match="spans several lines"):
        _plan(dependencies=["pandas\nRUN curl evil"])


def test_labels_are_quoted_so_descriptions_cannot_break_the_dockerfile() -> None:
    text = render_dockerfile(_plan(description='Nightly "ETL" \\ run\nRUN rm -rf /'))
    label = next(line for line in text.splitlines()
                 if "org.opencontainers.image.description" in line)
    assert label.strip() == ('org.opencontainers.image.description='
                             '"Nightly \\"ETL\\" \\\\ run\\nRUN rm -rf /" \\')
    assert "\nRUN rm -rf /" not in text


@pytest.mark.parametrize(("path", "is_dir", "out"), [
    (".leoflow", True, True), ("sub/.venv", True, True), ("__pycache__", True, True),
    (".git", True, True), ("data", True, False),
    (".env", False, True), (".env.production", False, True), ("certs/tls.key", False, True),
    ("keys/id_rsa", False, True), ("ca.pem", False, True), (".netrc", False, True),
    ("dag.py", False, False), ("sql/report.sql", False, False), ("env.py", False, False),
])
def test_what_stays_out_of_the_image(path: str, is_dir: bool, out: bool) -> None:
    assert excluded(path, is_dir=is_dir) is out


def test_the_projects_dockerignore_patterns_apply() -> None:
    assert excluded("data/big.parquet", is_dir=False, patterns=["data/*.parquet"])
    assert excluded("notebooks", is_dir=True, patterns=["notebooks"])
    assert not excluded("dag.py", is_dir=False, patterns=["data/*.parquet"])
