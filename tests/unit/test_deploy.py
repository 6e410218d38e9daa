"""deploy/ validated offline: the Kubernetes manifests against the Kubernetes schemas
(kubernetes-validate), the compose file against the Compose Specification's schema, the Prometheus
rules and the Grafana dashboard as PromQL whose every metric and label the worker exposes, and
every CHURNGUARD_* variable they set is a real setting."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.metrics import render
from streams.settings import Settings
from tests.unit.kafka.test_metrics import STATUS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33.0"
PROMETHEUS_LABELS = {"instance", "job"}  # added by the scrape
PROMETHEUS_METRICS = {"up": {"instance", "job"}}


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def kinds() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in manifests()}


def settings_set(env: dict[str, Any]) -> set[str]:
    return {name for name in env if name.startswith("CHURNGUARD_")}


def known_settings() -> set[str]:
    return {f"CHURNGUARD_{f.name.upper()}" for f in fields(Settings)}


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_kubernetes_manifests_validate_strictly(doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_workers_are_a_hardened_statefulset_with_probes_and_a_volume_each():
    docs = kinds()
    assert {"ConfigMap", "Secret", "Service", "StatefulSet", "PodDisruptionBudget"} <= set(docs)
    sts = docs["StatefulSet"]["spec"]
    pod = sts["template"]["spec"]
    (worker,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert worker["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}}
    assert worker["resources"]["requests"] and worker["resources"]["limits"]["memory"]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/ready/" and worker["livenessProbe"]["httpGet"]["path"] == "/live/"
    assert [t["metadata"]["name"] for t in sts["volumeClaimTemplates"]] == ["data"]
    data_dir = docs["ConfigMap"]["data"]["CHURNGUARD_DATA_DIR"]
    assert {"name": "data", "mountPath": data_dir} in worker["volumeMounts"]
    # Tables on that volume, with memory bounded by the cache: the limit must hold the live users.
    assert docs["ConfigMap"]["data"]["CHURNGUARD_TABLE_STORE"] == "rocksdb"
    limit_gib = int(worker["resources"]["limits"]["memory"].removesuffix("Gi"))
    assert int(docs["ConfigMap"]["data"]["CHURNGUARD_STATE_CACHE_USERS"]) * 25_000 < limit_gib * 2**30 / 2
    services = [d for d in manifests() if d["kind"] == "Service"]
    assert any(s["spec"].get("clusterIP") == "None" and s["metadata"]["name"] == sts["serviceName"] for s in services)
    selector = sts["selector"]["matchLabels"]
    assert all(s["spec"]["selector"] == selector for s in services)
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    # Every file the settings name is mounted; credentials come from the Secret.
    config = docs["ConfigMap"]["data"]
    mounts = [m["mountPath"] for m in worker["volumeMounts"]]
    for name, value in config.items():
        if name.endswith("_FILE"):
            assert any(value.startswith(m + "/") for m in mounts), name
    assert int(config["CHURNGUARD_REPLICATION_FACTOR"]) == 3 and int(config["CHURNGUARD_MIN_INSYNC_REPLICAS"]) == 2


def test_every_variable_the_deploy_files_set_is_a_setting():
    known = known_settings()
    docs = kinds()
    used = settings_set(docs["ConfigMap"]["data"])
    used |= {e["name"] for e in docs["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    for service in compose()["services"].values():
        used |= settings_set(service.get("environment", {}))
    assert used and used <= known, used - known
    for name, value in docs["ConfigMap"]["data"].items():  # and each value parses as its setting
        Settings.from_env({name: value})


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_follows_the_compose_specification():
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose())


def test_compose_runs_kraft_kafka_topics_two_workers_simulator_and_prometheus():
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:") and "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["topics"]["command"] == ["topics"]
    workers = [s for s in services.values() if s.get("command") == ["worker"]]
    assert len(workers) == 2 and len({tuple(w["ports"]) for w in workers}) == 2
    assert all(w["depends_on"]["topics"]["condition"] == "service_completed_successfully" for w in workers)
    # As in production: tables on a volume of each worker's own, at the data directory.
    assert all(w["environment"]["CHURNGUARD_TABLE_STORE"] == "rocksdb" for w in workers)
    image_data_dir = re.search(r"CHURNGUARD_DATA_DIR=(\S+)", (DEPLOY / "Dockerfile").read_text())
    assert image_data_dir
    data_dir = services["topics"]["environment"].get("CHURNGUARD_DATA_DIR", image_data_dir[1])  # else the image's
    assert len({w["volumes"][0] for w in workers}) == 2
    assert all(w["volumes"][0].endswith(f":{data_dir}") for w in workers)
    assert services["simulator"]["command"][0] == "simulate" and "--to-topics" in services["simulator"]["command"]
    for volume in services["prometheus"]["volumes"]:  # the mounted files exist
        assert (DEPLOY / volume.split(":")[0]).resolve().is_file(), volume
    build = workers[0]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def exposed() -> dict[str, set[str]]:
    """Every metric the worker exposes (a status with every kind of figure) and its labels."""
    names: dict[str, set[str]] = dict(PROMETHEUS_METRICS)
    for family in text_string_to_metric_families(render(STATUS)):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def selectors(node: Any) -> Iterator[Any]:
    if isinstance(node, promql_parser.VectorSelector):
        yield node
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from selectors(child)
    for child in getattr(node, "args", None) or []:
        yield from selectors(child)


def check_promql(expr: str) -> None:
    """Parses, and names only metrics and labels the worker (or Prometheus itself) exposes."""
    metrics = exposed()
    tree = promql_parser.parse(expr)
    found = list(selectors(tree))
    assert found, expr
    for selector in found:
        assert selector.name in metrics, f"{selector.name} is not exposed ({expr})"
        labels = {m.name for m in selector.matchers.matchers} - {"__name__"}
        assert labels <= metrics[selector.name] | PROMETHEUS_LABELS, (selector.name, labels)
    grouped = set(re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr))
    used_labels = set().union(*(metrics[s.name] for s in found)) | PROMETHEUS_LABELS
    for group in grouped:
        assert {g.strip() for g in group.split(",") if g.strip()} <= used_labels, (group, expr)


def test_alerting_rules_are_valid_promql_over_exposed_metrics():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {"ChurnguardConsumerLagGrowing", "ChurnguardDeadLetterRate", "ChurnguardModelQualityLow",
            "ChurnguardNoEvents"} <= names
    runbook = (ROOT / "docs" / "operations.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for rule in alerts:
        check_promql(rule["expr"])
        assert rule["labels"]["severity"] in ("page", "warn") and rule["annotations"]["summary"]
        assert rule["annotations"]["runbook"].split("#")[1] in anchors, rule["alert"]


def test_grafana_dashboard_queries_are_valid_promql_over_exposed_metrics():
    dashboard = json.loads((DEPLOY / "grafana" / "churnguard.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels) >= 10
    for panel in panels:
        for target in panel["targets"]:
            # Grafana's variables, as Prometheus would receive them
            check_promql(target["expr"].replace("$__rate_interval", "1m"))
            assert target["datasource"]["uid"] == "${datasource}"


def test_prometheus_scrapes_both_compose_workers():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "churnguard" and job["metrics_path"] == "/metrics"
    targets = job["static_configs"][0]["targets"]
    workers = [name for name, s in compose()["services"].items() if s.get("command") == ["worker"]]
    assert sorted(targets) == sorted(f"{w}:6066" for w in workers)
