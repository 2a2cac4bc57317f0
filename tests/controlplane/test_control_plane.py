"""The control plane the molecule scenarios verify against can tell a working stack from a broken one: the real
admission refuses what a cluster refuses, the real controllers and scheduler place what a cluster places."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from controlplane.fake_nodes import gke_allocatable
from controlplane.launcher import until

pytestmark = pytest.mark.slow
TIMEOUT = 60

RESTRICTED = {
    "runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.fixture(scope="module")
def api(control_plane):
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig))


def _namespace(api, name, level="restricted"):
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": level}}})
    deadline = time.monotonic() + TIMEOUT  # the token controller gives each namespace its service account
    while time.monotonic() < deadline:
        if client.CoreV1Api(api).list_namespaced_service_account(name).items:
            return
        time.sleep(0.5)
    raise TimeoutError(f"no default service account in {name}")


def _deployment(api, namespace, name, container, pod_spec=None):
    labels = {"app": name}
    body = {"metadata": {"name": name}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "main", "image": "registry.example/app:1.0", **container}],
                              **(pod_spec or {})}}}}
    client.AppsV1Api(api).create_namespaced_deployment(namespace, body)


def _until(probe, what):
    return until(probe, what, TIMEOUT)


def _refusals(api, namespace):
    events = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector="reason=FailedCreate").items
    return [e.message for e in events]


def _pods(api, namespace, app):
    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={app}").items


def test_it_is_the_pinned_kube_apiserver(control_plane):
    gomod = (Path(__file__).parent / "kubernetes" / "go.mod").read_text()
    pinned = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", gomod, re.M).group(1)
    assert control_plane.version() == pinned


def test_pod_security_refuses_a_root_pod_and_admits_a_restricted_one(api):
    _namespace(api, "psa")
    _deployment(api, "psa", "root", {"securityContext": {"privileged": True}})
    _deployment(api, "psa", "restricted", {"securityContext": RESTRICTED})
    refusals = _until(lambda: _refusals(api, "psa"), "a FailedCreate event")
    assert any("violates PodSecurity" in m and "restricted" in m for m in refusals), refusals
    available = _until(lambda: client.AppsV1Api(api).read_namespaced_deployment("restricted", "psa")
                       .status.available_replicas, "the restricted Deployment to become available")
    assert available == 1
    assert _pods(api, "psa", "root") == []


def test_priority_admission_refuses_an_unknown_class(api):
    _namespace(api, "prio", level="baseline")
    _deployment(api, "prio", "unknown-class", {}, {"priorityClassName": "no-such-class"})
    refusals = _until(lambda: _refusals(api, "prio"), "a FailedCreate event")
    assert any("no PriorityClass with name no-such-class" in m for m in refusals), refusals


def test_the_scheduler_puts_gpu_pods_on_the_gpu_node_only(api):
    _namespace(api, "gpu", level="baseline")
    gpu = {"resources": {"limits": {"nvidia.com/gpu": "1"}}}
    toleration = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}
    _deployment(api, "gpu", "model", gpu, toleration)
    _deployment(api, "gpu", "web", {"resources": {"requests": {"cpu": "100m"}}}, toleration)
    _deployment(api, "gpu", "untolerated", gpu)
    model = _until(lambda: [p for p in _pods(api, "gpu", "model") if p.spec.node_name], "the GPU pod to be bound")
    assert model[0].spec.node_name == "gke-test-gpu-l4-0"
    # the one GPU is taken: a second GPU pod, or one without the toleration, stays Pending with a reason
    unscheduled = _until(lambda: [p for p in _pods(api, "gpu", "untolerated")
                                  if any(c.reason == "Unschedulable" for c in (p.status.conditions or []))],
                         "the untolerated GPU pod to be reported unschedulable")
    assert unscheduled[0].spec.node_name is None


def test_fake_nodes_offer_what_gke_leaves_to_pods(api):
    node = client.CoreV1Api(api).read_node("gke-test-platform-0")
    cpu, memory = gke_allocatable(4, 16)
    assert node.status.allocatable["cpu"] == f"{cpu}m" and node.status.allocatable["memory"] == f"{memory}Mi"
    assert cpu == 3920  # 6% of core 1, 1% of core 2, 0.5% of cores 3-4
    assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def test_a_killed_starter_takes_its_components_with_it(control_plane, tmp_path):
    """A pytest or supervisor killed with SIGKILL runs no clean-up: the components must still go (PDEATHSIG)."""
    starter = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from controlplane.launcher import ControlPlane, free_port\n"
        f"plane = ControlPlane({str(tmp_path)!r}, {str(control_plane.bindir)!r})\n"
        "plane.dir.mkdir(parents=True, exist_ok=True)\n"
        "port = free_port()\n"
        "plane._spawn('etcd', ['--data-dir=etcd', f'--listen-client-urls=http://127.0.0.1:{port}',\n"
        "                      f'--advertise-client-urls=http://127.0.0.1:{port}',\n"
        "                      f'--listen-peer-urls=http://127.0.0.1:{free_port()}'])\n"
        "print(plane.procs['etcd'][0].pid, flush=True)\n"
        f"time.sleep({TIMEOUT})\n")],
        stdout=subprocess.PIPE, text=True)
    etcd = None
    try:
        etcd = int(starter.stdout.readline())
        assert not _exited(etcd), "etcd did not start"
        starter.kill()
        starter.wait(timeout=TIMEOUT)
        until(lambda: _exited(etcd), "etcd to exit after its starter was killed", TIMEOUT)
    finally:
        starter.kill()
        starter.wait(timeout=TIMEOUT)
        if etcd and not _exited(etcd):
            os.kill(etcd, signal.SIGKILL)  # the orphan of a failed run


def _exited(pid):
    """Gone, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True
