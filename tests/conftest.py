"""Make the working tree importable as ansible_collections.llmaas.platform for the unit tests."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"

link = COLLECTIONS / "ansible_collections" / "llmaas" / "platform"
if not link.exists():
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../..", link)

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[str(COLLECTIONS)])._install()
sys.path.insert(0, str(ROOT / "tests"))


# --- a real control plane (tests/controlplane/launcher.py), one per session for every test that needs an API server
import pytest  # noqa: E402

from controlplane.fake_nodes import gke_fake_nodes  # noqa: E402
from controlplane.launcher import ControlPlane, build  # noqa: E402

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
