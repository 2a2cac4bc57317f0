"""controller_network_policies: the NetworkPolicies a layer's chart components bring for their own namespaces."""

from ansible_collections.llmaas.platform.plugins.plugin_utils.network_policies import (
    CONTROLLERS,
    controller_network_policies,
)

NETWORK = {
    "enabled": True,
    "stack_namespaces": ["llm-gateway", "monitoring"],
    "apiserver_cidrs": ["10.0.0.10/32"],
    "prometheus": {"namespace": "monitoring", "pod_labels": {"app.kubernetes.io/name": "prometheus"}},
}


def _names(policies):
    return [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies]


def test_off_renders_nothing():
    assert controller_network_policies([{"name": "keda", "namespace": "keda"}], dict(NETWORK, enabled=False)) == []


def test_one_default_deny_per_namespace_then_the_table_rules():
    policies = controller_network_policies(
        [{"name": "cloudnative-pg", "namespace": "cnpg-system"}, {"name": "cert-manager", "namespace": "cert-manager"}],
        NETWORK)
    assert _names(policies) == [("cnpg-system", "default-deny-ingress"), ("cnpg-system", "cloudnative-pg-webhooks"),
                                ("cert-manager", "default-deny-ingress"), ("cert-manager", "cert-manager-webhook")]
    deny, webhook = policies[0]["spec"], policies[1]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}  # no empty `ingress: []` (the API drops it)
    assert webhook["ingress"] == [{"from": [{"ipBlock": {"cidr": "10.0.0.10/32"}}],
                                   "ports": [{"protocol": "TCP", "port": 9443}]}]


def test_stack_namespaces_crd_only_and_unknown_components_get_none():
    components = [{"name": "kube-prometheus-stack", "namespace": "monitoring"},
                  {"name": "keda", "namespace": "monitoring"},
                  {"name": "agentgateway-crds", "namespace": "agentgateway-system"},
                  {"name": "something-else", "namespace": "other"}]
    assert controller_network_policies(components, NETWORK) == []


def test_sources_prometheus_same_namespace_and_any_namespace():
    keda = controller_network_policies([{"name": "keda", "namespace": "keda"}], NETWORK)
    rules = {p["metadata"]["name"]: p["spec"]["ingress"][0]["from"] for p in keda[1:]}
    assert rules["keda-operator-grpc"] == [{"podSelector": {"matchLabels": {"app": "keda-operator-metrics-apiserver"}}}]
    assert rules["keda-operator-metrics"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "prometheus"}}}]
    xds = controller_network_policies([{"name": "agentgateway", "namespace": "agentgateway-system"}], NETWORK)[1]
    assert xds["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "gateway.networking.k8s.io/gateway-class-name": "agentgateway"}}}]


def test_every_rule_names_pods_and_ports():
    for name, spec in CONTROLLERS.items():
        assert spec["ingress"], name
        for rule in spec["ingress"]:
            assert rule["pods"] and rule["ports"] and all(isinstance(p, int) for p in rule["ports"]), (name, rule)
