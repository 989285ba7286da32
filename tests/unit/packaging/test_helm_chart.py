"""The Helm chart ``packaging/helm/leoflow``, checked without helm.

No ``helm`` binary (and no Kubernetes API server) runs on the machines the suite runs on.
So: the values are validated against ``values.schema.json`` with ``jsonschema`` as Helm does
before rendering; every template is rendered with a strict Go-template subset renderer
(``gotemplate.py``: a key missing from the values or an unknown function is an error, where
Helm would render nothing); the output must be YAML of Kubernetes objects; and the rendered
objects are checked against Leoflow itself: the server's flags parse with leoflow-server's
own argument parser, its environment loads with ``Settings.load``, the probes name real API
routes, the migrations Job runs a real ``leoflow`` command.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.unit.packaging.chart import (
    CHART,
    EXAMPLES,
    NAMESPACE,
    RELEASE,
    Rendered,
    default_values,
    render,
    schema,
    schema_errors,
    secret_data,
    values_with,
)
from tests.unit.packaging.gotemplate import Renderer, TemplateError

K3D = CHART / "values-examples" / "k3d.yaml"
PRODUCTION = CHART / "values-examples" / "production.yaml"
REQUIRED = {"database": "url", "redis": "url", "auth": "jwtSecret"}
EXISTING_SECRET = {"database": "leoflow-database", "redis": "leoflow-redis",
                   "auth": "leoflow-auth"}


def container(rendered: Rendered, kind: str = "Deployment") -> dict[str, Any]:
    return rendered.one(kind)["spec"]["template"]["spec"]["containers"][0]


def env_of(rendered: Rendered, kind: str = "Deployment") -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(rendered, kind)["env"]}


# -- the schema ------------------------------------------------------------------------------
def test_the_schema_is_draft_07_as_helm_reads_it():
    document = schema()
    assert document["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(document)


def test_the_defaults_alone_are_refused_for_exactly_the_three_required_values():
    assert schema_errors(default_values()) == [
        "auth.jwtSecret: '' is too short",
        "database.url: '' should be non-empty",
        "redis.url: '' should be non-empty",
    ]


def test_every_values_file_and_example_is_accepted_over_the_defaults():
    assert [p.name for p in EXAMPLES] == ["k3d.yaml", "production.yaml"]
    for path in EXAMPLES:
        assert schema_errors(values_with(path)) == [], path.name


@pytest.mark.parametrize(("section", "key"), sorted(REQUIRED.items()))
def test_a_missing_required_value_is_refused_unless_its_secret_exists(section, key):
    values = values_with(K3D)
    values[section][key] = ""
    assert [e for e in schema_errors(values) if e.startswith(f"{section}.{key}:")], section
    del values[section][key]
    errors = schema_errors(values)
    assert errors == [f"{section}: '{key}' is a required property"]
    values[section]["existingSecret"] = EXISTING_SECRET[section]
    assert schema_errors(values) == []


@pytest.mark.parametrize(("change", "expected"), [
    ({"auth": {"jwtSecret": "short-secret"}}, "auth.jwtSecret:"),
    ({"auth": {"fernetKey": "not-a-fernet-key"}}, "auth.fernetKey:"),
    ({"database": {"url": "mysql://db/leoflow"}}, "database.url:"),
    ({"redis": {"url": "localhost:6379"}}, "redis.url:"),
    ({"replicaCount": 0}, "replicaCount:"),
    ({"executor": "celery"}, "executor:"),
    ({"server": {"grpcPort": 70000}}, "server.grpcPort:"),
    ({"database": {"existingSecret": "Not_A_Name"}}, "database.existingSecret:"),
    ({"replicas": 2}, ": Additional properties are not allowed ('replicas' was unexpected)"),
    ({"server": {"httpport": 80}}, "server: Additional properties are not allowed"),
])
def test_typos_and_bad_values_are_refused_naming_the_field(change, expected):
    from tests.unit.packaging.gotemplate import merge_values

    errors = schema_errors(merge_values(values_with(K3D), change))
    assert any(e.startswith(expected) for e in errors), errors


# -- rendering -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_template_renders_to_kubernetes_objects(path: Path):
    rendered = render(values_with(path))
    expected = {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding", "Job"}
    assert expected <= set(rendered.kinds())
    for manifest in rendered.manifests:
        labels = manifest["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == RELEASE, manifest["kind"]
        assert labels.get("helm.sh/chart") == "leoflow-0.1.0", manifest["kind"]
    assert "port-forward svc/prod-leoflow" in rendered.notes


def test_the_server_flags_are_leoflow_servers_own():
    from leoflow.app.server import build_parser

    rendered = render(values_with(K3D))
    server = container(rendered)
    assert server["command"] == ["leoflow-server"]
    args = build_parser().parse_args(server["args"])  # a wrong flag exits here
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert (args.host, args.port, args.grpc_port, args.parallelism, args.log_json) == (
        "0.0.0.0", ports["http"], ports["grpc"], 32, True)
    # Task pods reach the agent service through the Service: it must not listen on loopback.
    assert args.grpc_host == "0.0.0.0"
    service = rendered.one("Service")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == ports
    assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {
        "http": "http", "grpc": "grpc"}


def test_changed_ports_move_together():
    rendered = render(values_with(K3D, server={"httpPort": 9000, "grpcPort": 9001}))
    ports = {p["name"]: p["containerPort"] for p in container(rendered)["ports"]}
    assert ports == {"http": 9000, "grpc": 9001}
    assert env_of(rendered)["LEOFLOW_GRPC_ADVERTISE_ADDRESS"]["value"].endswith(":9001")
    assert {p["port"] for p in rendered.one("Service")["spec"]["ports"]} == {9000, 9001}


def resolve_env(rendered: Rendered, pod_name: str = "prod-leoflow-7d9f-x2k4q"
                ) -> dict[str, str]:
    """The server container's environment as the kubelet would give it (Secrets resolved
    from the chart's own Secret; optional keys that are absent left out)."""
    secrets = secret_data(rendered)
    env: dict[str, str] = {}
    for item in container(rendered)["env"]:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            key = (ref["name"], ref["key"])
            if key in secrets:
                env[item["name"]] = secrets[key]
            else:
                assert ref.get("optional") is True, f"{item['name']}: {key} is not in a Secret"
        else:
            assert source == {"fieldRef": {"fieldPath": "metadata.name"}}, item
            env[item["name"]] = pod_name
    return env


