"""A first bootstrap on an empty cluster converges: every custom resource finds its CRD installed when it is applied.

The promise, checked over the whole rendered tree of each inventory (ADR 0002):
- the CRD of every custom resource is on the cluster before the first sync (Argo CD's own; GKE's managed ones), or
  comes with a component Application of an earlier layer (lower wave in the app-of-apps), or
- comes with a component Application of the same layer at a lower sync wave, and the resource carries
  SkipDryRunOnMissingResource (Argo CD dry-runs a whole sync before its first wave);
- waves between Applications only wait when Argo CD assesses Application health: argocd-cm carries that check;
- every Application retries a failed sync with backoff.
Which CRDs a component installs is cited data (tests/support/upstream_charts.yml) over the CRD files of ../shared/crds.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.schemas import crds_dir

from .conftest import INVENTORIES, ROOT

BUILTIN_GROUPS = {
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apps", "autoscaling", "batch", "coordination.k8s.io",
    "discovery.k8s.io", "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "kustomize.config.k8s.io",
}
WAVE = "argocd.argoproj.io/sync-wave"
SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"
HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"


def _load(path):
    return yaml.safe_load(Path(path).read_text())


UPSTREAM = _load(ROOT / "tests" / "support" / "upstream_charts.yml")
CHARTS = _load(ROOT / "playbooks" / "vars" / "versions.yml")["llmaas_charts"]


def _crd_folders():
    """(group, kind) -> the ../shared/crds folder that holds its CRD."""
    found = {}
    for file in sorted(crds_dir().rglob("*.yaml")):
        doc = yaml.safe_load(file.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition":
            key = (doc["spec"]["group"], doc["spec"]["names"]["kind"])
            found.setdefault(key, file.relative_to(crds_dir()).parts[0])
    return found


CRD_FOLDERS = _crd_folders()


def _group(obj):
    return obj["apiVersion"].rpartition("/")[0]


def _wave(obj):
    return int((obj["metadata"].get("annotations") or {}).get(WAVE, 0))


def _chart_key(app):
    """The llmaas_charts entry a component Application installs (by repository and chart or path)."""
    source = app["spec"]["source"]
    for key, chart in CHARTS.items():
        repo = str(chart.get("repo", "")).removeprefix("oci://")
        what = ("chart", chart["chart"]) if chart.get("chart") else ("path", chart.get("path"))
        if repo == source["repoURL"] and source.get(what[0]) == what[1]:
            return key
    raise AssertionError(f"component Application {app['metadata']['name']} matches no llmaas_charts entry")


def _layer_waves(tree):
    """Layer folder -> its wave in the app-of-apps."""
    waves = {}
    for app in tree.objects(kind="Application", layer="argocd"):
        path = app["spec"]["source"]["path"]
        waves[path.rsplit("/", 1)[-1]] = _wave(app)
    return waves


def _deliveries(tree):
    """CRD folder -> [(layer, in-layer wave, component name)] of the component Applications that install it."""
    out = {}
    for layer, files in tree.layers.items():
        if layer == "argocd":
            continue
        for name, obj in files.items():
            if name != "kustomization.yaml" and obj["kind"] == "Application":
                key = _chart_key(obj)
                assert key in UPSTREAM["charts"], f"llmaas_charts.{key}: no entry in upstream_charts.yml"
                folder = UPSTREAM["charts"][key]["crds"]
                if folder:
                    out.setdefault(folder, []).append((layer, _wave(obj), obj["metadata"]["name"]))
    return out


def _custom_resources(tree):
    for layer, files in tree.layers.items():
        for name, obj in files.items():
            if name == "kustomization.yaml" or _group(obj) in BUILTIN_GROUPS:
                continue
            yield layer, obj


def _ordering_violations(tree, substrate):
    layer_waves = _layer_waves(tree)
    deliveries = _deliveries(tree)
    provided = set(UPSTREAM["cluster_provided"]["all"]) | set(UPSTREAM["cluster_provided"][substrate])
    problems = []
    for layer, obj in _custom_resources(tree):
        what = f"{layer}/{obj['kind']}/{obj['metadata']['name']}"
        folder = CRD_FOLDERS.get((_group(obj), obj["kind"]))
        if folder is None:
            problems.append(f"{what}: no CRD in shared/crds")
            continue
        if folder in provided:
            continue
        options = (obj["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-options", "")
        skips = SKIP_DRY_RUN in options.split(",")
        earlier = [
            d for d in deliveries.get(folder, [])
            if layer_waves[d[0]] < layer_waves[layer]
            or (d[0] == layer and d[1] < _wave(obj) and skips)
        ]
        if not earlier:
            problems.append(f"{what}: CRD from {folder} delivered by {deliveries.get(folder) or 'nothing'}"
                            f"{'' if skips else ', no SkipDryRunOnMissingResource'}")
    return problems


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_custom_resource_finds_its_crd_installed(rendered, inventory):
    substrate = "gke" if inventory.startswith("gke") else "vast"
    problems = _ordering_violations(rendered[inventory], substrate)
    assert not problems, "a first bootstrap would fail on:\n" + "\n".join(problems)


def test_vast_security_routes_wait_for_the_gateway_api_crds(rendered):
    """The SSO HTTPRoutes (security layer) need the self-hosted Gateway API CRDs before the security layer syncs."""
    tree = rendered["vast"]
    routes = tree.objects(kind="HTTPRoute", layer="security")
    assert routes, "the vast security layer renders no HTTPRoute any more: update this test"
    waves = _layer_waves(tree)
    delivering = [d for d in _deliveries(tree)["gateway-api"] if waves[d[0]] < waves["security"]]
    assert delivering, "the Gateway API CRDs arrive after the security layer's HTTPRoutes"


def test_a_crd_arriving_later_is_caught(rendered):
    """The check above can fail: move the serving layer's KEDA chart after its ScaledObjects and it reports them."""
    tree = rendered["gke_l4"]
    keda = tree.one("Application", "keda", layer="serving")
    saved = keda["metadata"]["annotations"][WAVE]
    keda["metadata"]["annotations"][WAVE] = "5"
    try:
        problems = _ordering_violations(tree, "gke")
    finally:
        keda["metadata"]["annotations"][WAVE] = saved
    assert any("ScaledObject" in p for p in problems), problems


