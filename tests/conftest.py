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
