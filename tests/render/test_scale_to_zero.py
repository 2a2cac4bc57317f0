"""Scale to zero keeps inference-aware routing: the promise across the routing, serving and observability layers.

- Every model's HTTPRoute sends /<model> to the model's InferencePool in every profile, scale to zero included, so
  the endpoint picker (and its objectives and flow control) is always on the path (ADR 0006).
- The picker holds a request it cannot place (flowControl gate; an empty pool counts as saturated) for at most
  inference_routing_queue_ttl, below the GKE backend timeout, then answers 503.
- The ScaledObject scales the vLLM Deployment from 0 on the picker's own flow-control queue gauge: the metric is in
  the catalogue of what the pinned EPP exports, the query selects the series the ServiceMonitor scrapes from the
  pool's picker, and real promtool evaluates the query on such series (1 queued request -> above the activation
  threshold 0; an empty queue -> not).
"""

import shutil
import subprocess

import pytest
import yaml

from .conftest import ROOT, assert_refused, render

INVENTORY = {
    name: yaml.safe_load((ROOT / "inventories" / name / "group_vars" / "all" / "platform.yml").read_text())
    for name in ("gke_l4", "vast")
}
CATALOGUE = yaml.safe_load((ROOT / "tests" / "observability" / "metrics_catalogue.yml").read_text())["metrics"]
QUEUE_METRIC = "inference_extension_flow_control_queue_size"


def _epp_config(tree, model):
    cm = tree.one("ConfigMap", f"{model}-epp", layer="routing")
    return yaml.safe_load(cm["data"]["config.yaml"])


def _queue_trigger(so):
    triggers = [t for t in so["spec"]["triggers"] if t["type"] == "prometheus" and QUEUE_METRIC in
                t["metadata"]["query"]]
    assert len(triggers) == 1, f"{so['metadata']['name']}: no trigger on the picker's flow-control queue"
    return triggers[0]["metadata"]


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_every_model_route_goes_to_its_inference_pool(rendered, inventory):
    tree = rendered[inventory]
    for m in INVENTORY[inventory]["llmaas_models"]:
        (rule,) = tree.one("HTTPRoute", m["name"], layer="routing")["spec"]["rules"]
        assert rule["backendRefs"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                        "name": m["name"]}]
        assert "hostname" not in rule["filters"][0]["urlRewrite"]
    assert not tree.objects(kind="HTTPScaledObject") and not tree.objects(kind="ReferenceGrant")
    assert "keda-add-ons-http" not in {a["metadata"]["name"] for a in tree.objects(kind="Application")}


def test_gke_profile_is_the_scale_to_zero_one():
    """The promise below is only exercised if an inventory scales to zero: gke_l4 does."""
    assert INVENTORY["gke_l4"]["llmaas_features"]["scale_to_zero"] is True


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_the_picker_holds_requests_then_answers(rendered, inventory):
    tree = rendered[inventory]
    for m in INVENTORY[inventory]["llmaas_models"]:
        config = _epp_config(tree, m["name"])
        assert "flowControl" in config["featureGates"], "without the gate nothing queues: an empty pool fails fast"
        ttl = int(config["flowControl"]["defaultRequestTTL"].removesuffix("s"))
        assert ttl > 0, "an unbounded queue would hang the client"
        for policy in tree.objects(kind="GCPBackendPolicy", layer="routing"):
            assert ttl < policy["spec"]["default"]["timeoutSec"], "the load balancer would give up first"


def test_scaled_object_wakes_the_model_on_the_pickers_queue(rendered):
    tree = rendered["gke_l4"]
    for m in INVENTORY["gke_l4"]["llmaas_models"]:
        so = tree.one("ScaledObject", f"vllm-{m['name']}", layer="serving")
        assert so["spec"]["minReplicaCount"] == 0
        target = so["spec"]["scaleTargetRef"]
        deployment = tree.one("Deployment", target["name"], layer="serving")
        assert target["kind"] == "Deployment" and deployment["metadata"]["name"] == f"vllm-{m['name']}"
        trigger = _queue_trigger(so)
        assert CATALOGUE[QUEUE_METRIC]["component"] == "gie_epp", "the metric must be one the pinned EPP exports"
        assert float(trigger["activationThreshold"]) == 0
        # the series come from the picker of this model's pool, scraped through its Service
        pool = tree.one("InferencePool", m["name"], layer="routing")
        picker = pool["spec"]["endpointPickerRef"]["name"]
        monitors = [s for s in tree.objects(kind="ServiceMonitor", layer="observability")
                    if any(r.get("regex") == picker for e in s["spec"]["endpoints"] for r in e.get("relabelings", []))]
        assert monitors, f"nothing scrapes the picker Service {picker}: KEDA would read no series"
        assert f'service="{picker}"' in trigger["query"]
        assert f'namespace="{so["metadata"]["namespace"]}"' in trigger["query"]


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if not path:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    return path


def test_promtool_evaluates_the_wake_up_query(rendered, promtool, tmp_path):
    """Real PromQL evaluation of the rendered query over series shaped like a scrape of the picker."""
    tree = rendered["gke_l4"]
    m = INVENTORY["gke_l4"]["llmaas_models"][0]
    so = tree.one("ScaledObject", f"vllm-{m['name']}", layer="serving")
    trigger = _queue_trigger(so)
    ns = so["metadata"]["namespace"]
    picker = tree.one("InferencePool", m["name"], layer="routing")["spec"]["endpointPickerRef"]["name"]
    target = f'namespace="{ns}",service="{picker}",pod="{picker}-0",job="{picker}",endpoint="metrics"'
    other = f'namespace="{ns}",service="other-epp",pod="other-epp-0",job="other-epp",endpoint="metrics"'
    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [
        {"interval": "1m",
         "input_series": [
             {"series": f'{QUEUE_METRIC}{{{target},fairness_id="",priority="50"}}', "values": "0 1 1"},
             {"series": f'{QUEUE_METRIC}{{{other},fairness_id="",priority="50"}}', "values": "5 5 5"},
         ],
         "promql_expr_test": [
             {"expr": trigger["query"], "eval_time": "0m", "exp_samples": [{"labels": "{}", "value": 0}]},
             {"expr": trigger["query"], "eval_time": "2m", "exp_samples": [{"labels": "{}", "value": 1}]},
         ]},
    ]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 1 held request is above the activation threshold 0, an empty queue is not: KEDA wakes exactly on demand
    assert 1 > float(trigger["activationThreshold"]) >= 0


def test_a_queue_ttl_the_load_balancer_outlasts_is_refused(tmp_path):
    proc = render("gke_l4", tmp_path / "tree", extra_vars={"inference_routing_queue_ttl": 900})
    assert_refused(proc, tmp_path / "tree", ["inference_routing_queue_ttl", "got 900"])


def test_the_http_add_on_settings_are_refused_as_retired(tmp_path):
    proc = render("gke_l4", tmp_path / "tree", extra_vars={"vllm_serving_http_add_on": {"namespace": "keda"}})
    assert_refused(proc, tmp_path / "tree", ["vllm_serving_http_add_on", "no longer read"])
