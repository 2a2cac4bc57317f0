"""The Kubernetes API EMULATOR (tests/emulators/kube_api.py) driven by the real kubernetes.core modules and by HTTP.

The playbook tests run ansible-playbook with kubernetes.core 6.x against the emulator: if kubernetes.core cannot
create, wait for, patch idempotently, select or delete through it, these tests fail. The HTTP tests pin the
semantics the apply path relies on (patch types, selectors, status codes, CRD registration).
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from emulators.kube_api import KubeApiEmulator, parse_label_selector, strategic_merge

ROOT = Path(__file__).resolve().parents[3]
TESTS = ROOT / "tests"
PLAYBOOK_TIMEOUT = 180


@pytest.fixture
def api():
    with KubeApiEmulator() as emulator:
        yield emulator


@pytest.fixture
def kubeconfig(api, tmp_path):
    return api.write_kubeconfig(tmp_path / "kubeconfig")


# ----------------------------------------------------------------------------------------------- ansible-playbook


def run_playbook(tmp_path: Path, kubeconfig: str, tasks: list, name: str = "play") -> dict:
    """Run tasks against the emulator with kubernetes.core; return the ansible.posix.json callback document."""
    playbook = tmp_path / f"{name}.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": name, "hosts": "localhost", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": kubeconfig}},
        "tasks": tasks,
    }], sort_keys=False))
    env = dict(os.environ)
    cache = tmp_path / "tmp"  # kubernetes.core keeps its discovery cache in TMPDIR: one per test
    cache.mkdir(exist_ok=True)
    env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "TMPDIR": str(cache), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
                "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"})
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(playbook)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=PLAYBOOK_TIMEOUT, check=False)
    try:
        doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        pytest.fail(f"ansible-playbook output is not JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    doc["rc"] = proc.returncode
    doc["stderr"] = proc.stderr
    return doc


def task_results(doc: dict) -> dict:
    """Task name -> result on localhost."""
    return {task["task"]["name"]: task["hosts"]["localhost"] for play in doc["plays"] for task in play["tasks"]}


def assert_ok(doc: dict) -> dict:
    stats = doc["stats"]["localhost"]
    if doc["rc"] != 0 or stats["failures"] or stats["unreachable"]:
        failed = {n: r.get("msg") for n, r in task_results(doc).items() if r.get("failed")}
        pytest.fail(f"playbook failed (rc={doc['rc']}): {json.dumps(failed, indent=1)}\n{doc['stderr'][-3000:]}")
    return stats


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llmaas-test"}}
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "gateway", "namespace": "llmaas-test", "labels": {"app": "gateway", "tier": "edge"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "gateway"}},
             "template": {"metadata": {"labels": {"app": "gateway"}},
                          "spec": {"containers": [{"name": "litellm", "image": "ghcr.io/berriai/litellm:v1",
                                                   "ports": [{"containerPort": 4000, "name": "http"}],
                                                   "env": [{"name": "LITELLM_LOCAL_MODEL_COST_MAP",
                                                            "value": "True"}]}]}}},
}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.llmaas.io"},
    "spec": {"group": "example.llmaas.io", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}},
                           "subresources": {"status": {}}}]},
}
WIDGET = {"apiVersion": "example.llmaas.io/v1alpha1", "kind": "Widget",
          "metadata": {"name": "w1", "namespace": "llmaas-test", "labels": {"app": "widget"}},
          "spec": {"size": 3, "targets": [{"name": "a", "port": 8000}]}}


@pytest.mark.slow
def test_kubernetes_core_creates_waits_and_reads(api, kubeconfig, tmp_path):
    tasks = [
        {"name": "namespace", "kubernetes.core.k8s": {"definition": NAMESPACE}},
        {"name": "deployment", "kubernetes.core.k8s": {
            "definition": DEPLOYMENT, "wait": True, "wait_timeout": 20, "wait_sleep": 1}},
        {"name": "deployment available", "kubernetes.core.k8s_info": {
            "kind": "Deployment", "namespace": "llmaas-test", "name": "gateway", "wait": True, "wait_timeout": 20,
            "wait_sleep": 1, "wait_condition": {"type": "Available", "status": "True"}}},
        {"name": "crd", "kubernetes.core.k8s": {
            "definition": CRD, "wait": True, "wait_timeout": 20, "wait_sleep": 1,
            "wait_condition": {"type": "Established", "status": "True"}}},
        {"name": "custom resource", "kubernetes.core.k8s": {"definition": WIDGET}},
        {"name": "custom resource by short name", "kubernetes.core.k8s_info": {
            "api_version": "example.llmaas.io/v1alpha1", "kind": "wdg", "namespace": "llmaas-test"}},
        {"name": "missing object", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": "llmaas-test", "name": "does-not-exist"}},
        {"name": "unknown kind", "kubernetes.core.k8s": {"definition": {
            "apiVersion": "nope.llmaas.io/v1", "kind": "Nothing",
            "metadata": {"name": "x", "namespace": "llmaas-test"}}}, "ignore_errors": True},
    ]
    doc = run_playbook(tmp_path, kubeconfig, tasks)
    results = task_results(doc)
    stats = doc["stats"]["localhost"]
    assert stats["failures"] == 0 and stats["ignored"] == 1, results["unknown kind"]
    assert results["namespace"]["changed"] is True
    deployment = results["deployment"]["result"]
    assert deployment["status"]["readyReplicas"] == 2
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
    available = results["deployment available"]["resources"]
    assert [c["status"] for c in available[0]["status"]["conditions"] if c["type"] == "Available"] == ["True"]
    crd_conditions = {c["type"]: c["status"] for c in results["crd"]["result"]["status"]["conditions"]}
    assert crd_conditions["Established"] == "True"
    widgets = results["custom resource by short name"]["resources"]
    assert [(w["kind"], w["metadata"]["name"], w["spec"]["size"]) for w in widgets] == [("Widget", "w1", 3)]
    assert results["missing object"]["resources"] == []
    assert "Failed to find exact match" in results["unknown kind"]["msg"]
    stored = api.objects(kind="Widget", namespace="llmaas-test")
    assert stored[0]["metadata"]["uid"] and stored[0]["metadata"]["generation"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["create_or_patch", "client_side_apply", "server_side_apply"])
def test_second_run_reports_no_change(api, kubeconfig, tmp_path, mode):
    """Idempotence: what `molecule idempotence` needs from the emulator for each kubernetes.core write path."""
    options = {"create_or_patch": {}, "client_side_apply": {"apply": True},
               "server_side_apply": {"apply": True, "server_side_apply": {"field_manager": "llmaas",
                                                                           "force_conflicts": True}}}[mode]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "llmaas-test"},
              "stringData": {"key": "value"}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gateway", "namespace": "llmaas-test"},
               "spec": {"selector": {"app": "gateway"}, "ports": [{"name": "http", "port": 80,
                                                                    "targetPort": 4000}]}}
    tasks = [{"name": f"apply {d['kind']}", "kubernetes.core.k8s": {"definition": d, **options}}
             for d in (NAMESPACE, DEPLOYMENT, secret, service, CRD)]
    tasks.append({"name": "wait crd", "kubernetes.core.k8s_info": {
        "kind": "CustomResourceDefinition", "name": CRD["metadata"]["name"], "wait": True, "wait_timeout": 20,
        "wait_sleep": 1, "wait_condition": {"type": "Established", "status": "True"}}})
    tasks.append({"name": "apply Widget", "kubernetes.core.k8s": {"definition": WIDGET, **options}})
    first = assert_ok(run_playbook(tmp_path, kubeconfig, tasks, "first"))
    assert first["changed"] == 6
    second_doc = run_playbook(tmp_path, kubeconfig, tasks, "second")
    second = assert_ok(second_doc)
    changed = [n for n, r in task_results(second_doc).items() if r.get("changed")]
    assert second["changed"] == 0, changed
    # a real change is still seen as one
    edited = json.loads(json.dumps(DEPLOYMENT))
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/berriai/litellm:v2"
    third = run_playbook(tmp_path, kubeconfig, [{"name": "edit", "kubernetes.core.k8s": {
        "definition": edited, **options}}], "third")
    assert assert_ok(third)["changed"] == 1
    result = task_results(third)["edit"]["result"]
    assert result["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")
    assert result["metadata"]["generation"] == 2
    stored_secret = api.objects(kind="Secret", namespace="llmaas-test")
    assert [s["data"] for s in stored_secret if s["metadata"]["name"] == "creds"] == [{"key": "dmFsdWU="}]


@pytest.mark.slow
def test_label_selectors_and_state_absent(api, kubeconfig, tmp_path):
    def configmap(name, labels):
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "llmaas-test", "labels": labels}, "data": {"k": name}}

    tasks = [
        {"name": "namespace", "kubernetes.core.k8s": {"definition": NAMESPACE}},
        {"name": "configmaps", "kubernetes.core.k8s": {"definition": [
            configmap("a", {"app": "llmaas", "tier": "edge"}), configmap("b", {"app": "llmaas", "tier": "core"}),
            configmap("c", {"app": "other", "tier": "edge", "legacy": "yes"})]}},
        {"name": "equality", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": "llmaas-test", "label_selectors": ["app=llmaas"]}},
        {"name": "set based", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": "llmaas-test", "label_selectors": ["tier in (edge)", "!legacy"]}},
        {"name": "field selector", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": "llmaas-test", "field_selectors": ["metadata.name=b"]}},
        {"name": "delete one", "kubernetes.core.k8s": {
            "state": "absent", "kind": "ConfigMap", "namespace": "llmaas-test", "name": "a", "wait": True,
            "wait_timeout": 20, "wait_sleep": 1}},
        {"name": "delete again", "kubernetes.core.k8s": {
            "state": "absent", "kind": "ConfigMap", "namespace": "llmaas-test", "name": "a"}},
        {"name": "after delete", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": "llmaas-test", "label_selectors": ["app=llmaas"]}},
        {"name": "delete namespace", "kubernetes.core.k8s": {
            "state": "absent", "definition": NAMESPACE, "wait": True, "wait_timeout": 20, "wait_sleep": 1}},
        {"name": "after namespace delete", "kubernetes.core.k8s_info": {"kind": "ConfigMap",
                                                                         "namespace": "llmaas-test"}},
    ]
    doc = run_playbook(tmp_path, kubeconfig, tasks)
    assert_ok(doc)
    results = task_results(doc)

    def names(task):
        return sorted(r["metadata"]["name"] for r in results[task]["resources"])

    assert names("equality") == ["a", "b"]
    assert names("set based") == ["a"]
    assert names("field selector") == ["b"]
    assert results["delete one"]["changed"] is True
    assert results["delete again"]["changed"] is False
    assert names("after delete") == ["b"]
    assert results["after namespace delete"]["resources"] == []
    assert api.objects(namespace="llmaas-test") == []


@pytest.mark.slow
def test_removing_a_crd_stops_serving_its_kind(api, kubeconfig, tmp_path):
    tasks = [
        {"name": "namespace", "kubernetes.core.k8s": {"definition": NAMESPACE}},
        {"name": "crd", "kubernetes.core.k8s": {"definition": CRD, "wait": True, "wait_timeout": 20,
                                                  "wait_sleep": 1,
                                                  "wait_condition": {"type": "Established", "status": "True"}}},
        {"name": "widget", "kubernetes.core.k8s": {"definition": WIDGET}},
        {"name": "remove crd", "kubernetes.core.k8s": {"definition": CRD, "state": "absent", "wait": True,
                                                         "wait_timeout": 20, "wait_sleep": 1}},
        {"name": "widget after crd removal", "kubernetes.core.k8s": {"definition": WIDGET},
         "ignore_errors": True},
    ]
    doc = run_playbook(tmp_path, kubeconfig, tasks)
    results = task_results(doc)
    assert results["remove crd"]["changed"] is True
    assert results["widget after crd removal"]["failed"] is True
    # kubernetes.core's discovery cache still knows the kind (as with a real cluster), the server does not
    message = results["widget after crd removal"]["msg"]
    assert "Failed to find exact match" in message or '"code": 404' in message, message
    assert api.objects(kind="Widget") == []


# ----------------------------------------------------------------------------------------------- HTTP


class Http:
    def __init__(self, emulator: KubeApiEmulator):
        self.emulator = emulator

    def __call__(self, method, path, body=None, content_type="application/json", token=True, accept=None):
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.emulator.url + path, data=data, method=method)
        req.add_header("Content-Type", content_type)
        if accept:
            req.add_header("Accept", accept)
        if token:
            req.add_header("Authorization", f"Bearer {self.emulator.token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def http(api):
    http = Http(api)
    assert http("POST", "/api/v1/namespaces", {"metadata": {"name": "t"}})[0] == 201
    return http


DEPLOY_PATH = "/apis/apps/v1/namespaces/t/deployments"


def _deployment(name="d", labels=None):
    body = json.loads(json.dumps(DEPLOYMENT))
    body["metadata"] = {"name": name, "labels": labels or {"app": name}}
    return body


def test_discovery_shapes(http):
    code, groups = http("GET", "/apis")
    assert code == 200 and groups["kind"] == "APIGroupList"
    autoscaling = next(g for g in groups["groups"] if g["name"] == "autoscaling")
    assert autoscaling["preferredVersion"]["version"] == "v2"
    code, core = http("GET", "/api/v1")
    namespaces = next(r for r in core["resources"] if r["name"] == "namespaces")
    assert namespaces["namespaced"] is False and namespaces["kind"] == "Namespace" and "ns" in namespaces["shortNames"]
    assert "create" in namespaces["verbs"]
    assert any(r["name"] == "namespaces/status" for r in core["resources"])
    code, apps = http("GET", "/apis/apps/v1")
    assert {"deployments", "statefulsets", "daemonsets"} <= {r["name"] for r in apps["resources"]}
    code, aggregated = http("GET", "/apis", accept="application/json;g=apidiscovery.k8s.io;v=v2;"
                                                   "as=APIGroupDiscoveryList")
    assert aggregated["kind"] == "APIGroupDiscoveryList"
    apps_group = next(i for i in aggregated["items"] if i["metadata"]["name"] == "apps")
    assert apps_group["versions"][0]["resources"][0]["scope"] == "Namespaced"
    assert http("GET", "/apis/nope.example/v1")[0] == 404


def test_status_codes_and_bodies(http):
    code, body = http("GET", f"{DEPLOY_PATH}/missing")
    assert (code, body["kind"], body["reason"], body["code"]) == (404, "Status", "NotFound", 404)
    assert body["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}
    assert http("POST", DEPLOY_PATH, _deployment())[0] == 201
    code, body = http("POST", DEPLOY_PATH, _deployment())
    assert (code, body["reason"]) == (409, "AlreadyExists")
    code, current = http("GET", f"{DEPLOY_PATH}/d")
    stale = dict(current, metadata=dict(current["metadata"], resourceVersion="1"))
    code, body = http("PUT", f"{DEPLOY_PATH}/d", stale)
    assert (code, body["reason"]) == (409, "Conflict")
    assert http("GET", f"{DEPLOY_PATH}/d", token=False)[0] == 401
    code, body = http("POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}})
    assert (code, body["message"]) == (404, 'namespaces "nope" not found')
    code, body = http("DELETE", "/api/v1/namespaces/default")
    assert code == 403


def test_object_metadata_and_noop_writes(http):
    code, created = http("POST", DEPLOY_PATH, _deployment())
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1 and meta["managedFields"]
    code, same = http("PATCH", f"{DEPLOY_PATH}/d", {"spec": {"replicas": 2}}, "application/merge-patch+json")
    assert same["metadata"]["resourceVersion"] == meta["resourceVersion"], "a no-op patch must not bump"
    code, labelled = http("PATCH", f"{DEPLOY_PATH}/d", {"metadata": {"labels": {"x": "y"}}},
                          "application/merge-patch+json")
    assert int(labelled["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert labelled["metadata"]["generation"] == 1, "metadata-only changes do not bump generation"
    code, scaled = http("PATCH", f"{DEPLOY_PATH}/d", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    assert scaled["metadata"]["generation"] == 2 and scaled["status"]["readyReplicas"] == 3
    assert scaled["status"]["observedGeneration"] == 2


def test_patch_types(http):
    http("POST", DEPLOY_PATH, _deployment())
    path = f"{DEPLOY_PATH}/d"
    # strategic merge: containers and env merge by name, $patch: delete removes one
    code, obj = http("PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": "litellm", "env": [{"name": "EXTRA", "value": "1"}]},
        {"name": "sidecar", "image": "busybox"}]}}}}, "application/strategic-merge-patch+json")
    assert code == 200
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["litellm", "sidecar"]
    assert [e["name"] for e in containers[0]["env"]] == ["LITELLM_LOCAL_MODEL_COST_MAP", "EXTRA"]
    assert containers[0]["image"] == "ghcr.io/berriai/litellm:v1"
    code, obj = http("PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}}, "application/strategic-merge-patch+json")
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["litellm"]
    # merge patch: lists are replaced whole
    code, obj = http("PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "x"}]}}}}, "application/merge-patch+json")
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]
    # json patch
    code, obj = http("PATCH", path, [{"op": "replace", "path": "/spec/replicas", "value": 5},
                                     {"op": "add", "path": "/metadata/labels/added", "value": "yes"},
                                     {"op": "test", "path": "/spec/replicas", "value": 5}],
                     "application/json-patch+json")
    assert obj["spec"]["replicas"] == 5 and obj["metadata"]["labels"]["added"] == "yes"
    code, body = http("PATCH", path, [{"op": "remove", "path": "/spec/nothing"}], "application/json-patch+json")
    assert code == 422
    code, body = http("PATCH", path, {}, "text/plain")
    assert code == 415


def test_strategic_merge_is_refused_for_custom_resources_like_the_real_server(http):
    assert http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)[0] == 201
    widgets = "/apis/example.llmaas.io/v1alpha1/namespaces/t/widgets"
    widget = dict(WIDGET, metadata={"name": "w1"})
    assert http("POST", widgets, widget)[0] == 201
    code, body = http("PATCH", f"{widgets}/w1", {"spec": {"size": 4}}, "application/strategic-merge-patch+json")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")
    code, obj = http("PATCH", f"{widgets}/w1", {"spec": {"size": 4}}, "application/merge-patch+json")
    assert obj["spec"]["size"] == 4 and obj["metadata"]["generation"] == 2
    # the status subresource is separate from the main resource
    code, obj = http("PATCH", f"{widgets}/w1", {"status": {"ready": True}}, "application/merge-patch+json")
    assert "status" not in obj
    code, obj = http("PATCH", f"{widgets}/w1/status", {"status": {"ready": True}}, "application/merge-patch+json")
    assert obj["status"] == {"ready": True} and obj["metadata"]["generation"] == 2


def test_server_side_apply_removes_fields_the_manager_stopped_applying(http):
    path = "/api/v1/namespaces/t/configmaps/cfg"
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1", "b": "2"}},
               "data": {"one": "1", "two": "2"}}
    code, body = http("PATCH", path, applied, "application/apply-patch+yaml")
    assert code == 400, "fieldManager is required"
    code, obj = http("PATCH", f"{path}?fieldManager=llmaas", applied, "application/apply-patch+yaml")
    assert code == 201 and obj["metadata"]["managedFields"][0]["operation"] == "Apply"
    code, other = http("PATCH", path, {"data": {"manual": "x"}}, "application/merge-patch+json")
    rv = other["metadata"]["resourceVersion"]
    code, same = http("PATCH", f"{path}?fieldManager=llmaas", applied, "application/apply-patch+yaml")
    assert same["metadata"]["resourceVersion"] == rv
    fewer = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1"}},
             "data": {"one": "1"}}
    code, obj = http("PATCH", f"{path}?fieldManager=llmaas", yaml.safe_dump(fewer), "application/apply-patch+yaml")
    assert obj["data"] == {"one": "1", "manual": "x"}, "fields of other managers stay"
    assert obj["metadata"]["labels"] == {"a": "1"}
    managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    assert ("llmaas", "Apply") in managers


def test_label_and_field_selectors(http):
    for name, labels in [("a", {"app": "x", "tier": "edge"}), ("b", {"app": "x", "tier": "core"}),
                         ("c", {"app": "y"})]:
        http("POST", DEPLOY_PATH, _deployment(name, labels))

    def names(query):
        code, listing = http("GET", f"{DEPLOY_PATH}?{query}")
        assert code == 200 and listing["kind"] == "DeploymentList"
        return sorted(i["metadata"]["name"] for i in listing["items"])

    assert names("labelSelector=app%3Dx") == ["a", "b"]
    assert names("labelSelector=app%3D%3Dx") == ["a", "b"]
    assert names("labelSelector=app!%3Dx") == ["c"]
    assert names("labelSelector=tier%20in%20(edge,core)") == ["a", "b"]
    assert names("labelSelector=tier%20notin%20(edge)") == ["b", "c"]
    assert names("labelSelector=tier") == ["a", "b"]
    assert names("labelSelector=!tier") == ["c"]
    assert names("labelSelector=app%3Dx,tier%20notin%20(core)") == ["a"]
    assert names("fieldSelector=metadata.name%3Dc") == ["c"]
    assert names("fieldSelector=metadata.name!%3Dc") == ["a", "b"]
    code, everywhere = http("GET", "/apis/apps/v1/deployments")
    assert len(everywhere["items"]) == 3 and "kind" not in everywhere["items"][0]
    assert parse_label_selector("a in (x, y),!b") == [("a", "in", {"x", "y"}), ("b", "!exists", None)]


def test_deletion_semantics(http):
    code, owner = http("POST", "/api/v1/namespaces/t/configmaps", {"metadata": {"name": "owner"}})
    http("POST", "/api/v1/namespaces/t/configmaps", {"metadata": {"name": "child", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]}})
    http("POST", "/api/v1/namespaces/t/configmaps", {"metadata": {"name": "held", "finalizers": ["llmaas/x"]}})
    code, body = http("DELETE", "/api/v1/namespaces/t/configmaps/owner",
                      {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
    assert code == 200 and body["status"] == "Success"
    assert http("GET", "/api/v1/namespaces/t/configmaps/child")[0] == 404, "dependents are collected"
    code, held = http("DELETE", "/api/v1/namespaces/t/configmaps/held")
    assert held["metadata"]["deletionTimestamp"]
    assert http("GET", "/api/v1/namespaces/t/configmaps/held")[0] == 200, "finalizers hold the object"
    http("PATCH", "/api/v1/namespaces/t/configmaps/held", {"metadata": {"finalizers": None}},
         "application/merge-patch+json")
    assert http("GET", "/api/v1/namespaces/t/configmaps/held")[0] == 404
    code, dry = http("DELETE", "/api/v1/namespaces/t/configmaps/kube-root-ca.crt?dryRun=All")
    assert http("GET", "/api/v1/namespaces/t/configmaps/kube-root-ca.crt")[0] == 200, "dryRun changes nothing"
    http("POST", DEPLOY_PATH, _deployment())
    assert http("DELETE", "/api/v1/namespaces/t")[0] == 200
    assert http("GET", f"{DEPLOY_PATH}/d")[0] == 404
    assert http("GET", "/apis/apps/v1/deployments")[1]["items"] == []


def test_crd_registration_lifecycle(http):
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    bad = json.loads(json.dumps(CRD))
    bad["metadata"]["name"] = "wrong.name"
    assert http("POST", crds, bad)[0] == 422
    code, crd = http("POST", crds, CRD)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    code, resources = http("GET", "/apis/example.llmaas.io/v1alpha1")
    widget = next(r for r in resources["resources"] if r["name"] == "widgets")
    assert widget["kind"] == "Widget" and widget["namespaced"] is True and widget["shortNames"] == ["wdg"]
    assert any(r["name"] == "widgets/status" for r in resources["resources"])
    widgets = "/apis/example.llmaas.io/v1alpha1/namespaces/t/widgets"
    assert http("POST", widgets, dict(WIDGET, metadata={"name": "w"}))[0] == 201
    code, listing = http("GET", widgets)
    assert listing["kind"] == "WidgetList" and listing["items"][0]["kind"] == "Widget"
    assert http("DELETE", f"{crds}/widgets.example.llmaas.io")[0] == 200
    assert http("GET", "/apis/example.llmaas.io/v1alpha1")[0] == 404
    assert http("GET", widgets)[0] == 404
    assert "example.llmaas.io" not in {g["name"] for g in http("GET", "/apis")[1]["groups"]}


def test_workload_status_for_waits(http):
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "pg"},
           "spec": {"replicas": 3, "serviceName": "pg", "selector": {"matchLabels": {"app": "pg"}},
                    "template": {"metadata": {"labels": {"app": "pg"}},
                                 "spec": {"containers": [{"name": "pg", "image": "postgres"}]}}}}
    code, obj = http("POST", "/apis/apps/v1/namespaces/t/statefulsets", sts)
    status = obj["status"]
    assert status["readyReplicas"] == 3 and status["currentRevision"] == status["updateRevision"]
    assert obj["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    job = {"metadata": {"name": "migrate"}, "spec": {"template": {"spec": {"containers": [{"name": "m"}]}}}}
    code, obj = http("POST", "/apis/batch/v1/namespaces/t/jobs", job)
    assert {c["type"] for c in obj["status"]["conditions"]} >= {"Complete"}
    pvc = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "5Gi"}}}}
    code, obj = http("POST", "/api/v1/namespaces/t/persistentvolumeclaims", pvc)
    assert obj["status"]["phase"] == "Bound" and obj["status"]["capacity"]["storage"] == "5Gi"
    code, obj = http("POST", "/api/v1/namespaces/t/secrets", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    assert obj["data"] == {"a": "Yg=="} and "stringData" not in obj


def test_strategic_merge_keys_follow_the_field():
    service = {"spec": {"ports": [{"port": 80, "name": "http"}]}}
    merged = strategic_merge(service, {"spec": {"ports": [{"port": 443, "name": "https"}]}}, "Service")
    assert [p["port"] for p in merged["spec"]["ports"]] == [80, 443]
    policy = {"spec": {"ingress": [{"ports": [{"port": 80}]}]}}
    replaced = strategic_merge(policy, {"spec": {"ingress": [{"ports": [{"port": 443}]}]}}, "NetworkPolicy")
    assert replaced["spec"]["ingress"] == [{"ports": [{"port": 443}]}], "lists without a merge key are replaced"
    meta = strategic_merge({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b"]}}, "ConfigMap")
    assert meta["metadata"]["finalizers"] == ["a", "b"]


def test_command_line_writes_a_kubeconfig_and_stops_on_sigterm(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "emulators.kube_api", "--port", "0", "--kubeconfig",
                             str(kubeconfig)], cwd=TESTS, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not kubeconfig.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert kubeconfig.exists(), proc.stderr.read() if proc.poll() is not None else "no kubeconfig in 20 s"
        config = yaml.safe_load(kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        req = urllib.request.Request(server + "/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert "default" in {i["metadata"]["name"] for i in json.loads(resp.read())["items"]}
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "emulator" in stderr
