"""The routing layer: Gateway per substrate, one InferencePool + endpoint picker + HTTPRoute per model, pool and
vLLM ports in agreement (the picker fails silently otherwise); scale to zero: tests/render/test_scale_to_zero.py."""

import pytest
import yaml

from .conftest import ROOT, Tree, render, assert_refused

INVENTORY = {
    name: yaml.safe_load((ROOT / f"inventories/{name}/group_vars/all/platform.yml").read_text())
    for name in ("gke_l4", "vast")
}
BOTH = ["gke_l4", "vast"]


@pytest.mark.parametrize("inventory", BOTH)
def test_pool_target_port_equals_vllm_container_port(rendered, inventory):
    tree = rendered[inventory]
    for m in INVENTORY[inventory]["llmaas_models"]:
        pool = tree.one("InferencePool", m["name"], layer="routing")
        dep = tree.one("Deployment", f"vllm-{m['name']}", layer="serving")
        ports = {p["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert [p["number"] for p in pool["spec"]["targetPorts"]] == [8000]
        assert {p["number"] for p in pool["spec"]["targetPorts"]} <= ports
        # the pool selects exactly the vLLM pods of this model
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert set(pool["spec"]["selector"]["matchLabels"].items()) <= set(pod_labels.items())
        assert pool["spec"]["selector"]["matchLabels"]["llmaas.platform/model"] == m["name"]
        assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
        assert pool["metadata"]["namespace"] == INVENTORY[inventory]["llmaas_namespaces"]["serving"]


@pytest.mark.parametrize("inventory", BOTH)
def test_endpoint_picker_per_model(rendered, inventory):
    tree = rendered[inventory]
    ns = INVENTORY[inventory]["llmaas_namespaces"]["serving"]
    for m in INVENTORY[inventory]["llmaas_models"]:
        epp = f"{m['name']}-epp"
        pool = tree.one("InferencePool", m["name"], layer="routing")
        assert pool["spec"]["endpointPickerRef"]["name"] == epp
        assert pool["spec"]["endpointPickerRef"]["port"] == {"number": 9002}
        dep = tree.one("Deployment", epp, layer="routing")
        spec = dep["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == epp
        (container,) = spec["containers"]
        args = container["args"]
        assert args[args.index("--pool-name") + 1] == m["name"]
        assert args[args.index("--pool-namespace") + 1] == ns
        assert args[args.index("--grpc-port") + 1] == "9002"
        assert args[args.index("--grpc-health-port") + 1] == "9003"
        assert args[args.index("--metrics-port") + 1] == "9090"
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
            "grpc": 9002, "grpc-health": 9003, "metrics": 9090}
        health = "readiness" if dep["spec"]["replicas"] > 1 else "inference-extension"
        assert container["readinessProbe"]["grpc"] == {"port": 9003, "service": health}
        assert container["image"].startswith("registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0")
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert "requests" in container["resources"] and "limits" in container["resources"]
        svc = tree.one("Service", epp, layer="routing")
        assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"grpc": 9002, "metrics": 9090}
        role = tree.one("Role", epp, layer="routing")
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert {"pods", "inferencepools", "inferenceobjectives"} <= resources
        binding = tree.one("RoleBinding", epp, layer="routing")
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": epp, "namespace": ns}]
        tree.one("ServiceAccount", epp, layer="routing")


@pytest.mark.parametrize("inventory", BOTH)
def test_inference_objective_per_tier(rendered, inventory):
    tree = rendered[inventory]
    for m in INVENTORY[inventory]["llmaas_models"]:
        objectives = [o for o in tree.objects(kind="InferenceObjective", layer="routing")
                      if o["spec"]["poolRef"]["name"] == m["name"]]
        assert sorted(o["metadata"]["name"] for o in objectives) == sorted(f"{m['name']}-{t}" for t in m["tiers"])
        assert all(o["apiVersion"] == "inference.networking.x-k8s.io/v1alpha2" for o in objectives)
        by_tier = {o["metadata"]["labels"]["llmaas.platform/tier"]: o["spec"]["priority"] for o in objectives}
        assert by_tier["fim"] > by_tier["chat"] > by_tier["agent"], "autocompletion is the most latency-sensitive"


# Feature gates the EPP registers at GIE v1.5.0 (cmd/epp/runner/runner.go parseConfigurationPhaseOne;
# pkg/epp/flowcontrol/config.go FeatureGate, pkg/epp/datalayer/factory.go); an unknown one stops it at start
# (pkg/epp/config/loader/validation.go validateFeatureGates).
EPP_FEATURE_GATES = {"flowControl", "dataLayer", "enableLegacyMetrics"}


@pytest.mark.parametrize("inventory", BOTH)
def test_tier_priorities_reach_a_picker_that_orders_by_them(rendered, inventory):
    """GIE v1.5.0 orders requests by InferenceObjective priority only in its flow control layer (feature gate
    flowControl, read from the config's featureGates); otherwise the legacy admission controller only sheds
    priority < 0, and fim/chat/agent are served alike."""
    tree = rendered[inventory]
    for pool in tree.objects(kind="InferencePool", layer="routing"):
        name = pool["metadata"]["name"]
        priorities = {o["spec"]["priority"] for o in tree.objects(kind="InferenceObjective", layer="routing")
                      if o["spec"]["poolRef"]["name"] == name}
        if len(priorities) < 2:
            continue
        picker = pool["spec"]["endpointPickerRef"]["name"]
        dep = tree.one("Deployment", picker, layer="routing")
        config_map = next(v["configMap"]["name"] for v in dep["spec"]["template"]["spec"]["volumes"]
                          if "configMap" in v)
        config = yaml.safe_load(tree.one("ConfigMap", config_map, layer="routing")["data"]["config.yaml"])
        gates = config.get("featureGates") or []
        assert "flowControl" in gates, f"{name}: priorities {sorted(priorities)} without flow control order nothing"
        unknown = set(gates) - EPP_FEATURE_GATES
        assert not unknown, f"{name}: the EPP refuses unknown feature gates {unknown}"


@pytest.mark.parametrize("inventory", BOTH)
def test_a_fail_close_pool_survives_a_picker_restart_in_prod(rendered, inventory):
    """FailClose with one picker makes every picker restart an outage: the prod profile runs upstream's HA form."""
    tree = rendered[inventory]
    prod = INVENTORY[inventory]["llmaas_profile"] == "prod"
    for pool in tree.objects(kind="InferencePool", layer="routing"):
        picker = pool["spec"]["endpointPickerRef"]["name"]
        dep = tree.one("Deployment", picker, layer="routing")
        replicas = dep["spec"]["replicas"]
        if not prod:
            assert replicas == 1
            continue
        assert pool["spec"]["endpointPickerRef"].get("failureMode", "FailClose") == "FailClose"
        assert replicas >= 2
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert "--ha-enable-leader-election" in container["args"]
        assert container["readinessProbe"]["grpc"]["service"] == "readiness", "only the leader may be Ready"
        assert container["livenessProbe"]["grpc"]["service"] == "liveness"
        assert dep["spec"]["strategy"] == {"type": "Recreate"}
        # controller-runtime's lease lock gets, creates and updates a Lease in the pool's namespace
        role = tree.one("Role", dep["spec"]["template"]["spec"]["serviceAccountName"], layer="routing")
        assert role["metadata"]["namespace"] == pool["metadata"]["namespace"]
        lease_verbs = {v for r in role["rules"] if "leases" in r["resources"]
                       and "coordination.k8s.io" in r["apiGroups"] for v in r["verbs"]}
        assert {"get", "create", "update"} <= lease_verbs


def test_gateway_per_substrate(rendered):
    gke = rendered["gke_l4"].one("Gateway", "llmaas-inference", layer="routing")
    assert gke["metadata"]["namespace"] == "llm-routing"
    assert gke["spec"]["gatewayClassName"] == "gke-l7-rilb"
    assert gke["spec"]["addresses"] == [{"type": "IPAddress", "value": "10.128.0.50"}]
    vast_tree = rendered["vast"]
    vast = vast_tree.one("Gateway", "llmaas-inference", layer="routing")
    assert vast["spec"]["gatewayClassName"] == "agentgateway"
    assert "addresses" not in vast["spec"]
    params_ref = vast["spec"]["infrastructure"]["parametersRef"]
    params = vast_tree.one("AgentgatewayParameters", params_ref["name"], layer="routing")
    assert params["spec"]["deployment"]["spec"]["replicas"] == 2
    assert params["spec"]["podDisruptionBudget"]["spec"]["minAvailable"] == 1
    # llmaas_inference_url on vast is http://<Gateway name>.<routing namespace>.svc.cluster.local
    host = INVENTORY["vast"]["llmaas_inference_url"].split("//")[1].split(".")[0]
    assert host == vast["metadata"]["name"]
    apps = {a["metadata"]["name"]: a for a in vast_tree.objects(kind="Application", layer="routing")}
    assert {"gie-crds", "agentgateway-crds", "agentgateway"} <= set(apps)
    assert apps["agentgateway"]["spec"]["source"]["helm"]["valuesObject"] == {"inferenceExtension": {"enabled": True}}
    assert apps["gie-crds"]["spec"]["source"]["path"] == "config/crd"
    assert not rendered["gke_l4"].objects(kind="GatewayClass")
    assert "agentgateway" not in {a["metadata"]["name"] for a in rendered["gke_l4"].objects(kind="Application")}


def test_vast_routes_go_to_the_pool(rendered):
    for m in INVENTORY["vast"]["llmaas_models"]:
        route = rendered["vast"].one("HTTPRoute", m["name"], layer="routing")
        (rule,) = route["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": f"/{m['name']}"}}]
        assert rule["filters"] == [{"type": "URLRewrite", "urlRewrite": {
            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}]
        assert rule["backendRefs"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                        "name": m["name"]}]
        assert route["spec"]["parentRefs"][0]["name"] == "llmaas-inference"
        assert route["spec"]["parentRefs"][0]["namespace"] == "llm-routing"


