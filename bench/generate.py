"""Generate the DAG projects the workloads need (BENCH.md W3, W6)."""

from __future__ import annotations

from pathlib import Path

LATTICE = '''\
# W6 bigdag: a {width}-wide, {depth}-deep lattice of {total} tasks; each task depends on every
# task of the layer above it, so the DAG has {edges} edges.
from leoflow import DAG, EmptyOperator

with DAG("{dag_id}", schedule=None):
    previous = []
    for layer in range({depth}):
        current = [EmptyOperator(task_id=f"t_{{layer}}_{{col}}") for col in range({width})]
        for task in current:
            task.set_upstream(previous)
        previous = current
'''

TEN_TASKS = '''\
# W3 parse50: project {n} of 50, ten Python tasks in a line.
from leoflow import DAG, task

with DAG("{dag_id}", schedule="@daily"):
    @task
    def step(x: int) -> int:
        return x + 1

    value = step(0)
    for _ in range(9):
        value = step(value)
'''


def lattice_project(root: Path, *, width: int = 10, depth: int = 100,
                    dag_id: str = "bigdag") -> Path:
    project = root / dag_id
    project.mkdir(parents=True, exist_ok=True)
    edges = width * width * (depth - 1)
    (project / "dag.py").write_text(LATTICE.format(width=width, depth=depth, edges=edges,
                                                   total=width * depth, dag_id=dag_id))
    (project / "leoflow.yaml").write_text(f"dag_id: {dag_id}\n")
    return project


def parse50_projects(root: Path, count: int = 50) -> list[Path]:
    projects = []
    for n in range(count):
        dag_id = f"parse50_{n:02d}"
        project = root / dag_id
        project.mkdir(parents=True, exist_ok=True)
        (project / "dag.py").write_text(TEN_TASKS.format(n=n, dag_id=dag_id))
        (project / "leoflow.yaml").write_text(f"dag_id: {dag_id}\n")
        projects.append(project)
    return projects
