"""The real KEDA operator (github.com/kedacore/keda/v2 cmd/operator v2.20.2, the app version of the pinned chart
charts.keda 2.20.2; built from tests/controlplane/keda) turns each rendered ScaledObject into the
HorizontalPodAutoscaler that scales its Deployment, against the real API server, with the bounds and behaviour the
inventory asked for.

Not run: KEDA's metrics API server and admission webhooks (separate binaries of the chart), so the HPA's external
metrics are never served and no scaling decision is tested; the operator runs with its own flag defaults (the chart
installs it, nothing here renders its Deployment), loopback addresses and an administrator's kubeconfig.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import config, dynamic

from controlplane.launcher import _PKI, free_port, http_ok, until
from render.conftest import INVENTORIES, ROOT, rendered  # noqa: F401  (session fixture: both stacks rendered)

pytestmark = pytest.mark.slow
TIMEOUT = 90
CRDS = Path(os.environ.get("LLMAAS_CRDS_DIR", ROOT.parent / "shared" / "crds")) / "keda"
NAMESPACE = "keda"  # where the chart installs the operator (its cluster object namespace)


def _until(probe, what, proc, log):
    return until(probe, what, TIMEOUT, proc, log, "keda-operator")


def _apply(dyn, obj):
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    meta = obj["metadata"]
    return resource.server_side_apply(body=obj, name=meta["name"], namespace=meta.get("namespace"),
                                      field_manager="llmaas-test", force_conflicts=True)


@pytest.fixture(scope="module")
def keda(control_plane, tmp_path_factory):
    """KEDA's CRDs registered from ../shared/crds/keda and the operator running; yields (dynamic client, log)."""
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    dyn = dynamic.DynamicClient(api)
    for path in sorted(CRDS.glob("*.yaml")):
        _apply(dyn, yaml.safe_load(path.read_text()))
    _apply(dyn, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    workdir = tmp_path_factory.mktemp("keda")
    # The operator's gRPC metrics service serves TLS from --cert-dir (tls.crt, tls.key, ca.crt); the chart's
    # certificate rotation would write them, here a throwaway CA does.
    pki = _PKI(workdir / "certs")
    pki.issue("tls", "keda-operator", server_names=["127.0.0.1", "localhost"])
    probe_port = free_port()
    args = [f"--metrics-bind-address=127.0.0.1:{free_port()}", f"--health-probe-bind-address=127.0.0.1:{probe_port}",
            f"--metrics-service-bind-address=127.0.0.1:{free_port()}", f"--cert-dir={workdir / 'certs'}",
            "--zap-log-level=info"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "KUBECONFIG": str(control_plane.kubeconfig),
           "WATCH_NAMESPACE": "", "POD_NAMESPACE": NAMESPACE, "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE}
    log = workdir / "keda-operator.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([str(control_plane.bindir / "keda-operator"), *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir, env=env)
    try:
        _until(lambda: http_ok(f"http://127.0.0.1:{probe_port}/readyz"), "the operator to be ready", proc, log)
        yield dynamic.DynamicClient(api), proc, log  # discovery after the CRDs exist
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a throwaway process: its graceful shutdown buys nothing here
            proc.kill()
            proc.wait(timeout=20)


def test_it_is_the_pinned_operator(keda):
    gomod = (Path(__file__).parent / "keda" / "go.mod").read_text()
    pinned = re.search(r"^\s*github\.com/kedacore/keda/v2 (v\S+)", gomod, re.M).group(1)
    _, proc, log = keda
    _until(lambda: f"KEDA Version: {pinned}" in log.read_text(), f"the operator to report KEDA {pinned}", proc, log)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_each_scaled_object_becomes_an_hpa_with_the_rendered_bounds(inventory, rendered, keda):  # noqa: F811
    dyn, proc, log = keda
    tree = rendered[inventory]
    scaled_objects = tree.objects(kind="ScaledObject")
    assert scaled_objects, f"{inventory} renders no ScaledObject"
    targets = [tree.one(so["spec"]["scaleTargetRef"]["kind"], so["spec"]["scaleTargetRef"]["name"])
               for so in scaled_objects]
    namespaces = {o["metadata"]["namespace"] for o in scaled_objects}
    try:
        for obj in [n for n in tree.objects(kind="Namespace") if n["metadata"]["name"] in namespaces] + targets:
            _apply(dyn, obj)
        for so in scaled_objects:
            _apply(dyn, so)
        scaled = dyn.resources.get(api_version="keda.sh/v1alpha1", kind="ScaledObject")
        hpas = dyn.resources.get(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler")
        for so in scaled_objects:
            meta, spec = so["metadata"], so["spec"]
            # KEDA names the HPA it owns in the ScaledObject's status.
            hpa_name = _until(lambda meta=meta: (scaled.get(name=meta["name"], namespace=meta["namespace"])
                                                 .to_dict().get("status", {}).get("hpaName")),
                              f"KEDA to create the HPA of ScaledObject {meta['name']}", proc, log)
            hpa = hpas.get(name=hpa_name, namespace=meta["namespace"]).to_dict()["spec"]
            assert hpa["scaleTargetRef"]["kind"] == spec["scaleTargetRef"]["kind"]
            assert hpa["scaleTargetRef"]["name"] == spec["scaleTargetRef"]["name"]
            assert hpa["maxReplicas"] == spec["maxReplicaCount"]
            # An HPA cannot hold 0 replicas: KEDA sets its minimum to 1 and scales 0 <-> 1 itself (activation).
            assert hpa["minReplicas"] == max(1, spec.get("minReplicaCount", 0)), hpa
            behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
            if behavior:
                for direction, rules in behavior.items():
                    for key, value in rules.items():
                        assert hpa["behavior"][direction][key] == value, (direction, key, hpa["behavior"])
            assert [m["type"] for m in hpa["metrics"]] == ["External"] * len(spec["triggers"]), hpa["metrics"]
    finally:
        for obj in scaled_objects + targets:
            resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            resource.delete(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"])
