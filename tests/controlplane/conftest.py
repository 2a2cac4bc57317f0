"""A session-scoped real control plane for the tests that need a Kubernetes API server (launcher.py)."""

import os

import pytest

from controlplane.fake_nodes import gke_fake_nodes
from controlplane.launcher import ControlPlane, build

# Two pools shaped like gke_l4's (the molecule scenarios derive theirs from the inventory through the gpu layer).
POOLS = [
    {"name": "platform", "cluster": "test", "machine_type": "e2-standard-4", "location": "us-central1-a",
     "labels": {"llmaas.platform/pool": "platform"}, "taints": [], "max_nodes": 1},
    {"name": "gpu-l4", "cluster": "test", "machine_type": "g2-standard-4", "location": "us-central1-a",
     "labels": {"llmaas.platform/pool": "gpu"}, "max_nodes": 1,
     "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
     "accelerator": {"type": "nvidia-l4", "count": 1, "sharing": None}},
]


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    try:
        bindir = build()
    except RuntimeError as err:
        if os.environ.get("CI"):
            pytest.fail(str(err), pytrace=False)  # CI must build it: a failure is a broken set-up, not a skip
        pytest.skip(str(err))
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), bindir, gke_fake_nodes(POOLS))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
