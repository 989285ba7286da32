# csv_report: a DAG with its own third-party dependency, pinned in leoflow.yaml (tabulate).
# Shows importing a dependency inside the task that uses it, so the DAG file compiles anywhere.
import csv
import io
import os
import tempfile
from datetime import datetime

from leoflow import DAG, task

with DAG(
    dag_id="csv_report",
    description="Export sales as CSV, render them as a table, save the report.",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    tags=["example", "dependencies"],
):

    @task
    def export_csv() -> str:
        # Stands in for an export from another system; CSV text is a plain string XCom.
        rows = [
            ("product", "units", "unit_price"),
            ("notebook", 120, 2.5),
            ("pen", 640, 0.8),
            ("backpack", 35, 24.0),
            ("stapler", 58, 7.25),
        ]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()

    @task
    def render_table(csv_text: str) -> str:
        # Imported here, not at the top of the file: the package exists only in this DAG's
        # own environment (leoflow.yaml -> dependencies), where the task runs.
        from tabulate import tabulate

        header, *rows = list(csv.reader(io.StringIO(csv_text)))
        table = [
            [name, int(units), float(price), round(int(units) * float(price), 2)]
            for name, units, price in rows
        ]
        table.sort(key=lambda row: row[3], reverse=True)
        return tabulate(table, headers=[*header, "revenue"], tablefmt="github")

    @task
    def save_report(table: str) -> dict:
        path = os.path.join(tempfile.mkdtemp(prefix="csv_report-"), "report.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("# Weekly sales\n\n" + table + "\n")
        print(table)
        return {"path": path, "lines": table.count("\n") + 1}

    save_report(render_table(export_csv()))
