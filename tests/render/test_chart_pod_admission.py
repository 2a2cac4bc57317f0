"""Pods that charts and controllers make, admitted at their namespace's Pod Security level.

Our own Deployments are checked by the real API server (tests/controlplane). The pods a chart or a controller makes
are not in the rendered tree: tests/admission/chart_pods.yml keeps their security fields as cited at the pinned
version, this test applies what we render on top (AgentgatewayParameters overlays by strategic merge patch, Helm
values, the namespace a value chooses), and tests/admission/psa evaluates each pod with the real
k8s.io/pod-security-admission library at the level its namespace enforces.
"""

import copy
import json
import shutil
import subprocess

import pytest
import yaml

from .conftest import INVENTORIES, ROOT

ADMISSION = ROOT / "tests" / "admission"
CITED = yaml.safe_load((ADMISSION / "chart_pods.yml").read_text())["components"]
VERSIONS = yaml.safe_load((ROOT / "playbooks" / "vars" / "versions.yml").read_text())
EXCEPTION = "llmaas.platform/pod-security-exception"


@pytest.fixture(scope="session")
def psa(tmp_path_factory):
    """The evaluator binary, built from tests/admission/psa (Go module cache and proxy)."""
    go = shutil.which("go")
    if not go:
        pytest.skip("Go is needed to build the Pod Security evaluator (tests/admission/psa)")
    out = tmp_path_factory.mktemp("psa") / "psa"
    proc = subprocess.run([go, "build", "-o", str(out), "."], cwd=ADMISSION / "psa", capture_output=True, text=True,
                          timeout=1200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def evaluate(pods):
        run = subprocess.run([str(out)], input=json.dumps(pods), capture_output=True, text=True, timeout=120,
                             check=False)
        assert run.returncode == 0, run.stderr
        return {r["name"]: r for r in json.loads(run.stdout)}
    return evaluate


def _cited(name):
    return next(c for c in CITED if c["name"] == name)


def _get(values, dotted, missing=None):
    """The value at a dotted path, or `missing` when the path is not set (an explicit null is a value)."""
    for part in dotted.split("."):
        if not isinstance(values, dict) or part not in values:
            return missing
        values = values[part]
    return values


_MISSING = object()
_UNSET = (None, False, "", [], {})


def _helm_merge(default, override):
    """Helm's coalescing of user values over chart defaults: maps merge key by key, null deletes a key."""
    if not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(default) if isinstance(default, dict) else {}
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _helm_merge(merged.get(key), value)
    return merged


def _set_field(template, field, value):
    """Set spec.KEY or (init)containers.NAME.KEY of a cited template; an empty value renders nothing."""
    head, _, rest = field.partition(".")
    if head == "spec":
        targets, key = [template["spec"]], rest
    else:
        name, key = rest.rsplit(".", 1)
        targets = [c for c in template["spec"].get(head, []) if c["name"] == name]
    for target in targets:
        if value in (None, {}, []):
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)


def _render(component, values):
    """The cited pod template with our Helm values applied: chart defaults (`defaults`) merged with ours, written to
    the fields `values` names; containers whose switch is off removed."""
    template = copy.deepcopy(component["template"])
    for container, switch in (component.get("optional_containers") or {}).items():
        if isinstance(switch, str):
            switch = {"value": switch, "default": False}
        value = _get(values, switch["value"], _MISSING)
        if not (switch["default"] if value is _MISSING else value):
            for key in ("containers", "initContainers"):
                template["spec"][key] = [c for c in template["spec"].get(key, []) if c["name"] != container]
    for value_path, fields in component["values"].items():
        ours = _get(values, value_path, _MISSING)
        default = (component.get("defaults") or {}).get(value_path)
        if ours is None:
            effective = None
        else:
            effective = default if ours is _MISSING else _helm_merge(default, ours)
        switch_key = (component.get("switch_keys") or {}).get(value_path)
        if switch_key and isinstance(effective, dict):
            effective = {k: v for k, v in effective.items() if k != switch_key} if effective.get(switch_key) else None
        for field in [fields] if isinstance(fields, str) else fields:
            _set_field(template, field, effective)
    return template


