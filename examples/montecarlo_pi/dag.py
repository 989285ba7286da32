# montecarlo_pi: estimate pi with parallel workers created at run time by dynamic task mapping.
# Shows .partial(...).expand(...) over an upstream result, and a reduce over the mapped outputs.
import random
from datetime import datetime

from leoflow import DAG, Param, get_current_context, task

with DAG(
    dag_id="montecarlo_pi",
    description="Throw random darts at a square, count those inside the circle.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"workers": Param(8, type="integer", minimum=1, maximum=64,
                             description="How many mapped worker tasks to run")},
    tags=["example", "mapping"],
):

    @task
    def plan_seeds() -> list[int]:
        # One seed per worker: how many workers run is decided here, when the DAG runs,
        # from the run's params (trigger with {"workers": 16} for more).
        workers = get_current_context()["params"]["workers"]
        return list(range(workers))

    @task
    def count_inside(seed: int, samples: int) -> dict[str, int]:
        rng = random.Random(seed)  # seeded: every run gives the same estimate
        inside = 0
        for _ in range(samples):
            x, y = rng.random(), rng.random()
            if x * x + y * y <= 1.0:
                inside += 1
        return {"inside": inside, "samples": samples}

    @task
    def estimate_pi(counts: list[dict]) -> float:
        # A mapped task's results arrive as one list, ordered by map index.
        inside = sum(c["inside"] for c in counts)
        samples = sum(c["samples"] for c in counts)
        pi = 4 * inside / samples
        print(f"{len(counts)} workers, {samples} samples: pi ~ {pi:.5f}")
        return pi

    counts = count_inside.partial(samples=50_000).expand(seed=plan_seeds())
    estimate_pi(counts)
