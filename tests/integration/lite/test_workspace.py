"""The workspace: finding projects, and copying the bundled examples without ever
overwriting a file the user changed unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leoflow.app.workspace import (
    EXAMPLES_DIR,
    MANIFEST,
    bundled_examples_dir,
    copy_examples,
    example_conflicts,
)
from leoflow.engine.reload.projects import find_projects, is_ignored, project_of


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small bundle of two example projects (plus files that must not be copied)."""
    root = tmp_path / "bundle"
    for name in ("alpha", "beta"):
        (root / name).mkdir(parents=True)
        (root / name / "leoflow.yaml").write_text(f"dag_id: {name}\n", "utf-8")
        (root / name / "dag.py").write_text(f"# {name} v1\n", "utf-8")
    (root / "alpha" / "dag.json").write_text("{}", "utf-8")
    (root / "alpha" / "__pycache__").mkdir()
    (root / "alpha" / "__pycache__" / "dag.cpython-311.pyc").write_bytes(b"\0")
    (root / "alpha" / ".venv").mkdir()
    (root / "alpha" / ".venv" / "x.py").write_text("", "utf-8")
    return root


def test_the_examples_of_the_checkout_are_found() -> None:
    found = bundled_examples_dir()
    assert found is not None
    assert (found / "hello" / "dag.py").is_file()


def test_the_examples_dir_can_be_overridden(source: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEOFLOW_EXAMPLES_DIR", str(source))
    assert bundled_examples_dir() == source


def test_a_first_copy_takes_the_project_files_only(tmp_path: Path, source: Path) -> None:
    workspace = tmp_path / "ws"
    report = copy_examples(workspace, source=source)
    assert sorted(report.copied) == ["alpha/dag.py", "alpha/leoflow.yaml", "beta/dag.py",
                                     "beta/leoflow.yaml"]
    target = workspace / EXAMPLES_DIR
    assert not (target / "alpha" / "dag.json").exists()
    assert not (target / "alpha" / "__pycache__").exists()
    assert not (target / "alpha" / ".venv").exists()
    manifest = json.loads((target / MANIFEST).read_text("utf-8"))
    assert set(manifest["files"]) == set(report.copied)
    assert find_projects(workspace) == [target / "alpha", target / "beta"]


def test_copying_again_changes_nothing(tmp_path: Path, source: Path) -> None:
    workspace = tmp_path / "ws"
    copy_examples(workspace, source=source)
    report = copy_examples(workspace, source=source)
    assert report.written == [] and len(report.unchanged) == 4


def test_a_changed_file_is_kept_without_asking(tmp_path: Path, source: Path) -> None:
    workspace = tmp_path / "ws"
    copy_examples(workspace, source=source)
    mine = workspace / EXAMPLES_DIR / "alpha" / "dag.py"
    mine.write_text("# my own work\n", "utf-8")
    (source / "alpha" / "dag.py").write_text("# alpha v2\n", "utf-8")
    assert example_conflicts(workspace, source) == ["alpha/dag.py"]
    report = copy_examples(workspace, source=source)
    assert report.kept == ["alpha/dag.py"]
    assert mine.read_text("utf-8") == "# my own work\n"
    # Asked, the user may say no (kept) or yes (replaced).
    asked: list[str] = []
    report = copy_examples(workspace, lambda path: asked.append(path) is not None,
                           source=source)
    assert asked == ["alpha/dag.py"] and report.kept == ["alpha/dag.py"]
    report = copy_examples(workspace, lambda path: True, source=source)
    assert report.replaced == ["alpha/dag.py"]
    assert mine.read_text("utf-8") == "# alpha v2\n"
    assert example_conflicts(workspace, source) == []


def test_an_untouched_file_follows_the_bundle(tmp_path: Path, source: Path) -> None:
    workspace = tmp_path / "ws"
    copy_examples(workspace, source=source)
    (source / "beta" / "dag.py").write_text("# beta v2\n", "utf-8")
    assert example_conflicts(workspace, source) == []
    report = copy_examples(workspace, lambda path: pytest.fail(f"asked about {path}"),
                           source=source)
    assert report.updated == ["beta/dag.py"]
    assert (workspace / EXAMPLES_DIR / "beta" / "dag.py").read_text("utf-8") == "# beta v2\n"


def test_a_deleted_example_comes_back(tmp_path: Path, source: Path) -> None:
    workspace = tmp_path / "ws"
    copy_examples(workspace, source=source)
    (workspace / EXAMPLES_DIR / "beta" / "dag.py").unlink()
    assert copy_examples(workspace, source=source).copied == ["beta/dag.py"]


def test_projects_are_found_below_the_workspace_but_not_in_tool_folders(
        tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    for folder in ("a", "team/b", ".venv/c", "team/node_modules/d", "a/nested",
                   "x/__pycache__/e", ".hidden/f", "1/2/3/4/5/too_deep"):
        (workspace / folder).mkdir(parents=True)
        (workspace / folder / "leoflow.yaml").write_text("dag_id: x\n", "utf-8")
    assert find_projects(workspace) == [workspace / "a", workspace / "team" / "b"]


def test_the_watcher_ignores_leoflow_state_folders_inside_projects(tmp_path: Path) -> None:
    """A project's .leoflow/ holds the IDE's state and image build contexts (copies of
    dag.py and leoflow.yaml): a save there must not look like an edit of a project."""
    assert is_ignored(tmp_path / "ws" / "a" / ".leoflow" / "images" / "dag.py")
    assert not is_ignored(tmp_path / "ws" / "a" / "dag.py")


def test_a_file_belongs_to_its_nearest_project(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "p" / "lib").mkdir(parents=True)
    (workspace / "p" / "leoflow.yaml").write_text("dag_id: p\n", "utf-8")
    assert project_of(workspace, workspace / "p" / "dag.py") == workspace / "p"
    assert project_of(workspace, workspace / "p" / "lib" / "util.py") == workspace / "p"
    assert project_of(workspace, workspace / "gone" / "dag.py") == workspace / "gone"
    assert project_of(workspace, workspace / "loose.py") is None
    assert project_of(workspace, workspace / "p" / ".venv" / "x.py") is None
    assert project_of(workspace, tmp_path / "elsewhere" / "dag.py") is None


def test_every_example_ships_in_the_wheel() -> None:
    """An installed Leoflow finds its examples under <prefix>/share/leoflow/examples, where
    pyproject.toml's data-files put them: every example folder must be listed there."""
    import tomllib

    root = Path(__file__).resolve().parents[3]
    config = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    data_files = config.get("tool", {}).get("setuptools", {}).get("data-files")
    if data_files is None:
        pytest.skip("no [tool.setuptools.data-files] in pyproject.toml: examples are read "
                    "from the checkout only")
    shipped = {key.rsplit("/", 1)[-1] for key in data_files
               if key.startswith("share/leoflow/examples/")}
    assert shipped == {p.name for p in find_projects(root / "examples", max_depth=1)}
