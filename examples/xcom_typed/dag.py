# xcom_typed: the JSON values tasks pass each other: numbers, strings, lists, nested dicts, null,
# and multiple_outputs, where each key of a returned dict can be handed to a different task.
from datetime import datetime

from leoflow import DAG, task

with DAG(
    dag_id="xcom_typed",
    description="Lists, dicts, numbers and multiple_outputs passed between tasks.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "xcom"],
):

    @task
    def measurements() -> list[float]:
        return [3.5, 1.25, 4.0, 1.0, 5.5, 9.0, 2.75, 6.0]

    # multiple_outputs=True pushes every key of the returned dict as its own XCom (and the
    # whole dict too), so downstream tasks can take just the key they need.
    @task(multiple_outputs=True)
    def split(values: list[float]) -> dict:
        threshold = 4.0
        return {
            "small": [v for v in values if v < threshold],
            "large": [v for v in values if v >= threshold],
            "threshold": threshold,
        }

    # A `-> dict[...]` annotation implies multiple_outputs=True, as in Airflow 3.
    @task
    def stats(values: list[float]) -> dict[str, float]:
        return {"count": len(values), "total": sum(values), "mean": sum(values) / len(values)}

    @task
    def describe(count: int, mean: float, large: list[float], threshold: float,
                 source: dict) -> dict:
        # Each argument arrived with its JSON type: int, float, list, and a nested dict.
        return {
            "summary": f"{count} values, mean {mean:.3f}; {len(large)} are >= {threshold}",
            "largest": max(large) if large else None,  # null when no value is large
            "any_large": bool(large),  # a bool
            "source": source,
        }

    @task
    def show(report: dict) -> str:
        for key, value in report.items():
            print(f"{key}: {value!r} ({type(value).__name__})")
        return report["summary"]

    values = measurements()
    parts = split(values)
    numbers = stats(values)
    # Indexing a result (parts["large"]) reads one key pushed by a multiple_outputs task.
    report = describe(
        count=numbers["count"],
        mean=numbers["mean"],
        large=parts["large"],
        threshold=parts["threshold"],
        source={"sensor": "demo-7", "units": "ms", "raw": values},  # results may nest
    )
    show(report)
