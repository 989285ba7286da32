# Tasks that start processes meant to outlive them, for tests/e2e/test_process_trees.py.
# Every process they start writes its pid into the shared folder ``params.dir`` and, unless
# it cleared its environment, carries TREE_TAG, so the test can find it in /proc.
import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator

from leoflow import DAG, Param, get_current_context, task

START = datetime(2026, 1, 1)
# a daemon that leaves the task's session (setsid) and ticks into a file
DAEMON = ("setsid sh -c 'echo $$ > {dir}/daemon.pid; "
          "while :; do date +%s.%N >> {dir}/ticks; sleep 0.05; done' &")
# one that also clears its environment: only a cgroup finds it
HIDDEN = "env -i setsid sh -c 'echo $$ > {dir}/hidden.pid; while :; do sleep 0.05; done' &"


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def spawn(folder: Path) -> None:
    """A background sleep, a setsid daemon and a hidden one; all pids in ``first.pids``."""
    os.environ["TREE_TAG"] = str(folder)
    sleeper = subprocess.Popen(["sleep", "1000"])
    (folder / "sleep.pid").write_text(str(sleeper.pid))
    subprocess.run(["sh", "-c", DAEMON.format(dir=folder) + "\n" + HIDDEN.format(dir=folder)],
                   check=True)
    for name in ("daemon.pid", "hidden.pid"):
        while not (folder / name).exists() or not (folder / name).read_text().strip():
            time.sleep(0.01)


with DAG("trees", schedule=None, start_date=START,
         params={"dir": Param("/tmp", type="string")}):
    @task(retries=1, retry_delay=timedelta(seconds=0))
    def spawner() -> dict:
        context = get_current_context()
        folder = Path(context["params"]["dir"])
        if context["ti"].try_number == 1:
            spawn(folder)
            print("spawned", flush=True)
            time.sleep(600)  # killed with its agent here
        # the retry: does anything of the first try still run, or tick?
        started = time.time()
        old = {name: int((folder / f"{name}.pid").read_text())
               for name in ("sleep", "daemon", "hidden")}
        time.sleep(0.5)
        ticks = folder / "ticks"
        late = [float(t) for t in ticks.read_text().split()] if ticks.exists() else []
        return {"alive": sorted(name for name, pid in old.items() if alive(pid)),
                "ticks_after_start": len([t for t in late if t > started])}

    spawner()

with DAG("bash_trees", schedule=None, start_date=START,
         params={"dir": Param("/tmp", type="string")}):
    # Its execution_timeout kills bash's process group: the setsid daemon is not in it.
    BashOperator(
        task_id="bash_spawner", execution_timeout=timedelta(seconds=2),
        bash_command=("export TREE_TAG={{ params.dir }}; sleep 1000 & "
                      "echo $! > {{ params.dir }}/sleep.pid; "
                      + DAEMON.format(dir="{{ params.dir }}") + " sleep 600"))
