# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key delivery as Kubernetes Secrets (delivery.mode secret, tenants_delivery=secret) against a REAL
kube-apiserver (tests/controlplane/launcher.py) and the LiteLLM management-API EMULATOR: the Secret a
consumer reads holds the value of the alias's key on the gateway; lost Secrets and interrupted runs converge."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from emulators.litellm_api import LiteLLMEmulator, run_module
from integration.test_tenants_playbook import MASTER
from litellm.proxy._types import hash_token

from ansible_collections.llmaas.platform.plugins.modules import litellm_keys

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "llmaas-gateway"


@pytest.fixture(scope="module")
def plane(control_plane):
    """The session's real control plane, with the namespace the keys are delivered to."""
    control_plane.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": NAMESPACE}})
    return control_plane


@pytest.fixture
def core(plane):
    from kubernetes import client, config
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(plane.kubeconfig)))
    for secret in api.list_namespaced_secret(NAMESPACE).items:
        api.delete_namespaced_secret(secret.metadata.name, NAMESPACE)
    return api


def secret_value(core, name, field="LITELLM_API_KEY"):
    from kubernetes.client.rest import ApiException
    try:
        data = core.read_namespaced_secret(name, NAMESPACE).data or {}
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return base64.b64decode(data[field]).decode() if field in data else None


def delivery(plane):
    return dict(mode="secret", namespace=NAMESPACE, kubeconfig=str(plane.kubeconfig),
                api_base="https://llm.example.com/v1")


def test_module_delivers_secrets_and_recovers(plane, core):
    with LiteLLMEmulator() as emu:
        args = dict(api_url=emu.url, master_key=emu.master_key, retry_backoff=0.01, delivery=delivery(plane),
                    keys=[dict(key_alias="team-a-ci"), dict(key_alias="team-b-ide")])
        first = run_module(litellm_keys, args)
        assert not first.get("failed"), first
        for alias in ("team-a-ci", "team-b-ide"):
            value = secret_value(core, "litellm-key-" + alias)
            assert emu.keys[hash_token(value)]["key_alias"] == alias
            assert secret_value(core, "litellm-key-" + alias, "OPENAI_API_BASE") == "https://llm.example.com/v1"
            assert secret_value(core, "litellm-key-%s-pending" % alias) is None
            labels = core.read_namespaced_secret("litellm-key-" + alias, NAMESPACE).metadata.labels
            assert labels["llmaas.platform/key-alias"] == alias
        assert run_module(litellm_keys, args)["changed"] is False

        # a lost Secret: reported, then regenerated on request
        core.delete_namespaced_secret("litellm-key-team-a-ci", NAMESPACE)
        lost = run_module(litellm_keys, args)
        assert lost["failed"] is True and lost["undelivered"] == ["team-a-ci"]
        fixed = run_module(litellm_keys, dict(args, missing_value="regenerate"))
        assert not fixed.get("failed"), fixed
        value = secret_value(core, "litellm-key-team-a-ci")
        assert emu.keys[hash_token(value)]["key_alias"] == "team-a-ci" and len(emu.keys) == 2

        # the state a run killed between create and promote leaves: only the pending Secret
        body = core.read_namespaced_secret("litellm-key-team-b-ide", NAMESPACE)
        core.delete_namespaced_secret("litellm-key-team-b-ide", NAMESPACE)
        body.metadata = type(body.metadata)(name="litellm-key-team-b-ide-pending", namespace=NAMESPACE)
        core.create_namespaced_secret(NAMESPACE, body)
        again = run_module(litellm_keys, args)
        assert again["actions"]["team-b-ide"] == "deliver", again
        assert emu.keys[hash_token(secret_value(core, "litellm-key-team-b-ide"))]["key_alias"] == "team-b-ide"
        assert secret_value(core, "litellm-key-team-b-ide-pending") is None


def test_tenants_playbook_secret_delivery(plane, core, tmp_path):
    with LiteLLMEmulator(master_key=MASTER, models=["qwen-coder-chat", "qwen-coder-fim", "qwen-coder-agent"]) as emu:
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   LITELLM_API_URL=emu.url, LITELLM_MASTER_KEY=MASTER)
        cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories" / "gke_l4"),
               str(ROOT / "playbooks" / "tenants.yml"), "-e", "tenants_delivery=secret",
               "-e", "tenants_secret_namespace=%s" % NAMESPACE, "-e", "llmaas_kubeconfig=%s" % plane.kubeconfig,
               "-e", "tenants_output_dir=%s" % tmp_path]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        for alias in ("platform-ci", "platform-ide-alice"):
            value = secret_value(core, "litellm-key-" + alias)
            assert emu.keys[hash_token(value)]["key_alias"] == alias
            assert value not in proc.stdout
            assert secret_value(core, "litellm-key-" + alias, "OPENAI_API_BASE") == "https://llm.example.com/v1"
        assert not any(tmp_path.rglob("*"))  # nothing on the controller's disk in secret mode
