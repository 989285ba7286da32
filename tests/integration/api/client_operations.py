"""Every operation of the installed ``apache-airflow-client``, and how the coverage test calls
each through the client (``SERVED``) or why it does not apply to Leoflow (``NOT_APPLICABLE``).

Operations are listed from the installed package (the public methods of its ``*Api``
classes that have a ``_with_http_info`` twin), so a client release that adds one makes the
test fail until the new operation is put in one of the two tables.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import airflow_client.client as client
from airflow_client.client import models as m

Operation = tuple[str, str]  # (Api class, method)


def client_operations() -> list[Operation]:
    """(class, method) of every operation of the installed client."""
    found = []
    for name in sorted(dir(client)):
        cls = getattr(client, name)
        if not (name.endswith("Api") and inspect.isclass(cls)) or name == "ApiClient":
            continue
        found += [(name, method) for method in sorted(vars(cls))
                  if not method.startswith("_") and hasattr(cls, f"{method}_with_http_info")]
    return found


@dataclass
class World:
    """The data the calls use: a finished run of ``hello``, a waiting HITL run, a paused
    catalogue DAG, two assets (an alias, a consumer waiting on both), an import error."""

    dag_id: str = "hello"
    run_id: str = ""
    hitl_dag: str = "hitl_reject"
    hitl_run: str = ""
    catalog_dag: str = "catalog_dag"
    asset_x: int = 0
    asset_y: int = 0
    alias_id: int = 0
    consumer: str = "ops_consumer"
    import_error_id: int = 0
    logout_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Apis:
    """One instance of every ``*Api`` class on one ``ApiClient``: ``apis.DAGApi``…"""

    def __init__(self, api_client: Any) -> None:
        for name, _ in client_operations():
            setattr(self, name, getattr(client, name)(api_client))


Call = Callable[[Apis, World], Any]
NOW = datetime.now(UTC).replace(microsecond=0)


def _asset_event(a: Apis, w: World) -> Any:
    return a.AssetApi.create_asset_event(m.CreateAssetEventsBody(asset_id=w.asset_x,
                                                                  extra={"by": "test"}))


def _queued_then(delete: Call) -> Call:
    def call(a: Apis, w: World) -> Any:
        _asset_event(a, w)
        return delete(a, w)
    return call


def _trigger(a: Apis, w: World, dag_id: str | None = None) -> Any:
    return a.DagRunApi.trigger_dag_run(dag_id or w.catalog_dag,
                                       m.TriggerDAGRunPostBody(logical_date=None, conf={}))


def _new_variable(a: Apis, key: str) -> Any:
    return a.VariableApi.post_variable(m.VariableBody(key=key, value="v1", description="d"))


def _new_connection(a: Apis, cid: str) -> Any:
    return a.ConnectionApi.post_connection(m.ConnectionBody(connection_id=cid,
                                                            conn_type="http", host="h"))


def _new_pool(a: Apis, name: str) -> Any:
    return a.PoolApi.post_pool(m.PoolBody(name=name, slots=3))


def _bulk(model: Any, create: dict[str, Any], delete_key: str) -> dict[str, Any]:
    return {"actions": [
        {"action": "create", "entities": [create], "action_on_existence": "overwrite"},
        {"action": "update", "entities": [create], "action_on_non_existence": "skip"},
        {"action": "delete", "entities": [delete_key], "action_on_non_existence": "skip"}]}


def _remember(w: World, name: str, made: Any) -> Any:
    w.extra[name] = made.id
    return made


def _hello(w: World) -> tuple[str, str]:
    return w.dag_id, w.run_id


def _note(text: str) -> Any:
    return m.PatchTaskInstanceBody(note=text)


def _backfill(w: World) -> Any:
    return m.BackfillPostBody(dag_id=w.extra["backfill_dag"], from_date=NOW - timedelta(days=3),
                              to_date=NOW - timedelta(days=1), max_active_runs=2,
                              dag_run_conf={})


SERVED: dict[Operation, Call] = {
    # assets
    ("AssetApi", "create_asset_event"): _asset_event,
    ("AssetApi", "delete_asset_queued_events"):
        _queued_then(lambda a, w: a.AssetApi.delete_asset_queued_events(w.asset_x)),
    ("AssetApi", "delete_dag_asset_queued_event"):
        _queued_then(lambda a, w: a.AssetApi.delete_dag_asset_queued_event(w.consumer,
                                                                            w.asset_x)),
    ("AssetApi", "delete_dag_asset_queued_events"):
        _queued_then(lambda a, w: a.AssetApi.delete_dag_asset_queued_events(w.consumer)),
    ("AssetApi", "get_asset"): lambda a, w: a.AssetApi.get_asset(w.asset_x),
    ("AssetApi", "get_asset_alias"): lambda a, w: a.AssetApi.get_asset_alias(w.alias_id),
    ("AssetApi", "get_asset_aliases"): lambda a, w: a.AssetApi.get_asset_aliases(),
    ("AssetApi", "get_asset_events"): lambda a, w: a.AssetApi.get_asset_events(),
    ("AssetApi", "get_asset_queued_events"):
        _queued_then(lambda a, w: a.AssetApi.get_asset_queued_events(w.asset_x)),
    ("AssetApi", "get_assets"): lambda a, w: a.AssetApi.get_assets(),
    ("AssetApi", "get_dag_asset_queued_event"):
        _queued_then(lambda a, w: a.AssetApi.get_dag_asset_queued_event(w.consumer,
                                                                         w.asset_x)),
    ("AssetApi", "get_dag_asset_queued_events"):
        _queued_then(lambda a, w: a.AssetApi.get_dag_asset_queued_events(w.consumer)),
    ("AssetApi", "materialize_asset"): lambda a, w: a.AssetApi.materialize_asset(w.asset_x),
    ("AssetStateStoreApi", "set_asset_state_store"):
        lambda a, w: a.AssetStateStoreApi.set_asset_state_store(
            "k", w.asset_x, m.AssetStateStoreBody(value={"n": 1})),
    ("AssetStateStoreApi", "get_asset_state_store"):
        lambda a, w: a.AssetStateStoreApi.get_asset_state_store("k", w.asset_x),
    ("AssetStateStoreApi", "list_asset_state_store"):
        lambda a, w: a.AssetStateStoreApi.list_asset_state_store(w.asset_x),
    ("AssetStateStoreApi", "delete_asset_state_store"):
        lambda a, w: a.AssetStateStoreApi.delete_asset_state_store("k", w.asset_x),
    ("AssetStateStoreApi", "clear_asset_state_store"):
        lambda a, w: a.AssetStateStoreApi.clear_asset_state_store(w.asset_x),
    # configuration, providers, plugins, jobs, version, health
    ("ConfigApi", "get_config"): lambda a, w: a.ConfigApi.get_config(),
    ("ConfigApi", "get_config_value"): lambda a, w: a.ConfigApi.get_config_value("api",
                                                                            "maximum_page_limit"),
    ("ProviderApi", "get_providers"): lambda a, w: a.ProviderApi.get_providers(),
    ("PluginApi", "get_plugins"): lambda a, w: a.PluginApi.get_plugins(),
    ("PluginApi", "import_errors"): lambda a, w: a.PluginApi.import_errors(),
    ("JobApi", "get_jobs"): lambda a, w: a.JobApi.get_jobs(job_type="SchedulerJob"),
    ("VersionApi", "get_version"): lambda a, w: a.VersionApi.get_version(),
    ("MonitorApi", "get_health"): lambda a, w: a.MonitorApi.get_health(),
    ("LoginApi", "logout"): lambda a, w: a.LoginApi.logout(),
    # a browser flow: 307 to the login page, which the client follows
    ("LoginApi", "login"): lambda a, w: a.LoginApi.login(next="/"),
    # connections, variables, pools
    ("ConnectionApi", "post_connection"): lambda a, w: _new_connection(a, "ops_conn_post"),
    ("ConnectionApi", "get_connection"): lambda a, w: a.ConnectionApi.get_connection(
        _new_connection(a, "ops_conn_get").connection_id),
    ("ConnectionApi", "get_connections"): lambda a, w: a.ConnectionApi.get_connections(),
    ("ConnectionApi", "patch_connection"): lambda a, w: a.ConnectionApi.patch_connection(
        "ops_conn_patch", m.ConnectionBody(connection_id=_new_connection(
            a, "ops_conn_patch").connection_id, conn_type="http", host="h2")),
    ("ConnectionApi", "delete_connection"): lambda a, w: a.ConnectionApi.delete_connection(
        _new_connection(a, "ops_conn_delete").connection_id),
    ("ConnectionApi", "bulk_connections"): lambda a, w: a.ConnectionApi.bulk_connections(
        m.BulkBodyConnectionBody.from_dict(_bulk(m.ConnectionBody, {
            "connection_id": "ops_conn_bulk", "conn_type": "http"}, "ops_conn_bulk"))),
    ("VariableApi", "post_variable"): lambda a, w: _new_variable(a, "ops_var_post"),
    ("VariableApi", "get_variable"): lambda a, w: a.VariableApi.get_variable(
        _new_variable(a, "ops_var_get").key),
    ("VariableApi", "get_variables"): lambda a, w: a.VariableApi.get_variables(),
    ("VariableApi", "patch_variable"): lambda a, w: a.VariableApi.patch_variable(
        "ops_var_patch", m.VariableBody(key=_new_variable(a, "ops_var_patch").key,
                                        value="v2")),
    ("VariableApi", "delete_variable"): lambda a, w: a.VariableApi.delete_variable(
        _new_variable(a, "ops_var_delete").key),
    ("VariableApi", "bulk_variables"): lambda a, w: a.VariableApi.bulk_variables(
        m.BulkBodyVariableBody.from_dict(_bulk(m.VariableBody, {
            "key": "ops_var_bulk", "value": "b"}, "ops_var_bulk"))),
    ("PoolApi", "post_pool"): lambda a, w: _new_pool(a, "ops_pool_post"),
    ("PoolApi", "get_pool"): lambda a, w: a.PoolApi.get_pool(_new_pool(a, "ops_pool_get").name),
    ("PoolApi", "get_pools"): lambda a, w: a.PoolApi.get_pools(),
    ("PoolApi", "patch_pool"): lambda a, w: a.PoolApi.patch_pool(
        _new_pool(a, "ops_pool_patch").name, m.PoolPatchBody(slots=5), update_mask=["slots"]),
    ("PoolApi", "delete_pool"): lambda a, w: a.PoolApi.delete_pool(
        _new_pool(a, "ops_pool_delete").name),
    ("PoolApi", "bulk_pools"): lambda a, w: a.PoolApi.bulk_pools(
        m.BulkBodyPoolBody.from_dict(_bulk(m.PoolBody, {"name": "ops_pool_bulk",
                                                        "slots": 2}, "ops_pool_bulk"))),
    # DAGs, tasks, versions, sources, stats, warnings
    ("DAGApi", "get_dags"): lambda a, w: a.DAGApi.get_dags(tags=["finance"]),
    ("DAGApi", "get_dag"): lambda a, w: a.DAGApi.get_dag(w.dag_id),
    ("DAGApi", "get_dag_details"): lambda a, w: a.DAGApi.get_dag_details(w.dag_id),
    ("DAGApi", "get_dag_tags"): lambda a, w: a.DAGApi.get_dag_tags(),
    ("DAGApi", "patch_dag"): lambda a, w: a.DAGApi.patch_dag(
        w.catalog_dag, m.DAGPatchBody(is_paused=True), update_mask=["is_paused"]),
    ("DAGApi", "patch_dags"): lambda a, w: a.DAGApi.patch_dags(
        m.DAGPatchBody(is_paused=True), dag_id_pattern="catalog_dag", update_mask=["is_paused"]),
    ("DAGApi", "delete_dag"): lambda a, w: a.DAGApi.delete_dag(w.extra["doomed_dag"]),
    ("TaskApi", "get_tasks"): lambda a, w: a.TaskApi.get_tasks(w.dag_id),
    ("TaskApi", "get_task"): lambda a, w: a.TaskApi.get_task(w.dag_id, "shout"),
    ("DagVersionApi", "get_dag_versions"): lambda a, w: a.DagVersionApi.get_dag_versions("~"),
    ("DagVersionApi", "get_dag_version"): lambda a, w: a.DagVersionApi.get_dag_version(
        w.dag_id, 1),
    ("DagSourceApi", "get_dag_source"): lambda a, w: a.DagSourceApi.get_dag_source(
        w.dag_id, version_number=1),
    ("DagStatsApi", "get_dag_stats"): lambda a, w: a.DagStatsApi.get_dag_stats(),
    ("DagWarningApi", "list_dag_warnings"): lambda a, w: a.DagWarningApi.list_dag_warnings(),
    ("ImportErrorApi", "get_import_errors"): lambda a, w: a.ImportErrorApi.get_import_errors(),
    ("ImportErrorApi", "get_import_error"): lambda a, w: a.ImportErrorApi.get_import_error(
        w.import_error_id),
    ("EventLogApi", "get_event_logs"): lambda a, w: a.EventLogApi.get_event_logs(),
    ("EventLogApi", "get_event_log"): lambda a, w: a.EventLogApi.get_event_log(
        a.EventLogApi.get_event_logs(limit=1).event_logs[0].event_log_id),
    # runs
    ("DagRunApi", "trigger_dag_run"): lambda a, w: _trigger(a, w),
    ("DagRunApi", "get_dag_run"): lambda a, w: a.DagRunApi.get_dag_run(*_hello(w)),
    ("DagRunApi", "get_dag_runs"): lambda a, w: a.DagRunApi.get_dag_runs("~"),
    ("DagRunApi", "get_list_dag_runs_batch"): lambda a, w: a.DagRunApi.get_list_dag_runs_batch(
        "~", m.DAGRunsBatchBody(dag_ids=[w.dag_id, w.catalog_dag], states=["success"])),
    ("DagRunApi", "patch_dag_run"): lambda a, w: a.DagRunApi.patch_dag_run(
        *_hello(w), m.DAGRunPatchBody(note="checked"), update_mask=["note"]),
    ("DagRunApi", "clear_dag_run"): lambda a, w: a.DagRunApi.clear_dag_run(
        *_hello(w), m.DAGRunClearBody(dry_run=False, only_failed=True)),
    ("DagRunApi", "delete_dag_run"): lambda a, w: a.DagRunApi.delete_dag_run(
        w.catalog_dag, _trigger(a, w).dag_run_id),
    ("DagRunApi", "get_upstream_asset_events"):
        lambda a, w: a.DagRunApi.get_upstream_asset_events(*_hello(w)),
    ("DagRunApi", "wait_dag_run_until_finished"):
        lambda a, w: a.DagRunApi.wait_dag_run_until_finished(*_hello(w), 0.1),
    ("ExperimentalApi", "wait_dag_run_until_finished"):
        lambda a, w: a.ExperimentalApi.wait_dag_run_until_finished(*_hello(w), 0.1,
                                                                   result=["shout"]),
    ("DagRunApi", "bulk_dag_runs"): lambda a, w: a.DagRunApi.bulk_dag_runs(
        "~", m.BulkBodyBulkDAGRunBody.from_dict({"actions": [
            {"action": "update", "entities": [{"dag_id": "grouped_dag", "note": "bulk",
                                               "dag_run_id": w.extra["grouped_run"]}]},
            {"action": "delete", "entities": [
                f"{w.catalog_dag}/{_trigger(a, w).dag_run_id}"]}]})),
    ("DagRunApi", "clear_dag_run_partitions"): lambda a, w: a.DagRunApi.clear_dag_run_partitions(
        w.dag_id, m.ClearPartitionsBody(run_id=w.run_id, dry_run=True)),
    ("DagRunApi", "clear_dag_runs"): lambda a, w: a.DagRunApi.clear_dag_runs(
        w.catalog_dag, m.BulkDAGRunClearBody(dry_run=False, dag_runs=[
            m.BulkDAGRunBody(dag_run_id=_trigger(a, w).dag_run_id)])),
    ("DAGApi", "favorite_dag"): lambda a, w: a.DAGApi.favorite_dag(w.catalog_dag),
    ("DAGApi", "unfavorite_dag"): lambda a, w: (a.DAGApi.favorite_dag(w.dag_id),
                                                a.DAGApi.unfavorite_dag(w.dag_id))[1],
    # backfills, on the paused daily DAG (its runs stay queued: pause and cancel see them)
    ("BackfillApi", "create_backfill_dry_run"):
        lambda a, w: a.BackfillApi.create_backfill_dry_run(_backfill(w)),
    ("BackfillApi", "create_backfill"): lambda a, w: _remember(
        w, "backfill_id", a.BackfillApi.create_backfill(_backfill(w))),
    ("BackfillApi", "list_backfills"):
        lambda a, w: a.BackfillApi.list_backfills(w.extra["backfill_dag"]),
    ("BackfillApi", "get_backfill"): lambda a, w: a.BackfillApi.get_backfill(
        w.extra["backfill_id"]),
    ("BackfillApi", "pause_backfill"): lambda a, w: a.BackfillApi.pause_backfill(
        w.extra["backfill_id"]),
    ("BackfillApi", "unpause_backfill"): lambda a, w: a.BackfillApi.unpause_backfill(
        w.extra["backfill_id"]),
    ("BackfillApi", "cancel_backfill"): lambda a, w: a.BackfillApi.cancel_backfill(
        w.extra["backfill_id"]),
    # task instances
    ("TaskInstanceApi", "bulk_task_instances"):
        lambda a, w: a.TaskInstanceApi.bulk_task_instances(
            *_hello(w), m.BulkBodyBulkTaskInstanceBody.from_dict({"actions": [
                {"action": "update", "entities": [{"task_id": "shout", "note": "bulk"}]}]})),
    ("TaskInstanceApi", "patch_task_group_instances"):
        lambda a, w: a.TaskInstanceApi.patch_task_group_instances(
            "grouped_dag", w.extra["grouped_run"], "etl", _note("group"),
            update_mask=["note"]),
    ("TaskInstanceApi", "patch_task_group_instances_dry_run"):
        lambda a, w: a.TaskInstanceApi.patch_task_group_instances_dry_run(
            "grouped_dag", w.extra["grouped_run"], "etl",
            m.PatchTaskInstanceBody(new_state="failed")),
    ("TaskInstanceApi", "get_task_instances"):
        lambda a, w: a.TaskInstanceApi.get_task_instances(*_hello(w)),
    ("TaskInstanceApi", "get_task_instances_batch"):
        lambda a, w: a.TaskInstanceApi.get_task_instances_batch(
            "~", "~", m.TaskInstancesBatchBody(dag_ids=[w.dag_id], task_ids=["shout"])),
    ("TaskInstanceApi", "get_task_instance"):
        lambda a, w: a.TaskInstanceApi.get_task_instance(*_hello(w), "shout"),
    ("TaskInstanceApi", "get_mapped_task_instance"):
        lambda a, w: a.TaskInstanceApi.get_mapped_task_instance(*_hello(w), "shout", -1),
    ("TaskInstanceApi", "get_mapped_task_instances"):
        lambda a, w: a.TaskInstanceApi.get_mapped_task_instances(
            "dynamic_mapping", w.extra["mapped_run"], "thumbnail"),
    ("TaskInstanceApi", "get_task_instance_tries"):
        lambda a, w: a.TaskInstanceApi.get_task_instance_tries(*_hello(w), "shout"),
    ("TaskInstanceApi", "get_mapped_task_instance_tries"):
        lambda a, w: a.TaskInstanceApi.get_mapped_task_instance_tries(*_hello(w), "shout", -1),
    ("TaskInstanceApi", "get_task_instance_try_details"):
        lambda a, w: a.TaskInstanceApi.get_task_instance_try_details(*_hello(w), "shout", 1),
    ("TaskInstanceApi", "get_mapped_task_instance_try_details"):
        lambda a, w: a.TaskInstanceApi.get_mapped_task_instance_try_details(
            *_hello(w), "shout", 1, -1),
    ("TaskInstanceApi", "get_task_instance_dependencies"):
        lambda a, w: a.TaskInstanceApi.get_task_instance_dependencies(
            w.hitl_dag, w.hitl_run, "ship"),
    ("TaskInstanceApi", "get_task_instance_dependencies_by_map_index"):
        lambda a, w: a.TaskInstanceApi.get_task_instance_dependencies_by_map_index(
            *_hello(w), "shout", -1),
    ("TaskInstanceApi", "get_log"):
        lambda a, w: a.TaskInstanceApi.get_log(*_hello(w), "shout", 1, full_content=True),
    ("TaskInstanceApi", "get_extra_links"):
        lambda a, w: a.TaskInstanceApi.get_extra_links(*_hello(w), "shout"),
    ("ExtraLinksApi", "get_extra_links"):
        lambda a, w: a.ExtraLinksApi.get_extra_links(*_hello(w), "shout"),
    ("TaskInstanceApi", "patch_task_instance"):
        lambda a, w: a.TaskInstanceApi.patch_task_instance(*_hello(w), "shout",
                                                           _note("seen"), update_mask=["note"]),
    ("TaskInstanceApi", "patch_task_instance_by_map_index"):
        lambda a, w: a.TaskInstanceApi.patch_task_instance_by_map_index(
            *_hello(w), "shout", -1, _note("seen again"), update_mask=["note"]),
    ("TaskInstanceApi", "patch_task_instance_dry_run"):
        lambda a, w: a.TaskInstanceApi.patch_task_instance_dry_run(
            *_hello(w), "shout", m.PatchTaskInstanceBody(new_state="failed")),
    ("TaskInstanceApi", "patch_task_instance_dry_run_by_map_index"):
        lambda a, w: a.TaskInstanceApi.patch_task_instance_dry_run_by_map_index(
            *_hello(w), "shout", -1, m.PatchTaskInstanceBody(new_state="failed",
                                                             include_upstream=True)),
    ("TaskInstanceApi", "post_clear_task_instances"):
        lambda a, w: a.TaskInstanceApi.post_clear_task_instances(
            w.dag_id, m.ClearTaskInstancesBody(dag_run_id=w.run_id, only_failed=False,
                                               include_downstream=True)),
    ("TaskInstanceApi", "get_hitl_details"):
        lambda a, w: a.TaskInstanceApi.get_hitl_details("~", "~"),
    ("TaskInstanceApi", "get_hitl_detail"):
        lambda a, w: a.TaskInstanceApi.get_hitl_detail(w.hitl_dag, w.hitl_run, "gate", -1),
    ("TaskInstanceApi", "get_hitl_detail_try_detail"):
        lambda a, w: a.TaskInstanceApi.get_hitl_detail_try_detail(w.hitl_dag, w.hitl_run,
                                                                  "gate", -1, 1),
    ("TaskInstanceApi", "update_hitl_detail"):
        lambda a, w: a.TaskInstanceApi.update_hitl_detail(
            w.hitl_dag, w.hitl_run, "gate", -1,
            m.UpdateHITLDetailPayload(chosen_options=["Reject"])),
    # task state store, on hello's "shout"
    ("TaskStateStoreApi", "set_task_state_store"):
        lambda a, w: a.TaskStateStoreApi.set_task_state_store(
            "cursor/1", *_hello(w), "shout", m.TaskStateStoreBody(value={"page": 2})),
    ("TaskStateStoreApi", "get_task_state_store"):
        lambda a, w: a.TaskStateStoreApi.get_task_state_store("cursor/1", *_hello(w), "shout"),
    ("TaskStateStoreApi", "list_task_state_store"):
        lambda a, w: a.TaskStateStoreApi.list_task_state_store(*_hello(w), "shout"),
    ("TaskStateStoreApi", "patch_task_state_store"):
        lambda a, w: a.TaskStateStoreApi.patch_task_state_store(
            "cursor/1", *_hello(w), "shout", m.TaskStateStorePatchBody(value={"page": 3})),
    ("TaskStateStoreApi", "delete_task_state_store"):
        lambda a, w: a.TaskStateStoreApi.delete_task_state_store("cursor/1", *_hello(w),
                                                                 "shout"),
    ("TaskStateStoreApi", "clear_task_state_store"):
        lambda a, w: a.TaskStateStoreApi.clear_task_state_store(*_hello(w), "shout",
                                                                all_map_indices=True),
    # XCom
    ("XComApi", "get_xcom_entries"):
        lambda a, w: a.XComApi.get_xcom_entries(w.dag_id, w.run_id, "~"),
    ("XComApi", "get_xcom_entry"):
        lambda a, w: a.XComApi.get_xcom_entry(w.dag_id, "make_greeting", w.run_id,
                                              "return_value"),
    ("XComApi", "create_xcom_entry"):
        lambda a, w: a.XComApi.create_xcom_entry(
            w.dag_id, "shout", w.run_id, m.XComCreateBody(key="ops_created",
                                                          value={"rows": 3})),
    ("XComApi", "update_xcom_entry"):
        lambda a, w: a.XComApi.update_xcom_entry(
            w.dag_id, "make_greeting", w.run_id, "return_value",
            m.XComUpdateBody(value="Hello, edited!")),
    ("XComApi", "delete_xcom_entry"): lambda a, w: (
        a.XComApi.create_xcom_entry(w.dag_id, "shout", w.run_id,
                                    m.XComCreateBody(key="ops_doomed", value=1)),
        a.XComApi.delete_xcom_entry(w.dag_id, "shout", w.run_id, "ops_doomed"))[1],
}

# Operations Leoflow does not serve, why, and the call that must answer Airflow's error
# shape ({"detail": "..."}) with the given status.
NOT_APPLICABLE: dict[Operation, tuple[str, int, Call]] = {
    ("DAGParsingApi", "reparse_dag_file"): (
        "DAG files are compiled when pushed or saved, never re-parsed by the server", 400,
        lambda a, w: a.DAGParsingApi.reparse_dag_file(a.DAGApi.get_dag(w.dag_id).file_token)),
    ("ConnectionApi", "create_default_connections"): (
        "Leoflow ships no provider default connections", 400,
        lambda a, w: a.ConnectionApi.create_default_connections()),
    ("ConnectionApi", "test_connection"): (
        "a test runs a hook inside the control plane (Airflow's default answer, disabled)",
        403, lambda a, w: a.ConnectionApi.test_connection(
            m.ConnectionBody(connection_id="ops_test", conn_type="http"))),
    ("ConnectionApi", "enqueue_connection_test"): (
        "as test_connection: testing connections is disabled", 403,
        lambda a, w: a.ConnectionApi.enqueue_connection_test(
            m.ConnectionTestRequestBody(connection_id="ops_test", conn_type="http"))),
    ("ConnectionApi", "get_connection_test"): (
        "as test_connection: testing connections is disabled", 403,
        lambda a, w: a.ConnectionApi.get_connection_test("token")),
    ("TaskInstanceApi", "get_external_log_url"): (
        "logs are served by Leoflow itself (Airflow's 400 for a handler without an external "
        "viewer)", 400,
        lambda a, w: a.TaskInstanceApi.get_external_log_url(*_hello(w), "shout", 1)),
    ("TaskInstanceApi", "delete_task_instance"): (
        "a task instance lives as long as its run (clear it or delete the run)", 400,
        lambda a, w: a.TaskInstanceApi.delete_task_instance(*_hello(w), "shout")),
}