def test_gke_without_scale_to_zero_routes_to_the_pool(tmp_path):
    features = dict(INVENTORY["gke_l4"]["llmaas_features"], scale_to_zero=False)
    proc = render("gke_l4", tmp_path, extra_vars={"llmaas_features": features})
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(tmp_path)
    (rule,) = tree.one("HTTPRoute", "qwen-coder")["spec"]["rules"]
    assert rule["backendRefs"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                    "name": "qwen-coder"}]
    assert "hostname" not in rule["filters"][0]["urlRewrite"]
    assert not tree.objects(kind="ReferenceGrant") and not tree.objects(kind="HTTPScaledObject")
    assert tree.one("ScaledObject", "vllm-qwen-coder")["spec"]["minReplicaCount"] == 1


@pytest.mark.parametrize("inventory", BOTH)
def test_gateway_admits_only_the_serving_namespace(rendered, inventory):
    gw = rendered[inventory].one("Gateway", "llmaas-inference", layer="routing")
    (listener,) = gw["spec"]["listeners"]
    assert listener["protocol"] == "HTTP" and listener["port"] == 80
    assert listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": INVENTORY[inventory]["llmaas_namespaces"]["serving"]}


BAD = {
    "pool port differs from the vLLM port": (
        "gke_l4", {"inference_routing_target_port": 9000}, ["inference_routing_target_port", "vllm_serving_port"]),
    "unknown failure mode": ("gke_l4", {"inference_routing_failure_mode": "Retry"},
                             ["inference_routing_failure_mode", "FailClose", "FailOpen"]),
    "inference URL with a path": ("gke_l4", {"llmaas_inference_url": "http://10.0.0.1/v1"},
                                  ["llmaas_inference_url", "without a path"]),
    "vast URL not the proxy Service": ("vast", {"llmaas_inference_url": "http://gateway.example.com"},
                                       ["llmaas_inference_url", "llmaas-inference.llm-routing.svc.cluster.local"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_routing_input_fails_before_the_routing_layer_is_written(tmp_path, case):
    inventory, extra, words = BAD[case]
    out = tmp_path / "tree"
    assert_refused(render(inventory, out, extra_vars=extra), out, words, case)