def _levels(tree):
    """{namespace: (enforced level, exception note)}; a namespace nobody labels enforces nothing (privileged)."""
    return {ns["metadata"]["name"]: (ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce",
                                                                          "privileged"),
                                     ns["metadata"].get("annotations", {}).get(EXCEPTION))
            for ns in tree.objects(kind="Namespace")}


def _app(tree, name):
    apps = [a for a in tree.objects(kind="Application") if a["metadata"]["name"] == name]
    return apps[0] if apps else None


def chart_pods(tree):
    """(name, namespace, template, patch) for every chart- or controller-made pod the tree asks for."""
    pods = []
    proxy = _cited("agentgateway-proxy")
    params = {(p["metadata"]["namespace"], p["metadata"]["name"]): p
              for p in tree.objects(kind="AgentgatewayParameters")}
    for gw in tree.objects(kind="Gateway"):
        if gw["spec"]["gatewayClassName"] != "agentgateway":
            continue
        ns = gw["metadata"]["namespace"]
        ref = (gw["spec"].get("infrastructure") or {}).get("parametersRef") or {}
        overlay = params.get((ns, ref.get("name"))) if ref.get("kind") == "AgentgatewayParameters" else None
        patch = _get(overlay, "spec.deployment.spec.template") if overlay else None
        pods.append((f"agentgateway-proxy/{ns}/{gw['metadata']['name']}", ns, proxy["template"], patch))

    kps = _app(tree, "kube-prometheus-stack")
    if kps:
        node = _cited("node-exporter")
        values = kps["spec"]["source"]["helm"].get("valuesObject") or {}
        ns = _get(values, node["namespace_value"]) or kps["spec"]["destination"]["namespace"]
        pods.append((f"node-exporter/{ns}", ns, node["template"], None))
        for component in CITED:
            if component["made_for"] != "kube-prometheus-stack" or "values" not in component:
                continue
            # a value the entry does not model would change the pod: look it up again before setting it
            unmodelled = {p: _get(values, p, _MISSING) for p in component.get("unmodelled_values", [])}
            unmodelled = {p: v for p, v in unmodelled.items() if v is not _MISSING and v not in _UNSET}
            assert not unmodelled, (component["name"], unmodelled, "set by our values, not modelled: cite it again")
            if any(_get(values, p, _MISSING) in (False, None, "", 0) for p in component.get("enabled_values", [])):
                continue
            ns = _get(values, component["namespace_value"]) or kps["spec"]["destination"]["namespace"]
            pods.append((f"{component['name']}/{ns}", ns, _render(component, values), None))

    cnpg = _cited("cnpg-instance")
    for cluster in tree.objects(kind="Cluster"):
        if cluster["apiVersion"].startswith("postgresql.cnpg.io/"):
            spec = cluster["spec"]
            # the cited defaults hold only while the Cluster overrides none of them
            assert not {"securityContext", "podSecurityContext", "seccompProfile"} & set(spec), cluster["metadata"]
            ns = cluster["metadata"]["namespace"]
            pods.append((f"cnpg-instance/{ns}/{cluster['metadata']['name']}", ns, cnpg["template"], None))

    kueue = _app(tree, "kueue")
    if kueue:
        values = kueue["spec"]["source"]["helm"].get("valuesObject") or {}
        assert not _get(values, "controllerManager"), "the gpu layer overrides the Kueue pod: cite it again"
        ns = kueue["spec"]["destination"]["namespace"]
        pods.append((f"kueue-controller-manager/{ns}", ns, _cited("kueue-controller-manager")["template"], None))

    app = _app(tree, "opencost")
    if app:
        values = app["spec"]["source"]["helm"].get("valuesObject") or {}
        pods.append((f"opencost/{app['spec']['destination']['namespace']}",
                     app["spec"]["destination"]["namespace"], _render(_cited("opencost"), values), None))
    return pods


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_chart_made_pods_are_admitted_where_they_land(rendered, psa, inventory):
    tree = rendered[inventory]
    levels = _levels(tree)
    pods = chart_pods(tree)
    assert pods, "no chart-made pod found in the tree"
    if _app(tree, "kube-prometheus-stack"):
        made = {name.split("/")[0] for name, _, _, _ in pods}
        assert made >= {"grafana", "kube-state-metrics", "prometheus-operator", "prometheus-operator-admission-jobs",
                        "prometheus", "alertmanager"}, made
    results = psa([{"name": name, "level": levels.get(ns, ("privileged", None))[0], "template": template,
                    "patch": patch} for name, ns, template, patch in pods])
    refused = {name: r["reasons"] for name, r in results.items() if not r["allowed"]}
    assert refused == {}
    # Each lands in a namespace the stack renders with an explicit level; anything above restricted sits in a
    # namespace of its own with the reason written on it.
    for name, ns, _, _ in pods:
        assert ns in levels, f"{name}: namespace {ns} is not rendered, so nothing enforces a level there"
        level, note = levels[ns]
        assert level == "restricted" or note, f"{name}: {ns} enforces {level} without a {EXCEPTION} annotation"


