"""The apply path's building blocks (kubernetes.core server-side apply, waits, idempotence) against the REAL
control plane (launcher.py): a Deployment is available only when the real controllers and kwok made its pods
Ready; a second apply is a no-op only if the real API server's field management says so."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_TIMEOUT = 180


@pytest.fixture
def kubeconfig(control_plane):
    return str(control_plane.kubeconfig)


def scoped(obj, name):
    """obj moved to its own namespace and API group: the tests share one control plane."""
    return json.loads(json.dumps(obj).replace("llmaas-test", name).replace("example.llmaas.io",
                                                                          f"{name}.example.llmaas.io"))


def run_playbook(tmp_path: Path, kubeconfig: str, tasks: list, name: str = "play") -> dict:
    """Run tasks against the control plane with kubernetes.core; return the ansible.posix.json callback document."""
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


# With a label, as the stack's namespaces have: a real API server answers the second server-side apply of an object
# that sets nothing but its name with a write (its managedFields move to "before-first-apply"), so changed=1.
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "llmaas-test", "labels": {"app.kubernetes.io/part-of": "llmaas"}}}
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
def test_kubernetes_core_creates_waits_and_reads(kubeconfig, tmp_path):
    tasks = scoped([
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
    ], "created")
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


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["create_or_patch", "client_side_apply", "server_side_apply"])
def test_second_run_reports_no_change(kubeconfig, tmp_path, mode):
    """Idempotence as `molecule idempotence` sees it, for each kubernetes.core write path."""
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
    ns = f"idem-{mode.replace('_', '-')}"
    tasks.append({"name": "wait crd", "kubernetes.core.k8s_info": {
        "kind": "CustomResourceDefinition", "name": CRD["metadata"]["name"], "wait": True, "wait_timeout": 20,
        "wait_sleep": 1, "wait_condition": {"type": "Established", "status": "True"}}})
    tasks.append({"name": "apply Widget", "kubernetes.core.k8s": {"definition": WIDGET, **options}})
    tasks = scoped(tasks, ns)
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
        "definition": scoped(edited, ns), **options}}], "third")
    assert assert_ok(third)["changed"] == 1
    result = task_results(third)["edit"]["result"]
    assert result["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")
    assert result["metadata"]["generation"] == 2
