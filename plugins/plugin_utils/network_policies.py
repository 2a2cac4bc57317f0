# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkPolicies of the security layer: default-deny per stack namespace plus the allows of docs/network.md.

The budget path is forced here: vLLM (port 8000) accepts traffic only from the inference gateway data plane, the
model's endpoint picker and Prometheus; the inference gateway accepts traffic only from LiteLLM and the benchmark (and
Prometheus on its metrics port). tests/network/ checks every path with network-config-analyzer. The filter
security_network_policies (plugins/filter/security.py) and the layer action (a component's own namespace) build them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
from urllib.parse import urlparse

from ansible.errors import AnsibleFilterError

NS_LABEL = "kubernetes.io/metadata.name"
REDIS_LABELS = {"app.kubernetes.io/component": "gateway-cache"}
LITELLM_PORT = 4000
EPP_GRPC_PORT = 9002
EPP_METRICS_PORT = 9090
PRESIDIO_PORT = 3000
POSTGRES_PORT = 5432
REDIS_PORT = 6379
DEX_PORT = 5556
OAUTH2_PROXY_PORT = 4180


def _ns(name):
    return {"namespaceSelector": {"matchLabels": {NS_LABEL: name}}}


def _pods(namespace, labels=None, expressions=None):
    return dict(_ns(namespace), podSelector=_sel(labels, expressions))


def _cidr(cidr, except_=None):
    try:
        ipaddress.ip_network(str(cidr), strict=False)
    except ValueError as err:
        raise AnsibleFilterError(f"invalid CIDR {cidr!r}: {err}") from err
    block = {"cidr": str(cidr)}
    if except_:
        block["except"] = list(except_)
    return {"ipBlock": block}


def _ports(*ports, protocol="TCP"):
    return [{"protocol": protocol, "port": p} for p in ports]


def _policy(namespace, name, selector, ingress=None, egress=None):
    # An empty rule list denies all, like an omitted one under its policyType; it is omitted because the API server
    # drops empty lists, so a rendered [] never matches the stored object and every re-apply writes a new generation.
    types = []
    spec = {"podSelector": selector}
    if ingress is not None:
        types.append("Ingress")
        if ingress:
            spec["ingress"] = ingress
    if egress is not None:
        types.append("Egress")
        if egress:
            spec["egress"] = egress
    spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "llmaas", "app.kubernetes.io/component": "network-policy"},
        },
        "spec": spec,
    }


def _sel(labels=None, expressions=None):
    selector = {}
    if labels:
        selector["matchLabels"] = dict(labels)
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def _inference_target(url, dataplane_peers):
    """Egress rule from LiteLLM to the inference gateway: an IP (load balancer) or the data plane pods."""
    parsed = urlparse(str(url))
    if not parsed.hostname:
        raise AnsibleFilterError(f"llmaas_inference_url {url!r} has no host")
    try:
        ipaddress.ip_address(parsed.hostname)
    except ValueError:
        # A Service name: NetworkPolicy sees the pods behind it, on their container ports.
        return {"to": dataplane_peers}
    return {"to": [_cidr(f"{parsed.hostname}/32")], "ports": _ports(_inference_port(url))}