def test_node_exporter_needs_its_exception(psa):
    """The exception is not a convenience: node-exporter's cited pod fails restricted and baseline."""
    node = _cited("node-exporter")
    results = psa([{"name": f"node-exporter@{level}", "level": level, "template": node["template"]}
                   for level in ("restricted", "baseline", "privileged")])
    assert not results["node-exporter@restricted"]["allowed"]
    assert not results["node-exporter@baseline"]["allowed"]
    reasons = " ".join(results["node-exporter@baseline"]["reasons"])
    assert "host namespaces" in reasons and "hostPath volumes" in reasons
    assert results["node-exporter@privileged"]["allowed"]


def test_the_check_refuses_what_the_charts_ship_unchanged(psa):
    """Without our overlay and values: the agentgateway proxy and OpenCost are refused by restricted."""
    proxy, oc = _cited("agentgateway-proxy"), _cited("opencost")
    results = psa([{"name": "proxy", "level": "restricted", "template": proxy["template"]},
                   {"name": "opencost", "level": "restricted", "template": oc["template"]}])
    assert not results["proxy"]["allowed"]
    assert any("seccompProfile" in r for r in results["proxy"]["reasons"]), results["proxy"]["reasons"]
    assert not results["opencost"]["allowed"]


def test_our_values_reach_the_evaluated_kube_prometheus_stack_pods(psa):
    """The chart defaults alone are admitted at restricted, and a value of ours reaches the pod that is evaluated:
    without the container seccompProfile Grafana is refused (its pod securityContext sets none)."""
    kps = [c for c in CITED if c["made_for"] == "kube-prometheus-stack" and "values" in c]
    assert {c["name"] for c in kps} >= {"grafana", "kube-state-metrics", "prometheus-operator", "prometheus",
                                         "alertmanager"}
    defaults = psa([{"name": c["name"], "level": "restricted", "template": _render(c, {})} for c in kps])
    assert {n: r["reasons"] for n, r in defaults.items() if not r["allowed"]} == {}
    weakened = {"grafana": {"containerSecurityContext": {"seccompProfile": None}}}
    result = psa([{"name": "grafana", "level": "restricted", "template": _render(_cited("grafana"), weakened)}])
    assert not result["grafana"]["allowed"]
    assert any("seccompProfile" in r for r in result["grafana"]["reasons"]), result["grafana"]["reasons"]
    # the pod securityContext of kube-state-metrics renders only while its `enabled` key holds
    ksm = _render(_cited("kube-state-metrics"), {"kube-state-metrics": {"securityContext": {"enabled": False}}})
    assert "securityContext" not in ksm["spec"]
    assert "enabled" not in _render(_cited("kube-state-metrics"), {})["spec"]["securityContext"]


def test_cited_data_follows_the_pins():
    """A moved pin (playbooks/vars/versions.yml) makes the cited fields stale: look them up again at the new tag."""
    for component in CITED:
        version = str(VERSIONS["llmaas_charts"][component["pin"]][component.get("pin_field", "version")]).lstrip("v")
        assert version in component["tag"], (component["name"], component["tag"], version)
        assert component["repo"] and component["path"] and component["read_at"]


def test_inference_gateway_service_is_not_exposed_on_nodes(rendered):
    """k3s ServiceLB opens a host port for every LoadBalancer Service: the unauthenticated model path stays
    ClusterIP (the agentgateway controller makes the Service from spec.service of the parameters)."""
    tree = rendered["vast"]
    gw = tree.one("Gateway", "llmaas-inference")
    params = tree.one("AgentgatewayParameters", gw["spec"]["infrastructure"]["parametersRef"]["name"])
    assert params["spec"]["service"]["spec"]["type"] == "ClusterIP"
