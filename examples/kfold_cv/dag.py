# kfold_cv: k-fold cross-validation: one task per fold trains and scores, then the scores average.
# Shows a fan-out built in a loop with .override(task_id=...) for readable ids, and a fan-in.
import random
from datetime import datetime

from leoflow import DAG, task

FOLDS = 5

with DAG(
    dag_id="kfold_cv",
    description="5-fold cross-validation of a least-squares line fit.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "ml"],
):

    @task
    def make_dataset() -> list[list[float]]:
        """50 noisy points on y = 0.5x + 1, seeded so every run scores the same."""
        rng = random.Random(42)
        return [[x, 0.5 * x + 1 + rng.gauss(0, 0.2)] for x in (i / 5 for i in range(50))]

    @task
    def evaluate_fold(points: list[list[float]], fold: int, folds: int) -> float:
        """Fit y = a*x + b on the other folds (closed form); return the held-out MSE."""
        held_out = points[fold::folds]
        train = [p for i, p in enumerate(points) if i % folds != fold]
        n = len(train)
        mean_x = sum(x for x, _ in train) / n
        mean_y = sum(y for _, y in train) / n
        a = sum((x - mean_x) * (y - mean_y) for x, y in train) / sum(
            (x - mean_x) ** 2 for x, _ in train)
        b = mean_y - a * mean_x
        mse = sum((a * x + b - y) ** 2 for x, y in held_out) / len(held_out)
        return round(mse, 6)

    @task
    def average(scores: list[float]) -> dict[str, float]:
        mean = sum(scores) / len(scores)
        spread = max(scores) - min(scores)
        print(f"fold scores: {scores}; mean MSE {mean:.4f}")
        return {"mean_mse": round(mean, 6), "spread": round(spread, 6)}

    points = make_dataset()
    average([
        evaluate_fold.override(task_id=f"fold_{k}")(points, fold=k, folds=FOLDS)
        for k in range(FOLDS)
    ])
