"""Asset DAG files compiled to dag.json: schedules (lists, conditions, asset-or-time,
partitioned), outlets and inlets, the DAG's asset definitions, ``@asset`` / ``@asset.multi``,
and the errors a DAG author gets. The last test goes through the real compiler (a child
process) and dag.schema.json."""

from __future__ import annotations

import textwrap
from typing import Any

from leoflow.sdk.asset_decorators import _AssetMainOperator
from tests.unit.sdk.conftest import by_id, compile_source


def dags(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert result["ok"], result.get("error")
    return {d["dag_id"]: d for d in result["dags"]}


def ref(name: str, uri: str | None = None, group: str = "asset") -> dict[str, Any]:
    return {"asset": {"name": name, "uri": uri or name, "group": group}}


def definition(name: str, uri: str | None = None, **over: Any) -> dict[str, Any]:
    return {"name": name, "uri": uri or name, "group": "asset", "extra": {}, "watchers": [],
            "access_control": None, **over}


PRODUCERS_AND_CONSUMERS = """
    from airflow.sdk import DAG, Asset, AssetAlias, AssetOrTimeSchedule, CronTriggerTimetable, task
    from airflow.providers.standard.operators.bash import BashOperator

    a = Asset("s3://dag1/out.txt", extra={"hi": "bye"})
    b = Asset(name="b", uri="s3://dag2/out.txt")
    alias = AssetAlias("my-alias")

    with DAG("producer", schedule="@daily"):
        BashOperator(task_id="classic", bash_command="true", outlets=[a, alias],
                     inlets=Asset.ref(name="upstream"))
        @task(outlets=[Asset("s3://dag1/out.txt")])  # the same asset, without its extra
        def flow():
            pass
        flow()

    with DAG("all_of", schedule=[a, b]):
        BashOperator(task_id="t", bash_command="true")

    with DAG("condition", schedule=a | (b & Asset.ref(uri="s3://x/y")) | alias):
        BashOperator(task_id="t", bash_command="true")

    with DAG("or_time", schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), assets=(a & b))):
        BashOperator(task_id="t", bash_command="true")

    with DAG("plain", schedule="@daily"):
        BashOperator(task_id="t", bash_command="true")
"""


def test_schedules_outlets_inlets_and_the_dags_assets(tmp_path):
    docs = dags(compile_source(tmp_path, PRODUCERS_AND_CONSUMERS))
    a = ref("s3://dag1/out.txt")
    b = ref("b", "s3://dag2/out.txt")
    alias = {"alias": {"name": "my-alias", "group": "asset"}}

    producer = docs["producer"]
    tasks = by_id(producer)
    assert tasks["classic"]["outlets"] == [a, alias]
    assert tasks["classic"]["inlets"] == [{"asset_ref": {"name": "upstream"}}]
    assert tasks["flow"]["outlets"] == [a] and "inlets" not in tasks["flow"]
    # once per name; the declaration that gives the extra wins
    assert producer["assets"] == [definition("s3://dag1/out.txt", extra={"hi": "bye"})]
    assert producer["asset_aliases"] == [{"name": "my-alias", "group": "asset"}]
    assert producer["schedule"]["kind"] == "cron" and "assets" not in producer["schedule"]

    assert docs["all_of"]["schedule"] == {"kind": "assets", "assets": {"all": [a, b]},
                                          "timezone": "UTC", "data_interval": False}
    assert [d["name"] for d in docs["all_of"]["assets"]] == ["s3://dag1/out.txt", "b"]
    assert docs["condition"]["schedule"]["assets"] == {"any": [
        a, {"all": [b, {"asset_ref": {"uri": "s3://x/y"}}]}, alias]}
    assert docs["condition"]["asset_aliases"] == [{"name": "my-alias", "group": "asset"}]
    or_time = docs["or_time"]["schedule"]
    assert (or_time["kind"], or_time["cron"], or_time["assets"]) == ("cron", "0 1 * * 3",
                                                                     {"all": [a, b]})
    # a DAG without assets keeps the JSON it had (and so its content hash)
    plain = docs["plain"]
    assert "assets" not in plain and "asset_aliases" not in plain
    assert "assets" not in plain["schedule"] and "partition" not in plain["schedule"]
    assert "outlets" not in plain["tasks"][0] and "inlets" not in plain["tasks"][0]


ASSET_FUNCTIONS = """
    from airflow.sdk import DAG, Asset, asset, task

    @asset(uri="s3://bucket/raw", schedule=None, tags=["ingest"], extra={"owner": "me"})
    def raw():
        pass

    @asset(uri="s3://bucket/clean", schedule=raw, dag_id="cleaning", group="curated")
    def clean(self, context, raw, outlet_events, limit=10):
        return limit

    @asset.multi(outlets=[Asset("left"), Asset("right")], schedule=[raw, clean])
    def split(self, inlet_events):
        pass

    @asset(schedule=split, name="joined")
    @task(retries=2)
    def join():
        pass

    with DAG("consumer", schedule=raw | clean):
        @task
        def use():
            pass
        use()
"""


def test_asset_functions_make_a_dag_each_with_airflows_rules(tmp_path):
    docs = dags(compile_source(tmp_path, ASSET_FUNCTIONS))
    assert set(docs) == {"raw", "cleaning", "split", "joined", "consumer"}
    raw_ref = ref("raw", "s3://bucket/raw")
    clean_ref = ref("clean", "s3://bucket/clean", group="curated")

    raw = docs["raw"]
    assert raw["schedule"]["kind"] == "none" and raw["catchup"] is False
    assert raw["tags"] == ["ingest"]
    (task,) = raw["tasks"]
    assert (task["task_id"], task["operator"], task["operator_class"]) == (
        "raw", "python", "_AssetMainOperator")
    assert task["outlets"] == [raw_ref] and "inlets" not in task
    assert task["options"] == {"asset_function": {"definition_name": "raw", "parameters": []}}
    assert raw["assets"] == [definition("raw", "s3://bucket/raw", extra={"owner": "me"})]

    cleaning = docs["cleaning"]  # dag_id= chooses the DAG's id; the task is the function's
    (task,) = cleaning["tasks"]
    assert task["task_id"] == "clean" and task["outlets"] == [clean_ref]
    assert cleaning["schedule"]["assets"] == raw_ref
    # a parameter named like no context key is an upstream asset: an inlet by name
    assert task["inlets"] == [{"asset_ref": {"name": "raw"}}]
    assert task["options"]["asset_function"] == {"definition_name": "clean", "parameters": [
        {"name": "self", "source": "self"}, {"name": "context", "source": "context"},
        {"name": "raw", "source": "asset"}, {"name": "outlet_events", "source": "context_key"},
        {"name": "limit", "source": "default"}]}

    split = docs["split"]
    (task,) = split["tasks"]
    assert task["outlets"] == [ref("left"), ref("right")] and "inlets" not in task
    assert split["schedule"]["assets"] == {"all": [raw_ref, clean_ref]}
    assert [d["name"] for d in split["assets"]] == ["raw", "clean", "left", "right"]

    joined = docs["joined"]  # @asset over @task keeps the task's settings
    (task,) = joined["tasks"]
    assert (task["task_id"], task["operator_class"], task["retries"]) == (
        "join", "PythonDecoratedOperator", 2)
    assert task["outlets"] == [ref("joined")]
    assert joined["schedule"]["assets"] == {"all": [ref("left"), ref("right")]}
    assert docs["consumer"]["schedule"]["assets"] == {"any": [raw_ref, clean_ref]}


def test_the_asset_task_gets_its_arguments_as_airflow_determines_them(tmp_path):
    from leoflow.sdk import registry

    dags(compile_source(tmp_path, ASSET_FUNCTIONS))
    (cleaning,) = [d for d in registry.collected() if d.dag_id == "cleaning"]
    op = cleaning.get_task("clean")
    assert isinstance(op, _AssetMainOperator)
    context = {"outlet_events": "the accessor", "ds": "2024-01-01"}
    kwargs = op.asset_call_kwargs(context, lambda name: f"asset {name}")
    assert kwargs == {"self": "asset clean", "context": context, "raw": "asset raw",
                      "outlet_events": "the accessor", "limit": 10}


PARTITIONED = """
    from airflow.sdk import (DAG, Asset, CronPartitionTimetable, PartitionedAssetTimetable,
                             PartitionedAtRuntime, StartOfHourMapper, StartOfYearMapper, task)

    hourly = Asset(uri="file://in/hourly.csv", name="hourly")
    with DAG("cron_partitioned", schedule=CronPartitionTimetable("15 * * * *",
                                                                 timezone="Europe/Paris",
                                                                 run_offset=-1)):
        @task(outlets=[hourly])
        def produce():
            pass
        produce()

    with DAG("runtime_partitioned", schedule=PartitionedAtRuntime()):
        @task(outlets=[hourly])
        def produce_keys(*, outlet_events=None):
            outlet_events[hourly].add_partitions(["us", "eu"])
        produce_keys()

    with DAG("mapped", schedule=PartitionedAssetTimetable(
            assets=hourly & Asset.ref(name="other"),
            partition_mapper_config={hourly: StartOfYearMapper(),
                                     Asset.ref(name="other"): StartOfHourMapper()},
            default_partition_mapper=StartOfHourMapper())):
        @task
        def consume(dag_run=None):
            pass
        consume()
"""


def test_partitioned_schedules(tmp_path):
    docs = dags(compile_source(tmp_path, PARTITIONED))
    hourly = ref("hourly", "file://in/hourly.csv")
    cron = docs["cron_partitioned"]["schedule"]
    assert cron == {"kind": "cron", "expression": "15 * * * *", "cron": "15 * * * *",
                    "timezone": "Europe/Paris", "data_interval": False,
                    "partition": {"kind": "cron", "key_format": "%Y-%m-%dT%H:%M:%S",
                                  "run_offset": -1}}
    assert docs["runtime_partitioned"]["schedule"] == {
        "kind": "none", "timezone": "UTC", "data_interval": False,
        "partition": {"kind": "runtime"}}
    mapped = docs["mapped"]["schedule"]
    assert mapped["kind"] == "assets"
    assert mapped["assets"] == {"all": [hourly, {"asset_ref": {"name": "other"}}]}
    assert mapped["partition"]["kind"] == "assets"
    assert mapped["partition"]["default_mapper"]["kind"] == "start_of_hour"
    assert [(m["ref"], m["mapper"]["kind"]) for m in mapped["partition"]["mappers"]] == [
        (hourly, "start_of_year"), ({"asset_ref": {"name": "other"}}, "start_of_hour")]
    assert docs["mapped"]["assets"] == [definition("hourly", "file://in/hourly.csv")]


def _error(tmp_path, source: str) -> dict[str, Any]:
    result = compile_source(tmp_path, source)
    assert not result["ok"]
    return result["error"]


def _line(source: str, marker: str) -> int:
    lines = textwrap.dedent(source).splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text)


