# ml_hparam_search: a grid search as map-reduce: one trial task per learning rate, then a fan-in.
# Shows calling one @task many times (ids trial, trial__1, ...) and passing a list of results.
import random
from datetime import datetime

from leoflow import DAG, task

# Too small learns slowly, too large diverges; the search finds the middle (0.3).
LEARNING_RATES = [0.01, 0.03, 0.1, 0.3, 1.2]
EPOCHS = 40

with DAG(
    dag_id="ml_hparam_search",
    description="Fit a toy linear model once per learning rate and keep the best.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "ml"],
):

    @task
    def make_dataset() -> dict[str, list[list[float]]]:
        """y = 3x + 2 plus noise, split into train and validation; seeded, so reproducible."""
        rng = random.Random(0)
        points = []
        for _ in range(60):
            x = rng.uniform(-1, 1)
            points.append([x, 3 * x + 2 + rng.gauss(0, 0.1)])
        return {"train": points[:40], "validation": points[40:]}

    @task
    def trial(dataset: dict, learning_rate: float) -> dict[str, float]:
        """Gradient descent on y = w*x + b; the score is the validation mean squared error."""
        w = b = 0.0
        train = dataset["train"]
        for _ in range(EPOCHS):
            grad_w = sum(2 * (w * x + b - y) * x for x, y in train) / len(train)
            grad_b = sum(2 * (w * x + b - y) for x, y in train) / len(train)
            w, b = w - learning_rate * grad_w, b - learning_rate * grad_b
        validation = dataset["validation"]
        mse = sum((w * x + b - y) ** 2 for x, y in validation) / len(validation)
        return {"learning_rate": learning_rate, "val_mse": round(mse, 6)}

    @task
    def select_best(results: list[dict]) -> dict[str, float]:
        # `results` arrives in the order the trials were declared, one entry per trial.
        for result in results:
            print(f"lr={result['learning_rate']:<6} val_mse={result['val_mse']}")
        best = min(results, key=lambda result: result["val_mse"])
        print(f"best learning rate: {best['learning_rate']}")
        return best

    dataset = make_dataset()
    select_best([trial(dataset, lr) for lr in LEARNING_RATES])
