# The DAGs of the end-to-end mapping tests (tests/e2e/test_mapping_more.py), written with
# Airflow's imports as an Airflow user would.
from airflow.sdk import DAG, BaseOperator, task, task_group
from airflow.sdk.exceptions import AirflowSkipException

with DAG("mapping_groups", schedule=None):

    @task
    def numbers():
        return [1, 2, 3]

    @task_group
    def pipeline(num, factor):
        @task
        def add(num):
            if num == 2:
                raise ValueError("two is refused")
            return num + 1

        @task
        def scale(x, factor):
            return x * factor

        @task(trigger_rule="all_done")
        def note(num):
            return f"saw {num}"

        scaled = scale(add(num), factor)
        scaled >> note(num)
        return scaled

    @task(trigger_rule="all_done")
    def total(values):
        return sum(v for v in values if v is not None)

    total(pipeline.partial(factor=10).expand(num=numbers()))

    @task_group
    def pair(a, b):
        @task
        def join(a, b):
            return f"{a}-{b}"

        return join(a, b)

    pair.expand_kwargs([{"a": "x", "b": 1}, {"a": "y", "b": 2}])


class Multiply(BaseOperator):
    """Refuses a missing value in __init__ and keeps only the product."""

    def __init__(self, x, factor=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(x, int):
            raise TypeError(f"x must be an int, got {x!r}")
        self.product = x * factor

    def execute(self, context):
        print(f"product {self.product}")
        return self.product


class Total(BaseOperator):
    template_fields = ("values",)

    def __init__(self, values, **kwargs):
        super().__init__(**kwargs)
        self.values = values

    def execute(self, context):
        return sum(self.values)


with DAG("mapping_operators", schedule=None):
    mul = Multiply.partial(task_id="mul", factor=3).expand(x=[1, 2, 3])
    kw = Multiply.partial(task_id="mul_kw").expand_kwargs([{"x": 2, "factor": 5}, {"x": 7}])
    Total(task_id="total", values=mul.output)
    # second order: map over the results of a mapped task
    Multiply.partial(task_id="again", factor=2).expand(x=kw.output)


def upper(s):
    return s.upper()


def no_b(s):
    if s == "B":
        raise AirflowSkipException("no b")
    return s


with DAG("mapping_transforms", schedule=None):

    @task
    def letters():
        return ["a", "b", "c"]

    @task
    def nums():
        return [1, 2]

    @task
    def echo(v):
        return v

    @task
    def collect(values):
        return values

    lets, ns = letters(), nums()
    echo.override(task_id="mapped").expand(v=lets.map(upper))
    echo.override(task_id="chained").expand(v=lets.map(upper).map(no_b))
    echo.override(task_id="zipped").expand(v=lets.map(upper).zip(ns))
    echo.override(task_id="longest").expand(v=lets.zip(ns, fillvalue=0))
    echo.override(task_id="joined").expand(v=ns.concat(lets))
    collect(lets.map(upper))