def test_a_schedule_item_that_is_not_an_asset_names_the_dag_and_its_line(tmp_path):
    source = """
        from airflow.sdk import DAG, Asset
        from airflow.providers.standard.operators.empty import EmptyOperator
        with DAG("bad", schedule=[Asset("a"), 42]):  # HERE
            EmptyOperator(task_id="t")
    """
    error = _error(tmp_path, source)
    assert error["kind"] == "definition"
    assert error["message"].startswith("DAG 'bad': schedule[1] is 42 (int), not an asset")
    assert (error["file"], error["line"]) == (str(tmp_path / "my_dags.py"),
                                              _line(source, "# HERE"))


def test_an_outlet_that_is_not_an_asset_names_the_task_and_its_line(tmp_path):
    source = """
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator
        with DAG("bad", schedule=None):
            BashOperator(task_id="t", bash_command="true",
                         outlets=["s3://bucket/key"])  # HERE
    """
    error = _error(tmp_path, source)
    assert error["message"] == (
        "task 't': outlets[0] is 's3://bucket/key' (str), not an asset: outlets take "
        "Asset(...), AssetAlias(...) or Asset.ref(...); use Asset('s3://bucket/key')")
    assert error["line"] == _line(source, "BashOperator(")


def test_other_authoring_mistakes_fail_with_their_reason(tmp_path):
    cases = {
        "inlets=[3]": ("""
            from airflow.sdk import DAG, task
            with DAG("d", schedule=None):
                @task(inlets=[3])
                def t():
                    pass
                t()
        """, "task 't': inlets[0] is 3 (int), not an asset"),
        "empty schedule": ("""
            from airflow.sdk import DAG, task
            with DAG("d", schedule=[]):
                @task
                def t():
                    pass
                t()
        """, "schedule is an empty list"),
        "name clash": ("""
            from airflow.sdk import DAG, Asset, task
            with DAG("d", schedule=[Asset(name="n", uri="s3://a/1")]):
                @task(outlets=[Asset(name="n", uri="s3://a/2")])
                def t():
                    pass
                t()
        """, "names two assets called 'n' with different URIs"),
        "no schedule": ("""
            from airflow.sdk import asset
            @asset(uri="s3://x/y")
            def f():
                pass
        """, "@asset(...) needs schedule="),
        "bare decorator": ("""
            from airflow.sdk import asset
            @asset
            def f():
                pass
        """, "@asset needs its arguments"),
        "wildcard": ("""
            from airflow.sdk import asset
            @asset(schedule=None)
            def f(*args):
                pass
        """, "wildcard '*args' is not supported in @asset"),
        "nested": ("""
            from airflow.sdk import asset
            def factory():
                @asset(schedule=None)
                def f():
                    pass
            factory()
        """, "nested function not supported"),
        "multi without outlets": ("""
            from airflow.sdk import asset
            @asset.multi(outlets=[], schedule=None)
            def f():
                pass
        """, "no outlets provided"),
        "task with outlets": ("""
            from airflow.sdk import Asset, asset, task
            @asset(schedule=None)
            @task(outlets=[Asset("x")])
            def f():
                pass
        """, "'outlets' argument is not supported in @asset"),
        "or-time with an asset timetable": ("""
            from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, PartitionedAtRuntime, task
            with DAG("d", schedule=AssetOrTimeSchedule(timetable=PartitionedAtRuntime(),
                                                       assets=[Asset("a")])):
                @task
                def t():
                    pass
                t()
        """, "must be a time-based timetable"),
    }
    for name, (source, message) in cases.items():
        error = _error(tmp_path, source)
        assert message in error["message"], (name, error["message"])
        assert error["file"] == str(tmp_path / "my_dags.py") and error["line"], name