def test_the_environment_configures_a_production_kubernetes_server(tmp_path):
    from leoflow.app.settings import _SETTINGS, Settings
    from leoflow.engine.auth.config import check_production

    rendered = render(values_with(K3D))
    env = resolve_env(rendered)
    known = {s.env for s in _SETTINGS.values()} | {"LEOFLOW_HOME"}
    assert set(env) <= known, set(env) - known  # a misspelt variable is silently ignored
    settings = Settings.load(env={**env, "LEOFLOW_HOME": str(tmp_path)})
    check_production(settings)  # what leoflow-server does before starting
    assert settings.production is True
    assert settings.database_url == \
        "postgresql+asyncpg://leoflow:leoflow-local-pw@pg-postgresql:5432/leoflow"
    assert settings.redis_url == "redis://:leoflow-local-pw@redis-master:6379/0"
    assert settings.executor == "kubernetes"
    assert settings.k8s_namespace == NAMESPACE
    assert settings.k8s_pod_gc_delay == 60
    assert settings.grpc_advertise_address == f"prod-leoflow.{NAMESPACE}.svc:50051"
    assert settings.replica_id == "prod-leoflow-7d9f-x2k4q"
    assert settings.bootstrap_password == "admin-on-k3d-only"
    assert settings.fernet_key == "7Gd0cA3x4-QJ0Uq5wXzP1vW8nR2mT6yL9kB5hE3jF0s="
    # The advertised host is the Service's DNS name.
    service = rendered.one("Service")["metadata"]
    assert settings.grpc_advertise_address.startswith(
        f"{service['name']}.{service['namespace']}.svc:")