def security_network_policies(ctx):
    """All NetworkPolicies of the stack. ctx: namespaces, models, features, inference_url, secrets, settings.

    The paths they open are the rows of tests/network/matrix.yml (also the design document, docs/network.md).
    """
    try:
        ns = ctx["namespaces"]
        models = [m["name"] for m in ctx["models"]]
        features = ctx.get("features") or {}
        settings = ctx["settings"]
        vllm_port = ctx["serving"]["port"]  # llmaas_contract.serving.port: the one definition of vLLM's port
    except (KeyError, TypeError) as err:
        raise AnsibleFilterError(f"security_network_policies: missing input {err}") from err

    stack = sorted({v for k, v in ns.items() if k != "argocd"})
    obs = ns["observability"]
    prometheus = _pods(obs, settings["prometheus_pod_labels"])
    dns = settings["dns"]
    # kube-dns/CoreDNS pods, plus node-local resolvers that are not pods (GKE NodeLocal DNSCache answers on
    # 169.254.20.10, GKE Cloud DNS on the metadata server 169.254.169.254): only an ipBlock can allow those.
    dns_rule = {
        "to": [_pods(dns["namespace"], dns.get("pod_labels") or {})] + [_cidr(c) for c in dns.get("cidrs") or []],
        "ports": _ports(53, protocol="UDP") + _ports(53),
    }
    apiserver_rule = {
        "to": [_cidr(c) for c in settings["apiserver_cidrs"]],
        "ports": _ports(*settings["apiserver_ports"]),
    }

    dataplane_peers = []
    picker_peers = []  # the data plane entries that call the endpoint picker (gateways, not the KEDA interceptor)
    dataplane_pod_groups = []
    for entry in settings["dataplane"] or []:
        peers = [_cidr(c) for c in entry.get("cidrs") or []]
        if entry.get("namespace"):
            peers.insert(0, _pods(entry["namespace"], entry.get("pod_labels") or {}))
            dataplane_pod_groups.append(entry)
        dataplane_peers.extend(peers)
        if entry.get("endpoint_picker", True):
            picker_peers.extend(peers)
    if not dataplane_peers:
        raise AnsibleFilterError("the inference data plane is empty: nothing could reach vLLM")
    pub = settings["public_ingress"]
    public_peers = [_cidr(c) for c in pub.get("cidrs") or []]
    if pub.get("namespace"):
        public_peers.append(_pods(pub["namespace"], pub.get("pod_labels") or {}))

    litellm_labels = {"app.kubernetes.io/name": "litellm"}
    litellm_peer = _pods(ns["gateway"], litellm_labels)
    # vLLM pods: component model-server of one of the inventory's models; endpoint pickers: component endpoint-picker.
    vllm_labels = {"app.kubernetes.io/component": "model-server"}
    vllm_expr = [{"key": "llmaas.platform/model", "operator": "In", "values": sorted(models)}]
    vllm_sel = _sel(vllm_labels, vllm_expr)
    epp_labels = {"app.kubernetes.io/component": "endpoint-picker"}
    epp_sel = _sel(epp_labels)
    sso = bool(features.get("sso"))
    sso_apps = (settings.get("sso_apps") or []) if sso else []
    plat = ns["platform"]

    def sso_proxy_labels(app):
        return {"app.kubernetes.io/name": f"oauth2-proxy-{app['name']}"}

    policies = []
    namespaces = list(stack)
    source_ns = (ctx.get("secrets") or {}).get("source_namespace")
    if (ctx.get("secrets") or {}).get("backend") == "kubernetes" and source_ns:
        namespaces.append(source_ns)
    for namespace in sorted(set(namespaces)):
        # Nothing in, nothing out, unless a later policy says so (policies are additive).
        policies.append(_policy(namespace, "default-deny", {}, ingress=[], egress=[]))
        if namespace == source_ns:
            continue
        policies.append(_policy(namespace, "allow-dns", {}, egress=[dns_rule]))

    # --- serving: vLLM and the endpoint pickers ------------------------------------------------------------
    serving = ns["serving"]
    policies.append(_policy(serving, "vllm-ingress", vllm_sel, ingress=[
        {"from": dataplane_peers, "ports": _ports(vllm_port)},
        {"from": [_pods(serving, epp_labels)], "ports": _ports(vllm_port)},
        {"from": [prometheus], "ports": _ports(vllm_port)},
    ]))
    bench_labels = {"app.kubernetes.io/component": "benchmark"}
    bench_peer = _pods(serving, bench_labels)
    if features.get("benchmark"):
        # The operator's benchmark Job (batch priority, serving namespace) measures the path LiteLLM uses: the
        # inference gateway, its endpoint picker and vLLM (which it wakes from zero); the tokenizer comes from HF.
        policies.append(_policy(serving, "benchmark-egress", _sel(bench_labels), egress=[
            _inference_target(ctx["inference_url"], dataplane_peers),
            {"to": [_cidr(c) for c in settings["model_download_cidrs"]], "ports": _ports(443)},
        ]))
    policies.append(_policy(serving, "vllm-egress", vllm_sel, egress=[
        {"to": [_cidr(c) for c in settings["model_download_cidrs"]], "ports": _ports(443)},
    ]))
    policies.append(_policy(serving, "epp-ingress", epp_sel, ingress=[
        {"from": picker_peers, "ports": _ports(EPP_GRPC_PORT)},
        {"from": [prometheus], "ports": _ports(EPP_METRICS_PORT)},
    ]))
    policies.append(_policy(serving, "epp-egress", epp_sel, egress=[
        {"to": [_pods(serving, vllm_labels, vllm_expr)], "ports": _ports(vllm_port)},
        apiserver_rule,
    ]))

    # --- the inference gateway data plane, where it runs in a stack namespace: only LiteLLM calls it ----------
    for entry in dataplane_pod_groups:
        if not (entry.get("restrict") or entry["namespace"] in stack):
            continue
        dp_sel = _sel(entry.get("pod_labels") or {})
        listen = _inference_port(ctx["inference_url"])
        ingress = [{"from": [litellm_peer] + ([bench_peer] if features.get("benchmark") else []),
                    "ports": _ports(listen)}]
        if entry.get("metrics_port"):
            ingress.append({"from": [prometheus], "ports": _ports(int(entry["metrics_port"]))})
        policies.append(_policy(entry["namespace"], "inference-gateway-ingress", dp_sel, ingress=ingress))
        egress = [
            {"to": [_pods(serving, vllm_labels, vllm_expr)], "ports": _ports(vllm_port)},
            {"to": [_pods(serving, epp_labels)], "ports": _ports(EPP_GRPC_PORT)},
        ]
        if entry.get("control_plane"):
            egress.append(_control_plane_rule(entry["control_plane"]))
        policies.append(_policy(entry["namespace"], "inference-gateway-egress", dp_sel, egress=egress))

    # --- the public edge, where its proxies run in the cluster (agentgateway on Vast) -------------------------
    gw = ns["gateway"]
    solver = settings.get("acme_solver") or {}
    if pub.get("namespace"):
        edge_sel = _sel(pub.get("pod_labels") or {})
        edge_in = [
            # Clients are anywhere: outside addresses, and in-cluster hops such as k3s ServiceLB's svclb pods.
            {"from": [_cidr("0.0.0.0/0"), {"namespaceSelector": {}}], "ports": _ports(*pub["listen_ports"])},
        ]
        if pub.get("metrics_port"):
            edge_in.append({"from": [prometheus], "ports": _ports(int(pub["metrics_port"]))})
        policies.append(_policy(pub["namespace"], "edge-ingress", edge_sel, ingress=edge_in))
        edge_out = [{"to": [litellm_peer], "ports": _ports(LITELLM_PORT)}]
        if sso:
            edge_out.append({"to": [_pods(plat, {"app.kubernetes.io/name": "dex"})], "ports": _ports(DEX_PORT)})
            edge_out.append({"to": [_pods(plat, {"app.kubernetes.io/component": "sso-proxy"})],
                             "ports": _ports(OAUTH2_PROXY_PORT)})
        if solver:
            edge_out.append({"to": [_pods(gw, solver["pod_labels"])], "ports": _ports(int(solver["port"]))})
        if pub.get("control_plane"):
            edge_out.append(_control_plane_rule(pub["control_plane"]))
        policies.append(_policy(pub["namespace"], "edge-egress", edge_sel, egress=edge_out))
    if solver and public_peers:
        # cert-manager's HTTP-01 solver pods answer the ACME challenge that comes in through the edge.
        policies.append(_policy(gw, "acme-solver-ingress", _sel(solver["pod_labels"]), ingress=[
            {"from": public_peers, "ports": _ports(int(solver["port"]))}]))

    # --- gateway: LiteLLM, Postgres, Redis -----------------------------------------------------------------
    litellm_from = [{"from": public_peers, "ports": _ports(LITELLM_PORT)}] if public_peers else []
    litellm_from.append({"from": [prometheus], "ports": _ports(LITELLM_PORT)})
    policies.append(_policy(gw, "litellm-ingress", _sel(litellm_labels), ingress=litellm_from))
    litellm_to = [
        _inference_target(ctx["inference_url"], dataplane_peers),
        {"to": [_pods(gw, expressions=[{"key": "cnpg.io/cluster", "operator": "Exists"}])],
         "ports": _ports(POSTGRES_PORT)},
    ]
    if settings.get("redis"):
        litellm_to.append({"to": [_pods(gw, REDIS_LABELS)], "ports": _ports(REDIS_PORT)})
    if features.get("guardrails"):
        litellm_to.append({"to": [_pods(ns["guardrails"], {"app.kubernetes.io/part-of": "llmaas"})],
                           "ports": _ports(PRESIDIO_PORT)})
    policies.append(_policy(gw, "litellm-egress", _sel(litellm_labels), egress=litellm_to))

    pg_expr = [{"key": "cnpg.io/cluster", "operator": "Exists"}]
    cnpg = settings["cnpg_operator"]
    policies.append(_policy(gw, "postgres", _sel(expressions=pg_expr), ingress=[
        {"from": [_pods(gw, litellm_labels)], "ports": _ports(POSTGRES_PORT)},
        # Replication between instances, and the operator's status probes (instance manager on :8000).
        {"from": [_pods(gw, expressions=pg_expr)], "ports": _ports(POSTGRES_PORT, 8000)},
        {"from": [_pods(cnpg["namespace"], cnpg["pod_labels"])], "ports": _ports(8000)},
        {"from": [prometheus], "ports": _ports(9187)},
    ], egress=[
        {"to": [_pods(gw, expressions=pg_expr)], "ports": _ports(POSTGRES_PORT, 8000)},
        apiserver_rule,
    ]))
    if settings.get("redis"):
        policies.append(_policy(gw, "redis-ingress", _sel(REDIS_LABELS), ingress=[
            {"from": [_pods(gw, litellm_labels)], "ports": _ports(REDIS_PORT)},
        ]))

    # --- observability: Prometheus scrapes everything; KEDA's operator queries it ----------------------------
    obs_in = [{"from": [{"podSelector": {}}]}]
    clients = settings.get("prometheus_clients") or []
    if clients:
        obs_in.append({"from": [_pods(c["namespace"], c["pod_labels"]) for c in clients],
                       "ports": _ports(int(settings["prometheus_port"]))})
    if settings.get("webhook_ports"):
        # The API server calls the Prometheus operator's admission webhook; it is not a pod, only an address.
        policies.append(_policy(obs, "prometheus-operator-webhook", _sel(settings["webhook_pod_labels"]), ingress=[
            {"from": [_cidr(c) for c in settings["apiserver_cidrs"]], "ports": _ports(*settings["webhook_ports"])}]))
    policies.append(_policy(obs, "observability-ingress", {}, ingress=obs_in))
    # Scrape targets live in every namespace and on the nodes; alert receivers are outside the cluster.
    policies.append(_policy(obs, "observability-egress", {}, egress=[{}]))

    # --- platform: Dex and the oauth2-proxies (SSO); each proxy reaches only its own UI ----------------------
    if sso:
        dex_sel = _sel({"app.kubernetes.io/name": "dex"})
        proxy_peer = _pods(plat, {"app.kubernetes.io/component": "sso-proxy"})
        policies.append(_policy(plat, "dex-ingress", dex_sel, ingress=[
            {"from": public_peers + [proxy_peer], "ports": _ports(DEX_PORT)},
            {"from": [prometheus], "ports": _ports(5558)},
        ]))
        # The upstream identity provider (GitHub, Google...) is on the internet.
        policies.append(_policy(plat, "dex-egress", dex_sel, egress=[{"ports": _ports(443)}]))
        proxy_sel = _sel({"app.kubernetes.io/component": "sso-proxy"})
        ingress = [{"from": public_peers, "ports": _ports(OAUTH2_PROXY_PORT)}] if public_peers else []
        ingress.append({"from": [prometheus], "ports": _ports(44180)})
        policies.append(_policy(plat, "sso-proxy-ingress", proxy_sel, ingress=ingress))
        # OIDC discovery and token calls go to the public issuer URL (through the edge) and to Dex.
        policies.append(_policy(plat, "sso-proxy-egress", proxy_sel, egress=[
            {"to": [_pods(plat, {"app.kubernetes.io/name": "dex"})], "ports": _ports(DEX_PORT)},
            {"ports": _ports(443)},
        ]))
        for app in sso_apps:
            proxy = _sel(sso_proxy_labels(app))
            app_peer = _pods(app["namespace"], app.get("pod_labels") or {})
            policies.append(_policy(plat, f"sso-proxy-{app['name']}-egress", proxy, egress=[
                {"to": [app_peer], "ports": _ports(int(app["port"]))}]))
            policies.append(_policy(app["namespace"], f"sso-{app['name']}-ingress",
                                    _sel(app.get("pod_labels") or {}), ingress=[
                {"from": [_pods(plat, sso_proxy_labels(app))], "ports": _ports(int(app["port"]))}]))
    return policies


