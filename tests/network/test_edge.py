"""The public edge keeps its promises: every route is accepted by a listener that serves its hosts (Gateway API
attachment and hostname matching), every TLS Secret a listener names is issued for its hosts, the SSO proxies'
upstreams are Services that exist (rendered, or made by a chart as cited in upstream_pods.yml), and no route
forwards /metrics."""

from urllib.parse import urlparse

import pytest

from render.conftest import INVENTORIES
from render.security_helpers import pod_templates, selector_matches

from .analyzer import upstream_pods, upstream_services

GATEWAY_GROUP = "gateway.networking.k8s.io"


def _host_matches(pattern, host):
    """Gateway API hostname matching: exact, or a leading '*.' label matching one or more labels."""
    if pattern is None:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return pattern == host


def _intersects(listener_host, route_host):
    if listener_host is None:
        return True
    if route_host.startswith("*.") and not listener_host.startswith("*."):
        return _host_matches(route_host, listener_host)
    return _host_matches(listener_host, route_host) or listener_host == route_host


def _admits_namespace(listener, gateway_ns, route_ns):
    namespaces = (listener.get("allowedRoutes") or {}).get("namespaces") or {}
    origin = namespaces.get("from", "Same")
    if origin == "All":
        return True
    if origin == "Same":
        return route_ns == gateway_ns
    # Selector: the API server labels every namespace kubernetes.io/metadata.name=<name>.
    return selector_matches(namespaces.get("selector") or {}, {"kubernetes.io/metadata.name": route_ns})


def _admits_kind(listener, kind):
    kinds = (listener.get("allowedRoutes") or {}).get("kinds")
    if kinds:
        return any(k["kind"] == kind and k.get("group", GATEWAY_GROUP) == GATEWAY_GROUP for k in kinds)
    return listener["protocol"] in ("HTTP", "HTTPS") if kind == "HTTPRoute" else True


def accepting_listeners(tree, route):
    """(gateway, listener) pairs that accept the route, per its parentRefs."""
    route_ns = route["metadata"]["namespace"]
    out = []
    for ref in route["spec"].get("parentRefs") or []:
        if ref.get("kind", "Gateway") != "Gateway":
            continue
        gw_ns = ref.get("namespace", route_ns)
        gateways = [g for g in tree.objects(kind="Gateway", name=ref["name"]) if g["metadata"]["namespace"] == gw_ns]
        for gateway in gateways:
            for listener in gateway["spec"]["listeners"]:
                if ref.get("sectionName") and ref["sectionName"] != listener["name"]:
                    continue
                if ref.get("port") and ref["port"] != listener["port"]:
                    continue
                if not (_admits_namespace(listener, gw_ns, route_ns) and _admits_kind(listener, route["kind"])):
                    continue
                hosts = route["spec"].get("hostnames") or []
                if hosts and not any(_intersects(listener.get("hostname"), h) for h in hosts):
                    continue
                out.append((gateway, listener))
    return out


def _routes(tree):
    return [r for r in tree.objects(kind="HTTPRoute") if r["spec"].get("parentRefs")]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_route_host_is_served_by_a_listener_of_its_parent(rendered, inventory):
    tree = rendered[inventory]
    failures = []
    for route in _routes(tree):
        name = f"{route['metadata']['namespace']}/{route['metadata']['name']}"
        listeners = accepting_listeners(tree, route)
        if not listeners:
            failures.append(f"{name}: no listener of its parent accepts it")
            continue
        for host in route["spec"].get("hostnames") or []:
            if not any(_intersects(listener.get("hostname"), host) for _, listener in listeners):
                failures.append(f"{name}: host {host} matches no accepting listener")
    assert not failures, f"{inventory}:\n" + "\n".join(failures)


def test_hostname_matching_follows_gateway_api():
    assert _host_matches("*.example.com", "ui.example.com")
    assert _host_matches("*.example.com", "a.b.example.com")
    assert not _host_matches("*.example.com", "example.com")
    assert not _host_matches("sso.example.com", "ui.example.com")
    listener = {"name": "sso", "protocol": "HTTPS", "port": 443, "hostname": "sso.example.com",
                "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "platform"}}}}}

    class OneGateway:
        def objects(self, kind=None, name=None, **_):
            return [{"metadata": {"name": "edge", "namespace": "gw"}, "spec": {"listeners": [listener]}}]

    def route(host, ns="platform"):
        return {"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": ns},
                "spec": {"parentRefs": [{"name": "edge", "namespace": "gw"}], "hostnames": [host]}}

    assert accepting_listeners(OneGateway(), route("sso.example.com"))
    assert not accepting_listeners(OneGateway(), route("ui.example.com")), "a host no listener names was accepted"
    assert not accepting_listeners(OneGateway(), route("sso.example.com", ns="other")), "namespace not admitted"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_tls_secret_of_a_listener_is_issued_for_its_hosts(rendered, inventory):
    tree = rendered[inventory]
    certificates = {(c["metadata"]["namespace"], c["spec"]["secretName"]): c for c in tree.objects(kind="Certificate")}
    issuers = {i["metadata"]["name"]: i for i in tree.objects(kind="ClusterIssuer")}
    failures = []
    for gateway in tree.objects(kind="Gateway"):
        gw_ns = gateway["metadata"]["namespace"]
        for listener in gateway["spec"]["listeners"]:
            for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
                cert = certificates.get((ref.get("namespace", gw_ns), ref["name"]))
                if cert is None:
                    failures.append(f"{gateway['metadata']['name']}/{listener['name']}: nothing issues {ref['name']}")
                    continue
                if listener.get("hostname") and listener["hostname"] not in cert["spec"]["dnsNames"]:
                    failures.append(f"{listener['name']}: {listener['hostname']} not on certificate {ref['name']}")
                issuer = issuers.get(cert["spec"]["issuerRef"]["name"])
                if issuer is None:
                    failures.append(f"certificate {ref['name']}: issuer {cert['spec']['issuerRef']['name']} missing")
                    continue
                for solver in issuer["spec"]["acme"]["solvers"]:
                    for parent in solver["http01"]["gatewayHTTPRoute"]["parentRefs"]:
                        # cert-manager creates the solver HTTPRoute in the Certificate's namespace.
                        probe = {"kind": "HTTPRoute", "metadata": {"name": "solver", "namespace": gw_ns},
                                 "spec": {"parentRefs": [parent], "hostnames": cert["spec"]["dnsNames"]}}
                        plain = [li for _, li in accepting_listeners(tree, probe)
                                 if li["protocol"] == "HTTP" and li["port"] == 80]
                        if not plain:
                            failures.append(f"issuer {issuer['metadata']['name']}: no port-80 listener takes HTTP-01")
    assert not failures, f"{inventory}:\n" + "\n".join(failures)
    assert tree.objects(kind="Application", name="cert-manager"), "cert-manager is not installed"