def test_one_value_serves_the_airflow_ui_the_image_bakes_in(tmp_path, monkeypatch):
    from leoflow.app.cmd_ui import UI_DIR_ENV, ui_roots

    assert default_values()["airflowUi"]["enabled"] is False
    assert UI_DIR_ENV not in env_of(render(values_with(K3D)))
    env = env_of(render(values_with(K3D, airflowUi={"enabled": True})))
    path = default_values()["airflowUi"]["path"]
    assert env[UI_DIR_ENV] == {"name": UI_DIR_ENV, "value": path}
    monkeypatch.setenv(UI_DIR_ENV, env[UI_DIR_ENV]["value"])
    assert ui_roots(tmp_path)[0] == Path(path)  # where the server looks first
    assert schema_errors(values_with(K3D, airflowUi={"enabled": "yes"}))
    assert schema_errors(values_with(K3D, airflowUi={"path": "relative/dir"}))


def test_secrets_never_appear_in_clear_in_a_pod_spec():
    values = values_with(K3D)
    rendered = render(values)
    clear = [values["database"]["url"], values["redis"]["url"], values["auth"]["jwtSecret"],
             values["auth"]["fernetKey"], values["auth"]["bootstrapPassword"]]
    for kind in ("Deployment", "Job"):
        text = repr(rendered.one(kind))
        assert not [s for s in clear if s in text], kind
    env = env_of(rendered)
    for name in ("LEOFLOW_DATABASE_URL", "LEOFLOW_REDIS_URL", "LEOFLOW_JWT_SECRET",
                 "LEOFLOW_FERNET_KEY", "LEOFLOW_BOOTSTRAP_PASSWORD"):
        assert "secretKeyRef" in env[name]["valueFrom"], name


def test_existing_secrets_are_referenced_and_no_secret_is_created():
    rendered = render(values_with(PRODUCTION))
    assert rendered.all("Secret") == []
    refs = {name: item["valueFrom"]["secretKeyRef"] for name, item in env_of(rendered).items()
            if "secretKeyRef" in item.get("valueFrom", {})}
    assert {n: (r["name"], r["key"]) for n, r in refs.items()} == {
        "LEOFLOW_DATABASE_URL": ("leoflow-database", "database-url"),
        "LEOFLOW_REDIS_URL": ("leoflow-redis", "redis-url"),
        "LEOFLOW_JWT_SECRET": ("leoflow-auth", "jwt-secret"),
        "LEOFLOW_FERNET_KEY": ("leoflow-auth", "fernet-key"),
        "LEOFLOW_BOOTSTRAP_PASSWORD": ("leoflow-auth", "bootstrap-password"),
    }
    assert not refs["LEOFLOW_JWT_SECRET"].get("optional")
    assert refs["LEOFLOW_FERNET_KEY"]["optional"] is True