# --- controller namespaces ------------------------------------------------------------------------------------
# The charts the stack installs in namespaces of their own, by release name (the component's `name`), at the version
# playbooks/vars/versions.yml pins: which of their pods accept connections, from whom, on which ports. Nothing else
# enters those namespaces (default-deny ingress). Sources: "apiserver" (platform_security_apiserver_cidrs: webhooks
# and aggregated APIs), "prometheus" (the observability namespace's Prometheus), {"pods": labels} (pods of the same
# namespace) or {"any_namespace_pods": labels}. Labels and ports are cited in tests/network/upstream_pods.yml (the
# pods) and tests/network/matrix.yml (the paths), `source` says where each port was read (files the search index holds
# at stored commits or as copies, not always tied to the tag); tests/render/test_security_layer.py holds `version` to
# the pin.
# Egress stays open in these namespaces: the controllers call the API server (an address the inventories do not
# know), cert-manager the ACME server and its HTTP-01 self-check, External Secrets the secret manager.
CONTROLLERS = {  # noqa: E122 (the rule lists sit under their entry, not under the opening bracket)
    "external-secrets": {"version": "2.9.0", "source": "external-secrets/external-secrets helm-chart-2.9.0 "
                         "deploy/charts/external-secrets/values.yaml webhook.port 10250 (conversion and validation)",
                         "ingress": [
        {"name": "webhook", "pods": {"app.kubernetes.io/name": "external-secrets-webhook"}, "from": "apiserver",
         "ports": [10250]},
    ]},
    "kyverno": {"version": "3.9.0", "source": "kyverno/kyverno kyverno-chart-3.9.0 charts/kyverno/templates/"
                "{admission,cleanup}-controller/networkpolicy.yaml (9443, 'webhook access')", "ingress": [
        {"name": "admission-webhooks", "pods": {"app.kubernetes.io/component": "admission-controller"},
         "from": "apiserver", "ports": [9443]},
        {"name": "cleanup-webhooks", "pods": {"app.kubernetes.io/component": "cleanup-controller"},
         "from": "apiserver", "ports": [9443]},
    ]},
    "keda": {"version": "2.20.2", "source": "kedacore/charts keda-2.20.2 keda/templates/webhooks/deployment.yaml, "
             "metrics-server/deployment.yaml (--secure-port service.portHttpsTarget 6443, operator :9666), values.yaml",
             "ingress": [
        {"name": "admission-webhooks", "pods": {"app": "keda-admission-webhooks"}, "from": "apiserver",
         "ports": [9443]},
        # the external metrics API (APIService v1beta1.external.metrics.k8s.io) the HPA reads
        {"name": "metrics-apiserver", "pods": {"app": "keda-operator-metrics-apiserver"}, "from": "apiserver",
         "ports": [6443]},
        {"name": "operator-grpc", "pods": {"app": "keda-operator"},
         "from": {"pods": {"app": "keda-operator-metrics-apiserver"}}, "ports": [9666]},
        {"name": "operator-metrics", "pods": {"app": "keda-operator"}, "from": "prometheus", "ports": [8080]},
    ]},
    "kueue": {"version": "0.19.2", "source": "kubernetes-sigs/kueue v0.19.2 charts/kueue/templates/visibility/"
              "service.yaml (targetPort 8082); webhook port 9443 is set in our managerConfig (gpu layer)", "ingress": [
        # webhooks (9443) and the visibility API (APIService v1beta1.visibility.kueue.x-k8s.io, targetPort 8082)
        {"name": "webhooks", "pods": {"control-plane": "controller-manager"}, "from": "apiserver",
         "ports": [9443, 8082]},
    ]},
    "gpu-operator": {"version": "v26.7.0", "source": "NVIDIA/gpu-operator v26.7.0 assets/state-dcgm-exporter/"
                     "0800_daemonset.yaml (:9400); operator metrics 8080 as the matrix row cites", "ingress": [
        {"name": "operator-metrics", "pods": {"app": "gpu-operator"}, "from": "prometheus", "ports": [8080]},
        {"name": "dcgm-exporter-metrics", "pods": {"app": "nvidia-dcgm-exporter"}, "from": "prometheus",
         "ports": [9400]},
    ]},
    "dcgm-exporter": {"version": "4.6.0", "source": "NVIDIA/dcgm-exporter 4.6.0 deployment/templates/daemonset.yaml "
                      "(containerPort service.port, 9400)", "ingress": [
        {"name": "metrics", "pods": {"app.kubernetes.io/name": "dcgm-exporter"}, "from": "prometheus",
         "ports": [9400]},
    ]},
    "agentgateway": {"version": "v1.4.1", "source": "agentgateway/agentgateway v1.4.1 controller/install/helm/"
                     "agentgateway/templates/deployment.yaml (agwGrpc 9978, metrics 9092)", "ingress": [
        # every agentgateway proxy (the Gateways of class agentgateway, in their own namespaces) fetches its xDS
        {"name": "xds", "pods": {"app.kubernetes.io/name": "agentgateway"},
         "from": {"any_namespace_pods": {"gateway.networking.k8s.io/gateway-class-name": "agentgateway"}},
         "ports": [9978]},
        {"name": "metrics", "pods": {"app.kubernetes.io/name": "agentgateway"}, "from": "prometheus",
         "ports": [9092]},
    ]},
    "cloudnative-pg": {"version": "0.29.0", "source": "cloudnative-pg/charts cloudnative-pg-v0.29.0 "
                       "charts/cloudnative-pg/values.yaml webhook.port 9443", "ingress": [
        {"name": "webhooks", "pods": {"app.kubernetes.io/name": "cloudnative-pg"}, "from": "apiserver",
         "ports": [9443]},
    ]},
    "cert-manager": {"version": "v1.21.1", "source": "cert-manager/cert-manager v1.21.1 deploy/charts/cert-manager "
                     "values webhook.securePort 10250", "ingress": [
        {"name": "webhook", "pods": {"app.kubernetes.io/component": "webhook"}, "from": "apiserver",
         "ports": [10250]},
    ]},
}
# Components that bring only CRDs (no pods): nothing to police.
CRDS_ONLY = ("gateway-api-crds", "gie-crds", "agentgateway-crds", "kserve-crd")


