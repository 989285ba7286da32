"""A folder's DAG files compiled in one child, a fork per file (engine/compiler/batch.py):
each file is as isolated as with a child of its own. A file that raises, exits the process,
hangs past its timeout or leaves a process running keeps only itself out, and files never
see each other's modules."""

from __future__ import annotations

import os
import time
from pathlib import Path

from leoflow.engine.compiler.batch import run_compile_batch
from leoflow.engine.compiler.compile import compile_project

GOOD = '''\
from airflow.sdk import DAG, task
import shared

shared.seen.append("{name}")
assert shared.seen == ["{name}"], f"another file's import leaked in: {{shared.seen}}"

with DAG("{name}", schedule=None):
    @task
    def one() -> int:
        return 1

    one()
'''
SHARED = "seen: list[str] = []\n"
HEADER = "# an airflow DAG file\nfrom airflow.sdk import DAG\n"


def write_folder(root: Path, pid_file: Path) -> None:
    root.mkdir()
    (root / "shared.py").write_text(SHARED)
    for name in ("a_good", "c_good", "e_good", "g_good"):
        (root / f"{name}.py").write_text(GOOD.format(name=name))
    (root / "b_raises.py").write_text(HEADER + "raise RuntimeError('broken on purpose')\n")
    (root / "d_exits.py").write_text(
        HEADER + "import os, sys\nprint('about to leave', file=sys.stderr, flush=True)\n"
        "os._exit(3)\n")
    (root / "f_hangs.py").write_text(HEADER + "import time\ntime.sleep(600)\n")
    (root / "h_daemon.py").write_text(
        HEADER + "import subprocess, sys\n"
        f"p = subprocess.Popen(['sleep', '600'])\nopen({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "with DAG('h_daemon', schedule=None):\n    pass\n")


def test_each_file_is_alone_in_its_fork(tmp_path: Path) -> None:
    root, pid_file = tmp_path / "dags", tmp_path / "daemon.pid"
    write_folder(root, pid_file)
    started = time.monotonic()
    project = compile_project(root, keep_going=True, timeout=3.0)
    elapsed = time.monotonic() - started
    assert sorted(d["dag_id"] for d in project.documents) == [
        "a_good", "c_good", "e_good", "g_good", "h_daemon"]
    errors = {Path(str(e.file)).name: e for e in project.errors}
    assert sorted(errors) == ["b_raises.py", "d_exits.py", "f_hangs.py"]
    assert errors["b_raises.py"].kind == "import"
    assert "broken on purpose" in errors["b_raises.py"].message
    assert errors["b_raises.py"].line == 3
    assert errors["d_exits.py"].kind == "crash"
    assert "code 3" in errors["d_exits.py"].message
    assert "about to leave" in errors["d_exits.py"].message
    assert errors["f_hangs.py"].kind == "timeout"
    # the hang cost its own timeout, not one per file
    assert elapsed < 30
    # the process a file started ended with its fork
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def test_results_come_in_order_of_the_items(tmp_path: Path) -> None:
    root = tmp_path / "dags"
    root.mkdir()
    (root / "shared.py").write_text(SHARED)
    names = [f"dag_{n}" for n in range(6)]
    for name in names:
        (root / f"{name}.py").write_text(GOOD.format(name=name))
    files = [root / f"{name}.py" for name in reversed(names)]
    reports = run_compile_batch([(f, root) for f in files], jobs=3)
    assert [r["dags"][0]["dag_id"] for r in reports] == list(reversed(names))  # type: ignore[index]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: its parent (the fork) is gone and nobody reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False