def test_one_existing_secret_leaves_the_others_in_the_charts_secret():
    values = values_with(K3D, database={"existingSecret": "my-db", "existingSecretKey": "url"})
    rendered = render(values)
    assert set(rendered.one("Secret")["data"]) == {
        "redis-url", "jwt-secret", "fernet-key", "bootstrap-password"}
    ref = env_of(rendered)["LEOFLOW_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("my-db", "url")


def test_the_probes_ask_a_real_unauthenticated_route():
    from leoflow.engine.api import create_api

    paths = create_api(version="test").openapi()["paths"]
    server = container(render(values_with(K3D)))
    for probe in ("livenessProbe", "readinessProbe"):
        get = server[probe]["httpGet"]
        assert get["port"] == "http"
        assert "get" in paths[get["path"]], get["path"]
        assert not paths[get["path"]]["get"].get("security"), "a probe cannot log in"
    assert server["livenessProbe"]["httpGet"]["path"] == "/api/v2/monitor/health"
    assert server["readinessProbe"]["httpGet"]["path"] == "/api/leoflow/ready"


def test_the_migrations_job_is_a_hook_that_runs_leoflow_db_migrate():
    from leoflow.app.cli import build_parser

    rendered = render(values_with(K3D))
    job = rendered.one("Job")
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    command = spec["containers"][0]["command"]
    assert command[0] == "leoflow"
    args = build_parser().parse_args(command[1:])
    assert args.func.__name__ == "run_migrate"
    assert set(env_of(rendered, "Job")) == {"LEOFLOW_DATABASE_URL", "LEOFLOW_HOME"}
    assert env_of(rendered, "Job")["LEOFLOW_DATABASE_URL"] == \
        env_of(rendered)["LEOFLOW_DATABASE_URL"]
    # The chart's Secret exists before the Job that reads it: a hook of lower weight.
    secret_hooks = rendered.one("Secret")["metadata"]["annotations"]
    assert secret_hooks["helm.sh/hook"] == hooks["helm.sh/hook"]
    assert int(secret_hooks["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])
    assert "Job" not in render(values_with(K3D, migrations={"enabled": False})).kinds()


def test_rbac_lets_the_server_manage_task_pods_and_token_secrets():
    for path, namespace in ((K3D, NAMESPACE), (PRODUCTION, "leoflow-tasks")):
        rendered = render(values_with(path))
        role, binding = rendered.one("Role"), rendered.one("RoleBinding")
        assert role["metadata"]["namespace"] == namespace == \
            env_of(rendered)["LEOFLOW_K8S_NAMESPACE"]["value"]
        verbs = {(resource, verb) for rule in role["rules"] for resource in rule["resources"]
                 for verb in rule["verbs"]}
        needed = {("pods", v) for v in ("create", "get", "list", "watch", "delete")} | {
            ("pods/log", "get"), ("secrets", "create"), ("secrets", "delete")}
        assert needed <= verbs, needed - verbs
        account = rendered.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        assert rendered.one("ServiceAccount")["metadata"]["name"] == account
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account,
                                        "namespace": NAMESPACE}]
    bare = render(values_with(K3D, rbac={"create": False}, serviceAccount={"create": False}))
    assert not {"Role", "RoleBinding", "ServiceAccount"} & set(bare.kinds())
    assert bare.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == \
        "default"


def test_selectors_match_the_pods_labels():
    rendered = render(values_with(PRODUCTION))
    deployment = rendered.one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [deployment["spec"]["selector"]["matchLabels"],
                 rendered.one("Service")["spec"]["selector"],
                 rendered.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
    # The migrations Job's pod must not be picked up by the Service.
    job_labels = rendered.one("Job")["spec"]["template"]["metadata"]["labels"]
    assert not rendered.one("Service")["spec"]["selector"].items() <= job_labels.items()


def test_a_disruption_budget_only_with_several_replicas():
    assert "PodDisruptionBudget" not in render(values_with(K3D)).kinds()
    rendered = render(values_with(K3D, replicaCount=3))
    assert rendered.one("Deployment")["spec"]["replicas"] == 3
    assert rendered.one("PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_scheduling_and_resources_reach_the_pod():
    values = values_with(PRODUCTION)
    rendered = render(values)
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    server = pod["containers"][0]
    assert server["resources"] == values["resources"]
    assert server["image"] == "registry.example.com/leoflow/leoflow-server:0.1.0"
    assert rendered.one("Job")["spec"]["template"]["spec"]["nodeSelector"] == \
        values["nodeSelector"]
    extra = render(values_with(K3D, server={"extraEnv": [
        {"name": "LEOFLOW_JWT_EXPIRATION", "value": "3600"}]}))
    assert env_of(extra)["LEOFLOW_JWT_EXPIRATION"] == {"name": "LEOFLOW_JWT_EXPIRATION",
                                                        "value": "3600"}


def test_the_home_is_writable_with_a_read_only_root():
    values = values_with(K3D)
    pod = render(values).one("Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"/var/lib/leoflow": "home", "/tmp": "tmp"}
    assert env_of(render(values))["LEOFLOW_HOME"]["value"] == "/var/lib/leoflow"
    claimed = render(values_with(K3D, home={"existingClaim": "leoflow-home"}))
    volumes = claimed.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "home",
                          "persistentVolumeClaim": {"claimName": "leoflow-home"}}


def test_names_follow_the_release():
    rendered = render(values_with(K3D), release="leoflow")  # the name already says leoflow
    assert rendered.one("Deployment")["metadata"]["name"] == "leoflow"
    named = render(values_with(K3D, fullnameOverride="orchestrator"))
    assert named.one("Service")["metadata"]["name"] == "orchestrator"
    assert env_of(named)["LEOFLOW_GRPC_ADVERTISE_ADDRESS"]["value"] == \
        f"orchestrator.{NAMESPACE}.svc:50051"


# -- the renderer catches what helm would not -----------------------------------------------
def chart_templates() -> dict[str, str]:
    return {f"templates/{p.name}": p.read_text("utf-8")
            for p in sorted((CHART / "templates").iterdir()) if p.is_file()}


def test_a_misspelt_values_key_fails_naming_the_template_and_line():
    templates = chart_templates()
    source = templates["templates/deployment.yaml"]
    assert ".Values.server.grpcPort" in source
    templates["templates/deployment.yaml"] = source.replace(
        ".Values.server.grpcPort", ".Values.server.grpcport", 1)
    line = source[:source.index(".Values.server.grpcPort")].count("\n") + 1
    context = {"Values": values_with(K3D), "Release": {"Name": "r", "Namespace": "n",
               "Service": "Helm"}, "Chart": {"Name": "leoflow", "Version": "0", "AppVersion": "0"}}
    with pytest.raises(TemplateError, match=rf"deployment.yaml:{line}: .*no key 'grpcport'"):
        Renderer(templates).render("templates/deployment.yaml", copy.deepcopy(context))


@pytest.mark.parametrize(("source", "error"), [
    ("{{ if .Values.a }}x", "'if' is never closed"),
    ("x{{ end }}", "'end' with nothing open"),
    ("{{ .Values.a }", "unbalanced"),
    ("{{ frobnicate .Values.a }}", "unknown function 'frobnicate'"),
    ('{{ include "nope" . }}', "undefined template 'nope'"),
    ("{{ else }}", "'else' outside"),
])
def test_malformed_templates_are_refused(source, error):
    with pytest.raises(TemplateError, match=error):
        Renderer({"t.yaml": source}).render("t.yaml", {"Values": {"a": 1}})


def test_the_renderer_follows_go_template_rules():
    source = ('{{- define "x" -}}[{{ . }}]{{- end -}}\n'
              "a: {{ if eq .Values.n 1 }}one{{ else if gt .Values.n 1 }}many"
              "{{ else }}none{{ end }}\n"
              "b: {{- range $i, $v := .Values.l }} {{ $i }}={{ $v }}{{ end }}\n"
              "c: {{ with .Values.m }}{{ .k | quote }}{{ else }}empty{{ end }}\n"
              "d: {{ include \"x\" .Values.n }} {{ default \"dflt\" .Values.s | upper }}\n"
              "e: {{ toYaml .Values.m | nindent 2 }}")
    render_with = Renderer({"t": source}).render
    assert render_with("t", {"Values": {"n": 2, "l": ["p", "q"], "m": {"k": "v"}, "s": ""}}) \
        == 'a: many\nb: 0=p 1=q\nc: "v"\nd: [2] DFLT\ne: \n  k: v'
    assert render_with("t", {"Values": {"n": 0, "l": [], "m": {}, "s": "z"}}).splitlines()[:4] \
        == ["a: none", "b:", "c: empty", "d: [0] Z"]


def test_the_chart_describes_this_version_of_leoflow():
    import re

    from leoflow import __version__
    from tests.unit.packaging.chart import chart_metadata

    meta = chart_metadata()
    assert meta["apiVersion"] == "v2"  # values.schema.json is read from v2 charts on
    assert meta["name"] == CHART.name == "leoflow"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    # The image tag defaults to appVersion: it must be the version the image is built from.
    assert meta["appVersion"] == __version__
    assert container(render(values_with(K3D, image={"tag": ""})))["image"] == \
        f"leoflow-server:{__version__}"


def test_the_notes_warn_when_replicas_would_not_share_a_fernet_key():
    without = values_with(K3D, auth={"fernetKey": ""})
    assert "WARNING: auth.fernetKey is not set" in render(without).notes
    assert "WARNING" not in render(values_with(K3D)).notes
    assert "WARNING" not in render(values_with(PRODUCTION)).notes  # the key is in its Secret


# -- the rendered objects against the Kubernetes API's own models -----------------------------
def api_errors(value: Any, type_name: str, path: str) -> list[str]:
    """Where ``value`` does not fit the Kubernetes API type ``type_name``: unknown fields
    (a typo such as ``containerport`` that the API server would drop or refuse), and values
    of the wrong kind. The models are kubernetes_asyncio's, generated from the API's OpenAPI
    document; no API server runs here to do this check itself."""
    from kubernetes_asyncio.client import models

    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r}"]
        inner = type_name[5:-1]
        return [e for i, item in enumerate(value) for e in api_errors(item, inner, f"{path}[{i}]")]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {value!r}"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [e for k, item in value.items() for e in api_errors(item, inner, f"{path}.{k}")]
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in scalars:
        fits = isinstance(value, scalars[type_name]) and not (
            type_name == "int" and isinstance(value, bool))
        return [] if fits else [f"{path}: expected {type_name}, got {value!r}"]
    if type_name in ("object", "datetime"):
        return []  # IntOrString, quantities, free-form
    model = getattr(models, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} object, got {value!r}"]
    by_key = {json_key: name for name, json_key in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        if key not in by_key:
            errors.append(f"{path}.{key}: not a field of {type_name}")
        else:
            errors += api_errors(item, model.openapi_types[by_key[key]], f"{path}.{key}")
    return errors


API_TYPES = {("apps/v1", "Deployment"): "V1Deployment", ("v1", "Service"): "V1Service",
             ("v1", "Secret"): "V1Secret", ("v1", "ServiceAccount"): "V1ServiceAccount",
             ("batch/v1", "Job"): "V1Job",
             ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
             ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
             ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_object_fits_the_kubernetes_api(path: Path):
    pytest.importorskip("kubernetes_asyncio", reason="the pro extra checks manifests")
    rendered = render(values_with(path, replicaCount=2))
    for manifest in rendered.manifests:
        type_name = API_TYPES[(manifest["apiVersion"], manifest["kind"])]
        assert api_errors(manifest, type_name, manifest["kind"]) == []


def test_the_api_check_catches_a_misspelt_field():
    pytest.importorskip("kubernetes_asyncio", reason="the pro extra checks manifests")
    deployment = render(values_with(K3D)).one("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerport"] = 1
    deployment["spec"]["replicas"] = "2"
    assert api_errors(deployment, "V1Deployment", "Deployment") == [
        "Deployment.spec.replicas: expected int, got '2'",
        "Deployment.spec.template.spec.containers[0].ports[0].containerport: not a field of "
        "V1ContainerPort",
    ]


def test_the_role_allows_every_call_the_kubernetes_executor_makes():
    """Read the executor's own calls (``create_namespaced_pod``, ``list_namespaced_pod(...,
    watch=True)``...) and check the Role grants each: a call added there without its verb
    here would fail with 403 only in a real cluster."""
    import re

    verbs_of = {"create": "create", "delete": "delete", "list": "list", "read": "get",
                "patch": "patch", "replace": "update"}
    resources = {"pod": "pods", "pod_log": "pods/log", "secret": "secrets", "event": "events",
                 "config_map": "configmaps"}
    sources = [p.read_text("utf-8") for p in
               (CHART.parents[2] / "leoflow" / "engine" / "executors").glob("k*.py")]
    needed = set()
    for source in sources:
        for verb, resource in re.findall(r"\.(\w+?)_namespaced_(\w+)", source):
            if verb in verbs_of:
                needed.add((resources[resource], verbs_of[verb]))
        if re.search(r"list_namespaced_pod\([^)]*watch=True", source, re.S):
            needed.add(("pods", "watch"))
    assert ("pods", "create") in needed and ("pods", "watch") in needed, needed
    role = render(values_with(K3D)).one("Role")
    granted = {(resource, verb) for rule in role["rules"] for resource in rule["resources"]
               for verb in rule["verbs"]}
    assert needed <= granted, needed - granted
