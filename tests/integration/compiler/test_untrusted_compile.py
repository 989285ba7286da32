"""Compiling an untrusted project costs the control plane bounded memory and time, and
leaves nothing running (issue 15, item 14). Each attack is performed for real.

* a dag.py that prints 1 GiB at import: the compiling process's peak RSS is measured (in a
  fresh interpreter, ``ru_maxrss``) and must stay far below what was printed;
* a dag.py that allocates past the compile's memory limit gets a one-line error;
* a YAML alias bomb in leoflow.yaml is refused at once, naming the file;
* a daemon started with ``setsid`` (a new session, its own process group) and a plain
  background child are gone once the compile returns, with the cgroup and without it
  (the /proc scan), and a daemon no longer holds a compile past its time limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from leoflow.engine.compiler.compile import compile_project
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.output import BoundedOutput

DAG_TAIL = """
from leoflow import DAG, task

with DAG("{dag_id}"):
    @task
    def t():
        return 1
    t()
"""


def make_project(root: Path, dag_id: str, head: str, yaml_text: str | None = None) -> Path:
    project = root / dag_id
    project.mkdir()
    (project / "dag.py").write_text(textwrap.dedent(head) + DAG_TAIL.format(dag_id=dag_id))
    (project / "leoflow.yaml").write_text(yaml_text or f"dag_id: {dag_id}\n")
    return project


def test_bounded_output_keeps_head_and_tail() -> None:
    out = BoundedOutput(limit=10)
    out.feed(b"HEAD-")
    out.feed(b"x" * 1000)
    out.feed(b"-TAIL")
    assert out.total == 1010
    assert out.cut == 1000
    text = out.text()
    assert text.startswith("HEAD-") and text.endswith("-TAIL")
    assert "1000 bytes of output cut" in text


PEAK_RSS = """
import json, sys
from leoflow.engine.compiler.compile import compile_project
project = compile_project(sys.argv[1], timeout=120)
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of
# a large pytest process would report the parent's size, not its own peak.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"dags": [d["dag_id"] for d in project.documents],
                  "peak_rss_kib": int(hwm.split()[1])}))
"""


def test_a_gigabyte_printed_at_import_is_not_buffered(tmp_path: Path) -> None:
    project = make_project(tmp_path, "loud", """
        import sys
        chunk = "x" * (1 << 20)
        for _ in range(1024):
            sys.stdout.write(chunk)
            sys.stderr.write("e" * 1024)
    """)
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(project)], capture_output=True,
                          text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dags"] == ["loud"]
    peak_mib = result["peak_rss_kib"] / 1024
    # Before the fix: ~2080 MiB (communicate() kept the gigabyte, then joined it).
    assert peak_mib < 200, f"the compiling process peaked at {peak_mib:.0f} MiB"


def test_memory_past_the_limit_is_a_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path, "greedy", """
        blob = bytearray(1 << 30)
    """)
    monkeypatch.setenv("LEOFLOW_COMPILE_MEMORY_LIMIT", "256")
    started = time.monotonic()
    with pytest.raises(CompileError) as caught:
        compile_project(project)
    assert caught.value.kind == "memory"
    assert "256 MiB" in caught.value.message
    assert "LEOFLOW_COMPILE_MEMORY_LIMIT" in caught.value.message
    assert time.monotonic() - started < 20


BOMB = """\
dag_id: bomb
tags:
  - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  - &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  - &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  - &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  - &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  - &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  - &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  - &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_yaml_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    project = make_project(tmp_path, "bomb", "", yaml_text=BOMB)
    started = time.monotonic()
    with pytest.raises(CompileError) as caught:
        compile_project(project)
    assert time.monotonic() - started < 2
    assert caught.value.kind == "project"
    assert caught.value.file and caught.value.file.endswith("leoflow.yaml")
    assert "alias" in caught.value.message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, "loop", "", yaml_text="dag_id: loop\nx: &x [*x]\n")
    with pytest.raises(CompileError, match="alias"):
        compile_project(project)


def test_binary_leoflow_yaml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    project = make_project(tmp_path, "binary", "")
    (project / "leoflow.yaml").write_bytes(b"dag_id: binary\n\xff\xfe\x00\x81garbage")
    with pytest.raises(CompileError) as caught:
        compile_project(project)
    assert caught.value.file and caught.value.file.endswith("leoflow.yaml")
    assert "not UTF-8" in caught.value.message
    assert caught.value.line == 2


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


ESCAPES = """
    import os, subprocess, sys, time
    marks = {marks!r}
    # a background child of dag.py
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    open(os.path.join(marks, "child.pid"), "w").write(str(child.pid))
    # a daemon: double fork and setsid, out of the compile's session and process group
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open(os.path.join(marks, "daemon.pid"), "w").write(str(os.getpid()))
            time.sleep(300)
        os._exit(0)
    while not os.path.exists(os.path.join(marks, "daemon.pid")):
        time.sleep(0.01)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("cgroup", ["1", "0"], ids=["cgroup", "proc-scan"])
def test_background_child_and_setsid_daemon_end_with_the_compile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroup: str) -> None:
    monkeypatch.setenv("LEOFLOW_COMPILE_CGROUP", cgroup)
    marks = tmp_path / "marks"
    marks.mkdir()
    project = make_project(tmp_path, "escapes", ESCAPES.format(marks=str(marks)))
    started = time.monotonic()
    compiled = compile_project(project, timeout=60)
    assert compiled.documents[0]["dag_id"] == "escapes"
    # Before the fix communicate() waited for the daemon to close the pipes: forever.
    assert time.monotonic() - started < 30
    pids = {name: int((marks / f"{name}.pid").read_text()) for name in ("child", "daemon")}
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {name: _alive(pid) for name, pid in pids.items()} == {"child": False,
                                                                "daemon": False}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_daemon_does_not_hold_a_compile_past_its_timeout(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    project = make_project(tmp_path, "hang", ESCAPES.format(marks=str(marks))
                           + "    time.sleep(300)\n")
    started = time.monotonic()
    with pytest.raises(CompileError) as caught:
        compile_project(project, timeout=3)
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 15
    daemon = int((marks / "daemon.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(daemon) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(daemon)
