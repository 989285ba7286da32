# dynamic_mapping: the forms of dynamic task mapping beyond a single .expand(x=[...]).
# Shows a cross product of two lists, expand_kwargs over a result, and a mapped BashOperator.
from datetime import datetime

from leoflow import DAG, BashOperator, task

with DAG(
    dag_id="dynamic_mapping",
    description="Cross-product mapping, expand_kwargs and a mapped classic operator.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "mapping"],
):

    @task
    def thumbnail(image: str, width: int) -> str:
        return f"{image.removesuffix('.png')}_{width}w.png"

    # Two mapped arguments give one task instance per combination: 2 x 3 = 6 thumbnails.
    thumbnails = thumbnail.expand(image=["cat.png", "dog.png"], width=[64, 128, 256])

    @task
    def plan_loads() -> list[dict]:
        # Decided at run time: one dict of arguments per mapped instance.
        return [
            {"table": "orders", "rows": 120},
            {"table": "customers", "rows": 45},
            {"table": "products", "rows": 12},
        ]

    @task
    def load_table(table: str, rows: int) -> int:
        print(f"loading {rows} rows into {table}")
        return rows

    loaded = load_table.expand_kwargs(plan_loads())

    # Classic operators map too: partial() holds the fixed arguments, expand() the mapped ones.
    checks = BashOperator.partial(task_id="check_disk").expand(
        bash_command=["echo /data: ok", "echo /logs: ok"],
    )

    @task
    def summary(thumbs: list[str], rows: list[int]) -> dict:
        return {"thumbnails": len(thumbs), "rows_loaded": sum(rows)}

    checks >> summary(thumbnails, loaded)
