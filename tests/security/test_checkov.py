"""Checkov over both rendered trees: 0 failed checks except the reviewed skips in checkov-skips.yml.

checkov pins clash with the main venv, so it runs from its own: LLMAAS_CHECKOV (default .venv-checkov/bin/checkov).
"""

import fnmatch
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SKIPS = yaml.safe_load((Path(__file__).with_name("checkov-skips.yml")).read_text())


def _checkov():
    path = Path(os.environ.get("LLMAAS_CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
    if not path.is_file():
        pytest.fail(f"checkov not found at {path}: run `make venv-checkov` or set LLMAAS_CHECKOV", pytrace=False)
    return str(path)


def _skip_for(check_id, resource):
    for entry in SKIPS:
        if entry["id"] == check_id and any(fnmatch.fnmatch(resource, g) for g in entry["resources"]):
            return entry
    return None


def test_skip_list_is_reviewed():
    for entry in SKIPS:
        assert entry["id"].startswith(("CKV_", "CKV2_")) and entry["resources"]
        assert len(entry["reason"].split()) >= 8, f"{entry['id']}: give a real reason"


@pytest.fixture(scope="module")
def findings(rendered):
    checkov = _checkov()
    results = {}
    for inventory, tree in rendered.items():
        proc = subprocess.run([checkov, "-d", str(tree.path), "--framework", "kubernetes", "--quiet", "--compact",
                               "-o", "json"], capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode in (0, 1), f"checkov crashed on {inventory}: {proc.stderr[-3000:]}"
        reports = json.loads(proc.stdout or "[]")
        reports = reports if isinstance(reports, list) else [reports]
        failed = [f for r in reports for f in r.get("results", {}).get("failed_checks", [])]
        passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
        assert passed > 100, f"{inventory}: checkov passed only {passed} checks; did it scan the tree?"
        results[inventory] = failed
    return results


def test_no_unreviewed_checkov_failures(findings):
    unreviewed = []
    used = set()
    for inventory, failed in findings.items():
        for f in failed:
            entry = _skip_for(f["check_id"], f["resource"])
            if entry is None:
                unreviewed.append(
                    f"{inventory}: {f['check_id']} {f['check_name']} - {f['resource']} ({f['file_path']})")
            else:
                used.add(entry["id"])
    assert not unreviewed, "checkov failures without a reviewed skip:\n" + "\n".join(unreviewed)
    stale = [e["id"] for e in SKIPS if e["id"] not in used]
    assert not stale, f"skip entries no longer needed (remove them): {stale}"