def controller_network_policies(components, network):
    """NetworkPolicies for the namespaces of a layer's chart components, rendered with the charts (same layer, after
    them: the namespace exists once the chart's Application or Helm release has run).

    components: the layer action's components; network: llmaas_contract.network. A namespace of the stack (the
    security layer polices it) and a CRD-only or unknown component get none.
    """
    if not network.get("enabled"):
        return []
    stack = set(network["stack_namespaces"])
    prometheus = _pods(network["prometheus"]["namespace"], network["prometheus"]["pod_labels"])
    apiserver = [_cidr(c) for c in network["apiserver_cidrs"]]
    policies, denied = [], set()
    for component in components:
        spec = CONTROLLERS.get(component["name"])
        namespace = component["namespace"]
        if spec is None or namespace in stack:
            continue
        if namespace not in denied:
            denied.add(namespace)
            policies.append(_policy(namespace, "default-deny-ingress", {}, ingress=[]))
        for rule in spec["ingress"]:
            source = rule["from"]
            if source == "apiserver":
                peers = apiserver
            elif source == "prometheus":
                peers = [prometheus]
            elif "pods" in source:
                peers = [{"podSelector": _sel(source["pods"])}]
            else:
                peers = [{"namespaceSelector": {}, "podSelector": _sel(source["any_namespace_pods"])}]
            policies.append(_policy(namespace, f"{component['name']}-{rule['name']}", _sel(rule["pods"]),
                                    ingress=[{"from": peers, "ports": _ports(*rule["ports"])}]))
    return policies


def _control_plane_rule(control_plane):
    """Egress to the controller that serves a proxy its configuration over xDS."""
    return {"to": [_pods(control_plane["namespace"], control_plane.get("pod_labels") or {})],
            "ports": _ports(int(control_plane["port"]))}


def _inference_port(url):
    parsed = urlparse(str(url))
    return parsed.port or (443 if parsed.scheme == "https" else 80)