def _services(tree):
    rendered_services = [{"name": s["metadata"]["name"], "namespace": s["metadata"]["namespace"],
                          "selector": s["spec"].get("selector") or {},
                          "ports": [{"port": p["port"], "targetPort": p.get("targetPort", p["port"])}
                                    for p in s["spec"]["ports"]]} for s in tree.objects(kind="Service")]
    return rendered_services + upstream_services(tree)


def _pod_labels(tree):
    labels = [(ns, t["metadata"].get("labels") or {}) for _, ns, _, t in pod_templates(tree)]
    return labels + [(p["namespace"], p["labels"]) for p in upstream_pods(tree)]


@pytest.mark.parametrize("inventory", ["vast"])
def test_sso_upstreams_are_services_that_reach_the_protected_pods(rendered, inventory):
    tree = rendered[inventory]
    services = _services(tree)
    pods = _pod_labels(tree)
    failures = []
    for proxy in tree.objects(kind="Deployment", layer="security"):
        if proxy["metadata"]["labels"].get("app.kubernetes.io/component") != "sso-proxy":
            continue
        args = proxy["spec"]["template"]["spec"]["containers"][0]["args"]
        upstream = next(a.split("=", 1)[1] for a in args if a.startswith("--upstream="))
        url = urlparse(upstream)
        name, namespace = url.hostname.split(".")[:2]
        service = next((s for s in services if s["name"] == name and s["namespace"] == namespace), None)
        if service is None:
            failures.append(f"{proxy['metadata']['name']}: upstream {upstream} names no Service")
            continue
        port = next((p for p in service["ports"] if p["port"] == (url.port or 80)), None)
        if port is None:
            failures.append(f"{proxy['metadata']['name']}: {name} has no port {url.port}")
            continue
        if not any(ns == namespace and selector_matches({"matchLabels": service["selector"]}, labels)
                   for ns, labels in pods):
            failures.append(f"{proxy['metadata']['name']}: Service {name} selects no pod")
    assert not failures, "\n".join(failures)


def _segments(path):
    return [s for s in path.split("?")[0].split("/") if s]


def _winning_rule(route, path):
    """The rule of one route that takes a request path: Exact beats PathPrefix, longer prefixes first, then order."""
    best, best_rank = None, None
    for index, rule in enumerate(route["spec"].get("rules") or []):
        for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
            spec = match.get("path") or {"type": "PathPrefix", "value": "/"}
            value = spec["value"]
            if spec["type"] == "Exact":
                hit, rank = path.split("?")[0] == value, (2, len(value), -index)
            elif spec["type"] == "PathPrefix":
                prefix = _segments(value)
                hit, rank = _segments(path)[:len(prefix)] == prefix, (1, len(value), -index)
            else:
                raise AssertionError(f"unhandled path match {spec['type']}")
            if hit and (best_rank is None or rank > best_rank):
                best, best_rank = rule, rank
    return best


METRICS_PATHS = ["/metrics", "/metrics/", "/metrics?name[]=litellm_spend_metric_total", "/metrics/extra"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_no_route_of_the_edge_forwards_metrics(rendered, inventory):
    tree = rendered[inventory]
    exposed = []
    for route in _routes(tree):  # attached or not: a route that fails to attach today may attach tomorrow
        for path in METRICS_PATHS:
            rule = _winning_rule(route, path)
            if rule and rule.get("backendRefs"):
                exposed.append(f"{route['metadata']['name']}: {path} -> {rule['backendRefs'][0]['name']}")
        # The block must not shadow the route: each forwarding rule still takes its own paths.
        for rule in route["spec"]["rules"]:
            for match in rule.get("matches") or []:
                if rule.get("backendRefs") and match.get("path"):
                    assert _winning_rule(route, match["path"]["value"]) is rule, f"{route['metadata']['name']}"
    assert not exposed, f"{inventory}: /metrics is routed:\n" + "\n".join(exposed)


def test_path_precedence_picks_the_longest_prefix():
    route = {"spec": {"rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "ui"}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/metrics"}}]},
    ]}}
    assert _winning_rule(route, "/metrics/x").get("backendRefs") is None
    assert _winning_rule(route, "/metricsx")["backendRefs"] == [{"name": "ui"}]
    assert _winning_rule(route, "/ui")["backendRefs"] == [{"name": "ui"}]
    assert _winning_rule({"spec": {"rules": [{"backendRefs": [{"name": "ui"}]}]}}, "/metrics")["backendRefs"]