# Namespaces a cluster has before the first sync: its own, and Argo CD's (the prerequisite the tree targets).
CLUSTER_NAMESPACES = {"default", "kube-system", "argocd"}


def _namespace_violations(tree):
    """Namespaced objects synced before their namespace exists. A namespace exists once a Namespace object of an
    earlier layer, or of the same layer at the same or an earlier wave (Argo CD applies Namespaces first in a wave),
    was applied, or once a chart Application with CreateNamespace of an earlier layer, or of the same layer at an
    earlier wave, is healthy (argocd-cm's Application health check makes the next wave wait for it)."""
    layer_waves = _layer_waves(tree)
    made = {}
    for layer, files in tree.layers.items():
        for name, obj in files.items():
            if layer == "argocd" or name == "kustomization.yaml":
                continue
            if obj["kind"] == "Namespace":
                made.setdefault(obj["metadata"]["name"], []).append((layer, _wave(obj), True))
            elif obj["kind"] == "Application" and "CreateNamespace=true" in obj["spec"]["syncPolicy"]["syncOptions"]:
                made.setdefault(obj["spec"]["destination"]["namespace"], []).append((layer, _wave(obj), False))
    problems = []
    for layer, files in tree.layers.items():
        for name, obj in files.items():
            namespace = (obj.get("metadata") or {}).get("namespace")
            if layer == "argocd" or name == "kustomization.yaml" or not namespace or namespace in CLUSTER_NAMESPACES:
                continue
            wave = _wave(obj)
            if not any(layer_waves[lay] < layer_waves[layer] or (lay == layer and (w < wave or (is_ns and w == wave)))
                       for lay, w, is_ns in made.get(namespace, [])):
                problems.append(f"{layer}/{obj['kind']}/{obj['metadata']['name']}: namespace {namespace} made by "
                                f"{made.get(namespace) or 'nothing'}")
    return problems


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_namespaced_object_finds_its_namespace(rendered, inventory):
    problems = _namespace_violations(rendered[inventory])
    assert not problems, "a first bootstrap would fail on:\n" + "\n".join(problems)


def test_a_policy_before_its_namespace_is_caught(rendered):
    """The check above can fail: the KEDA namespace's default-deny in the security layer (wave 5, before the serving
    layer's KEDA chart creates the namespace) is reported."""
    tree = rendered["gke_l4"]
    deny = next(p for p in tree.objects(kind="NetworkPolicy", layer="serving", name="default-deny-ingress")
                if p["metadata"]["namespace"] == "keda")
    tree.layers["security"]["networkpolicy-keda-default-deny-ingress.yaml"] = deny
    try:
        problems = _namespace_violations(tree)
    finally:
        del tree.layers["security"]["networkpolicy-keda-default-deny-ingress.yaml"]
    assert any("security/NetworkPolicy/default-deny-ingress: namespace keda" in p for p in problems), problems


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_waves_between_applications_wait_for_health(rendered, inventory):
    tree = rendered[inventory]
    cm = tree.one("ConfigMap", "argocd-cm", layer="argocd")
    assert cm["metadata"]["namespace"] == "argocd"
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    lua = cm["data"][HEALTH_KEY]
    assert "obj.status.health.status" in lua and 'status = "Progressing"' in lua
    # the check must be in place before the first child Application is assessed
    apps = tree.objects(kind="Application", layer="argocd")
    assert _wave(cm) < min(_wave(a) for a in apps if not a["metadata"]["name"].endswith("-root"))
    root = next(a for a in apps if a["metadata"]["name"].endswith("-root"))
    assert "ServerSideApply=true" in root["spec"]["syncPolicy"]["syncOptions"], "a client-side apply of argocd-cm"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_application_retries_with_backoff(rendered, inventory):
    apps = rendered[inventory].objects(kind="Application")
    assert apps
    for app in apps:
        retry = app["spec"]["syncPolicy"].get("retry") or {}
        assert retry.get("limit", 0) >= 5 and retry.get("backoff", {}).get("factor", 1) > 1, app["metadata"]["name"]


def _lua_literal(value):
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua_literal(k)}] = {_lua_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@pytest.mark.skipif(not shutil.which("lua5.1"), reason="lua5.1 (Debian package) runs Argo CD's health scripts")
@pytest.mark.parametrize("status, expected", [
    ({}, "Progressing"),  # just created: its controller has not reported yet, so the wave keeps waiting
    ({"health": {"status": "Progressing"}}, "Progressing"),
    ({"health": {"status": "Degraded", "message": "Deployment exceeded its progress deadline"}}, "Degraded"),
    ({"health": {"status": "Healthy"}}, "Healthy"),
])
def test_application_health_script_runs_in_lua(rendered, status, expected):
    """Argo CD runs the check in Lua 5.1 (gopher-lua) with the resource as `obj`: run the rendered script so."""
    lua = rendered["gke_l4"].one("ConfigMap", "argocd-cm", layer="argocd")["data"][HEALTH_KEY]
    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}}
    if status:
        obj["status"] = status
    program = f"obj = {_lua_literal(obj)}\nlocal hs = (function()\n{lua}\nend)()\nprint(hs.status)\n"
    out = subprocess.run(["lua5.1", "-"], input=program, capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == expected