def test_compiled_asset_dags_pass_the_schema_and_load_as_specs(tmp_path):
    """Through the real compiler (a child process per file) and dag.schema.json."""
    from leoflow.engine.compiler.compile import compile_project
    from leoflow.engine.spec.model import DagSpec

    folder = tmp_path / "dags"
    folder.mkdir()
    for name, source in (("flows.py", PRODUCERS_AND_CONSUMERS),
                         ("functions.py", ASSET_FUNCTIONS), ("partitions.py", PARTITIONED)):
        (folder / name).write_text(textwrap.dedent(source), "utf-8")
    (folder / "watchers.py").write_text(textwrap.dedent("""
        from airflow.providers.standard.triggers.file import (
            DirectoryFileDeleteTrigger, FileDeleteTrigger)
        from airflow.sdk import DAG, Asset, AssetAccessControl, AssetWatcher, task
        one = Asset("landing", watchers=[AssetWatcher(
            name="w1", trigger=FileDeleteTrigger(filepath="/tmp/landing/x"))])
        two = Asset("flags", access_control=AssetAccessControl(producer_teams=["a"]),
                    watchers=[AssetWatcher(name="w2", trigger=DirectoryFileDeleteTrigger(
                        directory="/tmp/flags", filename="us.flag", poke_interval=1))])
        with DAG("watched", schedule=one | two):
            @task
            def t():
                pass
            t()
    """), "utf-8")
    project = compile_project(folder, keep_going=True)
    assert project.errors == ()
    specs = {d["dag_id"]: DagSpec.from_json(d) for d in project.documents}
    assert set(specs) == {"producer", "all_of", "condition", "or_time", "plain", "raw",
                          "cleaning", "split", "joined", "consumer", "cron_partitioned",
                          "runtime_partitioned", "mapped", "watched"}
    watched = specs["watched"]
    assert watched.schedule.kind == "assets"
    assert [w["trigger"]["kind"] for a in watched.assets for w in a["watchers"]] == [
        "file_delete", "file_delete"]
    assert watched.assets[1]["access_control"]["producer_teams"] == ("a",)
    assert specs["mapped"].schedule.partition["kind"] == "assets"
    assert specs["producer"].task("classic").outlets[1]["alias"]["name"] == "my-alias"
    assert specs["cleaning"].task("clean").inlets[0]["asset_ref"]["name"] == "raw"


def test_mapped_tasks_and_groups_keep_their_outlets(tmp_path):
    docs = dags(compile_source(tmp_path, """
        from airflow.sdk import DAG, Asset, task, task_group
        from airflow.providers.standard.operators.bash import BashOperator
        out = Asset("s3://b/mapped")
        with DAG("mapped_outlets", schedule=None):
            BashOperator.partial(task_id="classic", outlets=[out]).expand(
                bash_command=["echo 1", "echo 2"])
            @task(outlets=out)
            def flow(x):
                return x
            flow.expand(x=[1, 2])
            @task_group
            def group():
                @task(inlets=[out])
                def inner():
                    pass
                inner()
            group()
    """))
    tasks = by_id(docs["mapped_outlets"])
    assert tasks["classic"]["outlets"] == [ref("s3://b/mapped")]
    assert tasks["classic"]["expand"]["mode"] == "kwargs"
    assert tasks["flow"]["outlets"] == [ref("s3://b/mapped")]
    assert tasks["group.inner"]["inlets"] == [ref("s3://b/mapped")]
    assert docs["mapped_outlets"]["assets"] == [definition("s3://b/mapped")]
