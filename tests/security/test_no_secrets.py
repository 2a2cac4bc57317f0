"""No secret-shaped string in the rendered trees, in the playbook output, or in the repository's tracked files."""

import subprocess
import sys
from pathlib import Path

import pytest

from .secret_scan import scan_object, scan_text, scan_tree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from render.conftest import INVENTORIES, render  # noqa: E402

# Files that hold planted secrets on purpose (scanner self-tests) are checked by the planted test below instead.
SELF = {"tests/security/secret_scan.py", "tests/security/test_no_secrets.py"}
# Reviewed: readable master keys of local test servers (emulator / throwaway proxies), never valid anywhere else.
ALLOWED = {
    "tests/e2e/conftest.py": ["sk-e2e-test-master-key"],
    "tests/integration/test_tenants_playbook.py": ["sk-tenants-test-master"],
    "tests/emulators/litellm_api.py": ["sk-emulator-master-key"],
}


@pytest.fixture(scope="module")
def rendered_dirs(tmp_path_factory):
    out = {}
    for inventory in INVENTORIES:
        target = tmp_path_factory.mktemp(f"scan-{inventory}")
        proc = render(inventory, target)
        assert proc.returncode == 0, proc.stdout[-3000:]
        out[inventory] = (target, proc.stdout + proc.stderr)
    return out


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_rendered_tree_and_task_output_hold_no_secret(rendered_dirs, inventory):
    target, output = rendered_dirs[inventory]
    findings = scan_tree(target) + scan_text(output, f"{inventory} playbook output")
    assert not findings, "\n".join(findings)


def test_tracked_files_hold_no_secret():
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                          capture_output=True, check=True)
    findings = []
    for name in proc.stdout.decode().split("\0"):
        if not name or name in SELF:
            continue
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for allowed in ALLOWED.get(name, []):
            text = text.replace(allowed, "")
        findings.extend(scan_text(text, name))
    assert not findings, "\n".join(findings)


def test_the_scanner_catches_planted_secrets(tmp_path):
    """Prove the scanner is not blind: plant one secret of each shape and expect every one to be found."""
    fake_key = "sk-" + "A1b2C3d4" * 4
    (tmp_path / "layer").mkdir()
    (tmp_path / "layer" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: leaked}\ndata: {password: c3VwZXJzZWNyZXRwYXNzd29yZA==}\n")
    (tmp_path / "layer" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - name: c\n        env:\n        - name: POSTGRES_PASSWORD\n"
        "          value: hunter2hunter2\n        - name: LITELLM_MASTER_KEY\n"
        f"          value: {fake_key}\n")
    (tmp_path / "layer" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata:\n  key.pem: |\n"
        "    -----BEGIN RSA PRIVATE KEY-----\n    MIIB\n    -----END RSA PRIVATE KEY-----\n"
        "  db: postgresql://app:s3cr3tpass@db:5432/app\n")
    findings = "\n".join(scan_tree(tmp_path))
    for expected in ("Secret carries a value", "POSTGRES_PASSWORD", "LITELLM_MASTER_KEY", "openai-style key",
                     "private key", "password in URL"):
        assert expected in findings, f"scanner missed {expected}:\n{findings}"


def test_the_scanner_passes_references():
    ok = {"kind": "Deployment", "spec": {"containers": [{"env": [
        {"name": "OAUTH2_PROXY_CLIENT_SECRET", "valueFrom": {"secretKeyRef": {"name": "a", "key": "b"}}},
        {"name": "DATABASE_PASSWORD", "value": "$(PG_PASSWORD)"[0:0]},
        {"name": "LITELLM_MASTER_KEY", "value": "os.environ/LITELLM_MASTER_KEY"},
    ]}]}}
    assert scan_object(ok, "ok") == []
