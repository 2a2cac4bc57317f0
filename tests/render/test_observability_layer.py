"""The observability layer as rendered for both inventories: what it scrapes, records, alerts on and shows."""

import json
import re

import pytest
import yaml

from render.conftest import ROOT, assert_refused, render

INVENTORIES = ("gke_l4", "vast")


def _monitor(tree, name):
    return tree.one("ServiceMonitor", name, layer="observability")


def _keeps(endpoint):
    return [r["regex"] for r in endpoint.get("relabelings", []) if r["action"] == "keep"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_model_servers_and_pickers_are_scraped_by_contract_names(rendered, inventory):
    tree = rendered[inventory]
    serving = tree.one("Namespace", "llm-serving")["metadata"]["name"]
    models = [d["metadata"]["labels"]["llmaas.platform/model"]
              for d in tree.objects(kind="Deployment", layer="serving") if d["metadata"]["name"].startswith("vllm-")]
    assert models
    for model in models:
        vllm = _monitor(tree, f"vllm-{model}")["spec"]
        assert vllm["namespaceSelector"]["matchNames"] == [serving]
        (endpoint,) = vllm["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
        assert _keeps(endpoint) == [f"vllm-{model}"]
        service = tree.one("Service", f"vllm-{model}")
        assert "http" in [p["name"] for p in service["spec"]["ports"]], "vLLM Service lacks the scraped port"

        epp = _monitor(tree, f"{model}-epp")["spec"]
        (endpoint,) = epp["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
        assert _keeps(endpoint) == [f"{model}-epp"]
        # The picker's /metrics needs a token allowed to GET the /metrics non-resource URL.
        assert endpoint["authorization"]["credentials"] == {"name": "epp-metrics-reader", "key": "token"}
    role = tree.one("ClusterRole", "llmaas-epp-metrics-reader")
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    secret = tree.one("Secret", "epp-metrics-reader")
    assert secret["type"] == "kubernetes.io/service-account-token" and "data" not in secret


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_litellm_is_scraped_on_metrics_slash(rendered, inventory):
    spec = _monitor(rendered[inventory], "litellm")["spec"]
    assert spec["namespaceSelector"]["matchNames"] == ["llm-gateway"]
    (endpoint,) = spec["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics/")
    assert _keeps(endpoint) == ["litellm"]


@pytest.mark.parametrize("inventory, namespace, service, port", [
    ("gke_l4", "gpu-operator", "dcgm-exporter", "metrics"),            # gke-managed: dcgm-exporter chart
    ("vast", "gpu-operator", "nvidia-dcgm-exporter", "gpu-metrics"),   # operator: the operator's exporter
])
def test_gpu_metrics_source_follows_the_gpu_stack(rendered, inventory, namespace, service, port):
    spec = _monitor(rendered[inventory], "gpu-dcgm-exporter")["spec"]
    assert spec["namespaceSelector"]["matchNames"] == [namespace]
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] == port and _keeps(endpoint) == [service]


# Labels dcgm-exporter sets to the workload that holds the GPU (its Kubernetes pod mapping); a scrape without
# honorLabels overwrites them with the exporter's own target labels (prometheus-operator Endpoint.honorLabels ->
# Prometheus honor_labels).
_DCGM_WORKLOAD_LABELS = {"namespace", "pod", "container"}


def _dcgm_queries(tree):
    """Every dashboard and rule expression over a DCGM_ metric."""
    exprs = []
    for cm in tree.objects(kind="ConfigMap", layer="observability"):
        for text in (cm.get("data") or {}).values():
            if "DCGM_" in text:
                exprs += [t["expr"] for panel in json.loads(text).get("panels", []) for t in panel.get("targets", [])
                          if "DCGM_" in t.get("expr", "")]
    for rule in tree.objects(kind="PrometheusRule", layer="observability"):
        exprs += [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if "DCGM_" in r["expr"]]
    return exprs


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_gpu_series_keep_the_workload_labels_the_dashboards_use(rendered, inventory):
    tree = rendered[inventory]
    uses = [e for e in _dcgm_queries(tree)
            if any(re.search(rf"\b{label}\b", e) for label in _DCGM_WORKLOAD_LABELS)]
    assert uses, "no DCGM query groups by the workload's namespace/pod (the per-pod GPU memory panel)"
    (endpoint,) = _monitor(tree, "gpu-dcgm-exporter")["spec"]["endpoints"]
    assert endpoint.get("honorLabels") is True, f"{uses[0]!r} would see the exporter's pod, not the workload's"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_slo_rules_and_alerts_are_present(rendered, inventory):
    rule = rendered[inventory].one("PrometheusRule", "llmaas-slo", layer="observability")
    rules = {r.get("record") or r.get("alert"): r for g in rule["spec"]["groups"] for r in g["rules"]}
    for record in ("llmaas:vllm_time_to_first_token_seconds:p95_rate5m",
                   "llmaas:vllm_inter_token_latency_seconds:p95_rate5m",
                   "llmaas:vllm_e2e_request_latency_seconds:p95_rate5m",
                   "llmaas:vllm_num_requests_waiting:sum",
                   "llmaas:slo_availability_errors:ratio_rate5m", "llmaas:slo_availability_errors:ratio_rate6h"):
        assert record in rules
    fast, slow = rules["LLMaaSErrorBudgetBurnFast"], rules["LLMaaSErrorBudgetBurnSlow"]
    assert "ratio_rate1h > 0.072" in fast["expr"] and "ratio_rate5m > 0.072" in fast["expr"]   # 14.4 x 0.5 %
    assert "ratio_rate6h > 0.03" in slow["expr"] and "ratio_rate30m > 0.03" in slow["expr"]     # 6 x 0.5 %
    assert fast["labels"]["severity"] == "critical"
    # An empty pool is an outage only where models do not scale to zero.
    assert ("LLMaaSInferencePoolEmpty" in rules) == (inventory == "vast")


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_dashboards_are_valid_json_for_the_sidecar(rendered, inventory):
    maps = [cm for cm in rendered[inventory].objects(kind="ConfigMap", layer="observability")
            if cm["metadata"]["name"].startswith("grafana-dashboard-")]
    uids = set()
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = cm["data"].items()
        board = json.loads(text)
        assert key == f"{board['uid']}.json"
        assert board["panels"] and all(p["targets"] for p in board["panels"])
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in board["panels"])
        uids.add(board["uid"])
    assert uids == {"llmaas-serving", "llmaas-routing", "llmaas-tenants", "llmaas-gpu"}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_components_and_alert_routing_default_off(rendered, inventory):
    tree = rendered[inventory]
    kps = tree.one("Application", "kube-prometheus-stack", layer="observability")
    source = kps["spec"]["source"]
    assert (source["chart"], source["targetRevision"]) == ("kube-prometheus-stack", "88.2.0")
    values = source["helm"]["valuesObject"]
    assert values["grafana"]["sidecar"]["dashboards"]["enabled"] is True
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert values["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False
    # alert_routing is false in both inventories: every alert goes to the null receiver.
    config = values["alertmanager"]["config"]
    assert config["route"]["receiver"] == "null" and "routes" not in config["route"]
    assert [r["name"] for r in config["receivers"]] == ["null"]
    opencost = tree.one("Application", "opencost", layer="observability")["spec"]["source"]
    assert opencost["helm"]["valuesObject"]["opencost"]["prometheus"]["internal"]["serviceName"] == (
        "kube-prometheus-stack-prometheus")
    grafana = tree.one("ExternalSecret", "grafana-admin", layer="observability")
    assert grafana["spec"]["data"][0]["remoteRef"]["key"] == "llmaas-grafana-admin-password"


def _inventory_vars(inventory):
    return yaml.safe_load((ROOT / "inventories" / inventory / "group_vars" / "all" / "platform.yml").read_text())


def test_alert_routing_on_sends_alerts_to_the_webhook(tmp_path):
    base = _inventory_vars("gke_l4")
    secrets = base["llmaas_secrets"]
    secrets["remote_keys"]["alertmanager_webhook_url"] = "llmaas-alertmanager-webhook-url"
    out = tmp_path / "tree"
    proc = render("gke_l4", out, extra_vars={"llmaas_features": dict(base["llmaas_features"], alert_routing=True),
                                        "llmaas_secrets": secrets})
    assert proc.returncode == 0, proc.stdout[-3000:]
    tmp_path = out
    app = (tmp_path / "observability" / "application-kube-prometheus-stack.yaml").read_text()
    assert "url_file: /etc/alertmanager/secrets/alertmanager-webhook/url" in app
    es = (tmp_path / "observability" / "externalsecret-alertmanager-webhook.yaml").read_text()
    assert "key: llmaas-alertmanager-webhook-url" in es


@pytest.mark.parametrize("extra, message", [
    ({"observability_slo_objective": "1.5"}, "observability_slo_objective must lie strictly between 0 and 1"),
    ({"observability_slo_objective": "0"}, "observability_slo_objective must lie strictly between 0 and 1"),
    ({"observability_kv_cache_threshold": "1.5"}, "observability_kv_cache_threshold in (0, 1]"),
    ({"observability_latency_alert_for": "ten minutes"}, "Prometheus duration with one unit"),
])
def test_bad_inputs_fail_before_anything_is_written(tmp_path, extra, message):
    assert_refused(render("gke_l4", tmp_path, extra_vars=extra), tmp_path, [message])


def _alert(**overrides):
    return [dict({"name": "fast", "long_window": "1h", "short_window": "5m", "factor": 14.4,
                  "severity": "critical"}, **overrides)]


@pytest.mark.parametrize("alerts, message", [
    (_alert(long_window="1 hour"), "Prometheus duration with one unit"),
    (_alert(long_window="1h30m"), "Prometheus duration with one unit"),
    (_alert(long_window="5m", short_window="1h"), "short_window 1h must be shorter than long_window 5m"),
    (_alert(severity="page"), "severity"),
    (_alert(factor=0), "factor > 0"),
])
def test_bad_burn_rate_alerts_fail_before_anything_is_written(tmp_path, alerts, message):
    out = tmp_path / "tree"
    proc = render("gke_l4", out, extra_vars={"observability_burn_rate_alerts": alerts})
    assert_refused(proc, out, [message])


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_layer_on_its_own_scrapes_what_the_gpu_layer_deploys(tmp_path, rendered, inventory):
    """Without preflight and without the gpu layer in the play, the GPU monitor is still the exporter the gpu layer
    deploys: both read llmaas_contract.gpu.metrics, there is no second table of exporters."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    tree = tmp_path / "tree"
    playbook = tmp_path / "observability.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "observability alone", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Read the pinned versions",
                   "ansible.builtin.include_vars": {"file": str(ROOT / "playbooks/vars/versions.yml")}},
                  {"name": "Layer", "ansible.builtin.import_role": {"name": "llmaas.platform.observability"}}],
    }]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i",
                           str(ROOT / "inventories" / inventory), str(playbook), "-e", f"llmaas_render_dir={tree}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    name = "servicemonitor-gpu-dcgm-exporter.yaml"
    assert (tree / "observability" / name).read_bytes() == (rendered[inventory].path / "observability" / name
                                                            ).read_bytes()
