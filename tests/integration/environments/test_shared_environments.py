"""DAG environments shared by every DAG asking for the same contents, read-only once built,
built once even when two processes ask at the same time (real uv, real processes)."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from leoflow.engine.environments import EnvironmentManager
from leoflow.engine.environments.sealing import writable
from leoflow.engine.environments.uv import find_uv, run_uv

pytest.importorskip("uv", reason="DAG environments need the uv package (pip install uv)")

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
SIX = ["six==1.16.0"]
REPO = Path(__file__).resolve().parents[3]


def run_in(python: Path, code: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, timeout=60, **kwargs)


async def test_a_second_dag_with_the_same_packages_reuses_the_environment(tmp_path):
    manager = EnvironmentManager(tmp_path)
    lines: list[str] = []
    first = await manager.ensure("sales", PYTHON, SIX, lines.append)
    assert any("resolving six==1.16.0" in line for line in lines)
    assert any(line.lstrip().startswith("Resolved 1 package") for line in lines), lines
    assert any("compiling bytecode once" in line for line in lines), lines
    started = time.monotonic()
    second = await manager.ensure("finance", PYTHON, list(reversed(SIX)))
    reused_in = time.monotonic() - started
    assert reused_in < 1.0
    assert second.path == first.path and second.dag_id == "finance"
    assert manager.builds == 1
    # each DAG is recorded: venvs/dags/<dag_id> -> the environment it uses
    assert manager.of_dag("sales") == manager.of_dag("finance") == first.path.resolve()
    assert manager.of_dag("nobody_asked") is None
    other = await manager.ensure("legacy", PYTHON, ["six==1.17.0"])
    assert other.path != first.path and manager.builds == 2
    assert manager.of_dag("legacy") == other.path.resolve()
    # the bytecode was compiled at build time: importing never needs to write
    site = next((first.path / "lib").glob("python*/site-packages"))
    assert list((site / "__pycache__").glob("six.*.pyc"))


def _attempt_writes(site: Path) -> str:
    """A task trying to change the shared packages three ways; what each attempt gave."""
    return (
        "import json, os, pathlib\n"
        f"site = pathlib.Path({str(site)!r})\n"
        "out = {}\n"
        "for name, act in (\n"
        "    ('edit', lambda: open(site / 'six.py', 'a').write('raise SystemExit(3)\\n')),\n"
        "    ('add', lambda: (site / 'sitecustomize.py').write_text('x = 1\\n')),\n"
        "    ('remove', lambda: os.remove(site / 'six.py')),\n"
        "):\n"
        "    try:\n"
        "        act(); out[name] = 'done'\n"
        "    except PermissionError:\n"
        "        out[name] = 'refused'\n"
        "print(json.dumps(out))\n")


@pytest.fixture
def reachable_home():
    """A home that another OS user can pass through (pytest's own folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="leoflow-shared-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_no_task_can_change_the_packages_of_another_dag(reachable_home):
    """The environment is sealed: neither its owner (a non-root control plane runs its
    default tenant's tries as itself) nor another OS user (a tenant's task user) can edit,
    add or remove a file of it; the other DAG imports the same six as before."""
    manager = EnvironmentManager(reachable_home)
    mine = await manager.ensure("mine", PYTHON, SIX)
    theirs = await manager.ensure("theirs", PYTHON, SIX)
    assert mine.path == theirs.path
    site = next((mine.path / "lib").glob("python*/site-packages"))
    attempts: list[dict[str, object]] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        # as a tenant's task user: not the owner
        attempts.append({"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []})
        # as the owner itself (a non-root control plane): the files are made its own
        for folder, dirs, files in os.walk(mine.path):
            for name in (*dirs, *files):
                os.lchown(os.path.join(folder, name), nobody.pw_uid, nobody.pw_gid)
        os.lchown(mine.path, nobody.pw_uid, nobody.pw_gid)
        attempts.append({"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []})
    else:
        attempts.append({})
    for as_user in attempts:
        # the attempt is plain file operations: any interpreter the user can run will do
        # (this machine's may live in a private home that only the tries' real setup opens)
        python = Path(shutil.which("python3", path="/usr/bin:/bin") or mine.python)
        result = run_in(python if as_user else mine.python, _attempt_writes(site), **as_user)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"edit": "refused", "add": "refused",
                                              "remove": "refused"}
    imported = run_in(theirs.python, "import six; print(six.__version__)")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "1.16.0"
    # Leoflow itself can still re-point the SDK link and rebuild a damaged environment
    with writable(mine.path / "leoflow-sdk"):  # as if Leoflow had been reinstalled elsewhere
        (mine.path / "leoflow-sdk" / "leoflow").unlink()
    again = await manager.ensure("mine", PYTHON, SIX)
    assert (again.path / "leoflow-sdk" / "leoflow").is_symlink()
    assert run_in(again.python, "import leoflow").returncode == 0


_ENSURE_IN_A_PROCESS = """
import asyncio, json, sys
from pathlib import Path
from leoflow.engine.environments import EnvironmentManager
home, dag_id, python, *deps = sys.argv[1:]
manager = EnvironmentManager(Path(home))
lines = []
env = asyncio.run(manager.ensure(dag_id, python, deps, lines.append))
print(json.dumps({"builds": manager.builds, "path": str(env.path), "lines": lines}))
"""


@pytest.mark.slow
def test_two_processes_building_the_same_environment_build_it_once(tmp_path):
    """Two control planes (or a CLI and Lite) asking at once for the same contents under
    one home: one builds, the other waits on the lock and reuses it."""
    processes = [subprocess.Popen(
        [sys.executable, "-c", _ENSURE_IN_A_PROCESS, str(tmp_path), dag_id, PYTHON, *SIX],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for dag_id in ("first", "second")]
    answers = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        answers.append(json.loads(out))
    assert sorted(a["builds"] for a in answers) == [0, 1]
    assert answers[0]["path"] == answers[1]["path"]
    waited = next(a for a in answers if a["builds"] == 0)
    assert any("built meanwhile" in line for line in waited["lines"]) or not any(
        "resolving" in line for line in waited["lines"])
    assert len(list((tmp_path / "venvs").glob("env-*"))) == 1


async def test_a_quiet_uv_is_reported_as_still_working():
    heard: list[str] = []
    result = await run_uv(find_uv(), ["--version"], heard.append, still="still going",
                          quiet=0.0001)
    assert result.returncode == 0
    said = next(i for i, line in enumerate(heard) if line.startswith("uv "))
    assert any(line.startswith("still going (") for line in heard[:said]), heard


async def test_concurrent_ensures_of_two_dags_in_one_process_build_once(tmp_path):
    manager = EnvironmentManager(tmp_path)
    first, second = await asyncio.gather(manager.ensure("one", PYTHON, SIX),
                                         manager.ensure("two", PYTHON, SIX))
    assert first.path == second.path and manager.builds == 1
