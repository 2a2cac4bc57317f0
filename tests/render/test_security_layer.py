"""The security layer in both rendered trees: default-deny everywhere, the forced budget path, restricted Pod
Security with one written exception, ExternalSecrets that resolve, Kyverno policies per flag, and bad inputs."""

import pytest
import yaml
from ansible_collections.llmaas.platform.plugins.plugin_utils.network_policies import CONTROLLERS, CRDS_ONLY
from network.analyzer import upstream_pods

from .conftest import INVENTORIES, ROOT, assert_refused, render
from .security_helpers import (
    load_inventory,
    pod_templates,
    restricted_violations,
    selector_matches,
)

NS_LABEL = "kubernetes.io/metadata.name"


def _stack_namespaces(inventory):
    return sorted({v for k, v in load_inventory(inventory)["llmaas_namespaces"].items() if k != "argocd"})


def _policies_for(tree, namespace, labels, direction):
    """NetworkPolicies in a namespace that select a pod with these labels for a direction."""
    return [p for p in tree.objects(kind="NetworkPolicy", namespace=namespace)
            if direction in p["spec"].get("policyTypes", []) and selector_matches(p["spec"]["podSelector"], labels)]


def _pod_labels(tree, namespace, component):
    found = [t["metadata"]["labels"] for _, ns, _, t in pod_templates(tree)
             if ns == namespace and t["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]
    assert found, f"no {component} pods rendered in {namespace}"
    return found


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_stack_namespace_has_default_deny(rendered, inventory):
    tree = rendered[inventory]
    for namespace in _stack_namespaces(inventory):
        deny = [p for p in tree.objects(kind="NetworkPolicy", name="default-deny", namespace=namespace)]
        assert len(deny) == 1, f"{inventory}: {namespace} has no default-deny"
        spec = deny[0]["spec"]
        assert spec["podSelector"] == {} and sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        assert not spec.get("ingress") and not spec.get("egress"), "default-deny must not allow anything"
        dns = tree.objects(kind="NetworkPolicy", name="allow-dns", namespace=namespace)
        assert dns and {p["port"] for r in dns[0]["spec"]["egress"] for p in r["ports"]} == {53}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_only_the_inference_data_plane_and_prometheus_reach_vllm(rendered, inventory):
    tree = rendered[inventory]
    inv = load_inventory(inventory)
    ns = inv["llmaas_namespaces"]
    for labels in _pod_labels(tree, ns["serving"], "model-server"):
        policies = _policies_for(tree, ns["serving"], labels, "Ingress")
        rules = [r for p in policies for r in p["spec"].get("ingress", [])]
        assert rules, "vLLM pods accept nothing: the stack cannot serve"
        for rule in rules:
            assert [p["port"] for p in rule.get("ports", [])] == [8000], f"vLLM rule opens more than :8000: {rule}"
            for peer in rule["from"]:
                if "ipBlock" in peer:
                    assert inventory == "gke_l4", "only GKE's managed proxies come from a range"
                    assert peer["ipBlock"]["cidr"] != "0.0.0.0/0"
                    continue
                ns_name = peer["namespaceSelector"]["matchLabels"][NS_LABEL]
                pod_sel = peer["podSelector"]
                assert pod_sel, f"a whole namespace may reach vLLM: {peer}"
                # LiteLLM (the budget gate) must never call vLLM directly.
                assert ns_name != ns["gateway"], f"{inventory}: the gateway namespace reaches vLLM directly"
                labels = pod_sel.get("matchLabels", {})
                allowed = (
                    (ns_name == ns["observability"] and labels == {"app.kubernetes.io/name": "prometheus"})
                    or (ns_name == ns["serving"] and labels == {"app.kubernetes.io/component": "endpoint-picker"})
                    or labels == {"gateway.networking.k8s.io/gateway-name": "llmaas-inference"}
                )
                assert allowed, f"{inventory}: unexpected caller of vLLM {peer}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_litellm_is_the_only_client_of_the_inference_gateway(rendered, inventory):
    tree = rendered[inventory]
    ns = load_inventory(inventory)["llmaas_namespaces"]
    litellm = {"app.kubernetes.io/name": "litellm", "app.kubernetes.io/component": "gateway"}
    egress = [r for p in _policies_for(tree, ns["gateway"], litellm, "Egress") for r in p["spec"].get("egress", [])]
    assert egress, "LiteLLM has no egress policy"
    gw_policies = tree.objects(kind="NetworkPolicy", name="inference-gateway-ingress")
    if inventory == "vast":
        assert gw_policies, "the Envoy data plane is not locked down"
        for p in gw_policies:
            peers = [peer for r in p["spec"].get("ingress", []) for peer in r["from"]]
            names = {(peer["namespaceSelector"]["matchLabels"][NS_LABEL],
                      tuple(sorted(peer["podSelector"]["matchLabels"].items()))) for peer in peers}
            # LiteLLM, Prometheus on the metrics port, and the operator's benchmark Job (it measures this route)
            assert names == {(ns["gateway"], (("app.kubernetes.io/name", "litellm"),)),
                             (ns["serving"], (("app.kubernetes.io/component", "benchmark"),)),
                             (ns["observability"], (("app.kubernetes.io/name", "prometheus"),))}
    else:
        # GKE: the inference gateway is a managed internal load balancer at llmaas_inference_url.
        assert any(peer.get("ipBlock", {}).get("cidr") == "10.128.0.50/32" for r in egress for peer in r.get("to", []))


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_network_policy_selectors_select_rendered_pods(rendered, inventory):
    """A policy whose selector matches no pod protects nothing: catch label drift between layers.

    Pods are the rendered workloads' and those charts and controllers make (tests/network/upstream_pods.yml).
    """
    tree = rendered[inventory]
    pods = [(ns, t["metadata"].get("labels")) for _, ns, _, t in pod_templates(tree)]
    pods += [(p["namespace"], p["labels"]) for p in upstream_pods(tree)]
    for policy in tree.objects(kind="NetworkPolicy", layer="security"):
        namespace = policy["metadata"]["namespace"]
        selector = policy["spec"]["podSelector"]
        if not selector or namespace not in _stack_namespaces(inventory):
            continue
        name = policy["metadata"]["name"]
        matched = [labels for ns, labels in pods if ns == namespace and selector_matches(selector, labels)]
        assert matched, f"{inventory}: NetworkPolicy {namespace}/{name} selects no rendered pod"


def _chart_applications(tree):
    """(layer, Application) of every chart component a layer installs (not the app-of-apps' own Applications)."""
    return [(layer, obj) for layer, files in tree.layers.items() if layer != "argocd"
            for name, obj in files.items() if name != "kustomization.yaml" and obj["kind"] == "Application"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_controller_namespace_denies_ingress_in_the_layer_of_its_chart(rendered, inventory):
    """A chart in a namespace of its own brings a default-deny ingress for it in the chart's own layer (where the
    namespace exists by then), and each allow there selects pods that chart makes (tests/network/upstream_pods.yml).
    The paths they open are rows of tests/network/matrix.yml, checked by network-config-analyzer."""
    tree = rendered[inventory]
    stack = set(_stack_namespaces(inventory))
    pods = [(p["namespace"], p["labels"]) for p in upstream_pods(tree)]
    policed = set()
    for layer, app in _chart_applications(tree):
        name, namespace = app["metadata"]["name"], app["spec"]["destination"]["namespace"]
        if namespace in stack or name in CRDS_ONLY:
            continue
        assert name in CONTROLLERS, f"{inventory}: chart {name} ({namespace}) has no entry in security.CONTROLLERS"
        policies = tree.objects(kind="NetworkPolicy", layer=layer, namespace=namespace)
        deny = [p for p in policies if p["metadata"]["name"] == "default-deny-ingress"]
        assert [d["spec"] for d in deny] == [{"podSelector": {}, "policyTypes": ["Ingress"]}], \
            f"{inventory}: {namespace} has no default-deny ingress in layer {layer}"
        for policy in policies:
            selector = policy["spec"]["podSelector"]
            if selector:
                assert [1 for ns, labels in pods if ns == namespace and selector_matches(selector, labels)], \
                    f"{inventory}: NetworkPolicy {namespace}/{policy['metadata']['name']} selects no chart pod"
        policed.add(namespace)
    assert policed >= {"keda", "external-secrets", "kyverno", "cnpg-system", "cert-manager", "kueue-system",
                       "gpu-operator"}, policed
    # and no policy anywhere else (the kubernetes secret backend's source namespace is the stack's too)
    source = load_inventory(inventory)["llmaas_secrets"].get("source_namespace")
    elsewhere = {p["metadata"]["namespace"] for p in tree.objects(kind="NetworkPolicy")} - stack - policed - {source}
    assert not elsewhere, f"{inventory}: NetworkPolicies in namespaces nothing installs: {elsewhere}"


def test_controller_ports_were_read_at_the_pinned_versions():
    """security.CONTROLLERS holds ports and labels read upstream at a chart version: moving the pin in
    playbooks/vars/versions.yml without reading them again fails here."""
    charts = yaml.safe_load((ROOT / "playbooks" / "vars" / "versions.yml").read_text())["llmaas_charts"]
    stale = {name: (spec["version"], str(charts[name.replace("-", "_")]["version"]))
             for name, spec in CONTROLLERS.items() if str(charts[name.replace("-", "_")]["version"]) != spec["version"]}
    assert not stale, f"re-read upstream at the new pins (read at, pinned): {stale}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_workload_fits_restricted_pss_except_the_written_exception(rendered, inventory):
    tree = rendered[inventory]
    # GPU agents and node-exporter need the host (ADR 0010, ADR 0009); each exception namespace says why.
    exceptions = {"gpu-operator", "node-exporter"}
    failures = []
    for kind, namespace, name, template in pod_templates(tree):
        if namespace in exceptions:
            continue
        for problem in restricted_violations(template):
            failures.append(f"{kind} {namespace}/{name}: {problem}")
    assert not failures, f"{inventory}: restricted PSS violations:\n" + "\n".join(failures)
    for namespace in tree.objects(kind="Namespace"):
        name = namespace["metadata"]["name"]
        level = namespace["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce")
        if name in exceptions:
            assert level == "privileged"
            assert namespace["metadata"]["annotations"]["llmaas.platform/pod-security-exception"]
        else:
            assert level == "restricted", f"{inventory}: namespace {name} enforces {level}"


def test_restricted_checker_flags_the_exception_cases():
    ok = {"spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                   "containers": [{"name": "c", "securityContext": {
                       "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}
    assert restricted_violations(ok) == []
    gpu_operator_like = {"spec": {"hostPID": True, "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                                  "containers": [{"name": "driver", "securityContext": {"privileged": True}}]}}
    problems = " ".join(restricted_violations(gpu_operator_like))
    for expected in ("hostPID", "hostPath", "privileged", "runAsNonRoot", "seccompProfile"):
        assert expected in problems


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_external_secrets_name_a_rendered_store(rendered, inventory):
    tree = rendered[inventory]
    stores = {s["metadata"]["name"] for s in tree.objects(kind="ClusterSecretStore")}
    assert stores == {load_inventory(inventory)["llmaas_secrets"]["store"]}
    remote_keys = set(load_inventory(inventory)["llmaas_secrets"]["remote_keys"].values())
    for es in tree.objects(kind="ExternalSecret"):
        ref = es["spec"]["secretStoreRef"]
        assert ref.get("kind") == "ClusterSecretStore" and ref["name"] in stores, f"{es['metadata']['name']}: {ref}"
        for item in es["spec"].get("data", []):
            key = item["remoteRef"]["key"]
            assert key in remote_keys or key.startswith("llmaas-"), f"unknown remote key {key}"


def test_secret_store_per_backend(rendered):
    gke = rendered["gke_l4"].one("ClusterSecretStore", "llmaas")["spec"]["provider"]["gcpsm"]
    assert gke["auth"]["workloadIdentity"]["serviceAccountRef"]["name"] == "llmaas-secret-store"
    sa = rendered["gke_l4"].one("ServiceAccount", "llmaas-secret-store")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    vast = rendered["vast"].one("ClusterSecretStore", "llmaas")["spec"]["provider"]["kubernetes"]
    assert vast["remoteNamespace"] == "llmaas-secrets"
    role = rendered["vast"].one("Role", "llmaas-secret-store")
    assert role["metadata"]["namespace"] == "llmaas-secrets"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
    assert rendered["vast"].one("Namespace", "llmaas-secrets")


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_kyverno_policies_follow_flags_and_profile(rendered, inventory):
    tree = rendered[inventory]
    inv = load_inventory(inventory)
    names = {p["metadata"]["name"] for p in tree.objects(kind="ClusterPolicy")}
    assert names == {"llmaas-gpu-pods-require-kueue", "llmaas-require-non-root", "llmaas-disallow-latest-tag"}
    expected = "Enforce" if inv["llmaas_profile"] == "prod" else "Audit"
    for policy in tree.objects(kind="ClusterPolicy"):
        assert {r["validate"]["failureAction"] for r in policy["spec"]["rules"]} == {expected}
    assert tree.one("Application", "kyverno")["spec"]["source"]["targetRevision"] == "3.9.0"


def test_sso_only_where_the_flag_is_on(rendered):
    assert not rendered["gke_l4"].objects(kind="Deployment", name="dex")
    vast = rendered["vast"]
    dex = vast.one("Deployment", "dex")
    env = {e["name"]: e for e in dex["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert all("valueFrom" in e for e in env.values()), "secrets inline in Dex"
    assert {r["metadata"]["name"] for r in vast.objects(kind="HTTPRoute", layer="security")} == {
        "dex", "litellm-ui", "grafana"}
    assert {e["metadata"]["name"] for e in vast.objects(kind="ExternalSecret", layer="security")} == {
        "dex", "oauth2-proxy"}


def test_flags_off_remove_policies_and_vault_backend(tmp_path):
    inv = load_inventory("vast")
    features = dict(inv["llmaas_features"], kyverno=False, network_policies=False, sso=False, guardrails=False)
    secrets = dict(inv["llmaas_secrets"], backend="vault", vault_server="https://vault.example.com:8200")
    secrets.pop("source_namespace")
    proc = render("vast", tmp_path / "out", extra_vars={"llmaas_features": features, "llmaas_secrets": secrets})
    assert proc.returncode == 0, proc.stdout[-3000:]
    security = tmp_path / "out" / "security"
    files = sorted(p.name for p in security.glob("*.yaml"))
    assert not [f for f in files if f.startswith(("clusterpolicy-", "networkpolicy-", "deployment-"))], files
    assert "application-kyverno.yaml" not in files
    assert "clustersecretstore-llmaas.yaml" in files
    assert "vault:" in (security / "clustersecretstore-llmaas.yaml").read_text()
    assert not list((tmp_path / "out" / "guardrails").glob("deployment-*.yaml"))


BAD_INPUTS = [
    ("source-namespace-shared", "vast",
     {"llmaas_secrets": {"store": "llmaas", "backend": "kubernetes", "source_namespace": "llm-gateway",
                         "remote_keys": {"oauth2_proxy_client_secret": "a", "oauth2_proxy_cookie_secret": "b"}}},
     "not one of the stack's namespaces"),
    ("kyverno-action", "gke_l4", {"platform_security_kyverno_action": "Deny"}, "platform_security_kyverno_action"),
    ("bad-cidr", "gke_l4", {"platform_security_apiserver_cidrs": ["10.0.0.0/33"]}, "platform_security_*_cidrs"),
    ("sso-app-name", "vast",
     {"platform_security_sso_apps": [{"name": "Bad_Name", "host": "x.example.com", "upstream": "http://x:1",
                                      "namespace": "llm-gateway", "port": 1}]}, "platform_security_sso_apps"),
    ("empty-dataplane", "gke_l4", {"platform_security_inference_dataplane": []},
     "platform_security_inference_dataplane"),
]


@pytest.mark.parametrize("case,inventory,overrides,message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_security_inputs_fail_before_the_layer_is_written(tmp_path, case, inventory, overrides, message):
    out = tmp_path / "out"
    assert_refused(render(inventory, out, extra_vars=overrides), out, [message], case)
