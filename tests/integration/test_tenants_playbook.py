"""playbooks/tenants.yml against the LiteLLM management-API emulator (tests/emulators/litellm_api.py, which
validates request bodies with the installed litellm package's own models): creates teams and keys, is
idempotent, and hands keys over in 0600 files that never appear in the playbook output."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emulators.litellm_api import LiteLLMEmulator

ROOT = Path(__file__).resolve().parents[2]
MASTER = "sk-tenants-test-master"
MODELS = ["qwen-coder-chat", "qwen-coder-fim", "qwen-coder-agent"]


def run(inventory, out_dir, api_url, extra=()):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               LITELLM_API_URL=api_url, LITELLM_MASTER_KEY=MASTER)
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories" / inventory),
           str(ROOT / "playbooks" / "tenants.yml"), "-e", f"tenants_output_dir={out_dir}", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def recap(stdout):
    line = next(row for row in stdout.splitlines() if row.startswith("localhost"))
    return {k: int(v) for k, v in (p.split("=") for p in line.split()[2:])}


@pytest.fixture
def emulator():
    with LiteLLMEmulator(master_key=MASTER, models=MODELS) as emu:
        yield emu


def test_first_run_creates_second_is_a_no_op(emulator, tmp_path):
    first = run("gke_l4", tmp_path, emulator.url)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap(first.stdout)["changed"] > 0
    assert set(emulator.teams) == {"team-platform"}
    aliases = sorted(row.get("key_alias") for row in emulator.keys.values())
    assert aliases == ["platform-ci", "platform-ide-alice"]

    keys = {}
    for alias in aliases:
        key_file = tmp_path / alias / "key"
        config_file = tmp_path / alias / "continue.yaml"
        for path in (key_file, config_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE((tmp_path / alias).stat().st_mode) == 0o700
        keys[alias] = key_file.read_text().strip()
        assert keys[alias].startswith("sk-")
        # The key is no placeholder: the emulator stores it under LiteLLM's sha256 token hash.
        from litellm.proxy._types import hash_token
        assert emulator.keys[hash_token(keys[alias])]["key_alias"] == alias

        config = yaml.safe_load(config_file.read_text())
        assert config["schema"] == "v1" and config["name"] and config["version"]
        by_role = {}
        for model in config["models"]:
            assert model["apiKey"] == keys[alias]
            assert model["apiBase"] == "https://llm.example.com/v1"
            for role in model["roles"]:
                by_role.setdefault(role, []).append(model)
        auto = by_role["autocomplete"][0]
        assert auto["model"] == "qwen-coder-fim" and auto["useLegacyCompletionsEndpoint"] is True
        assert auto["promptTemplates"]["autocomplete"] == \
            "<|fim_prefix|>{{{prefix}}}<|fim_suffix|>{{{suffix}}}<|fim_middle|>"
        agent = next(m for m in config["models"] if "tool_use" in m.get("capabilities", []))
        assert agent["model"] == "qwen-coder-agent"
        assert any(m["model"] == "qwen-coder-chat" for m in by_role["chat"])

    second = run("gke_l4", tmp_path, emulator.url)
    assert second.returncode == 0, second.stdout[-4000:]
    assert recap(second.stdout)["changed"] == 0, second.stdout[-4000:]
    assert len(emulator.keys) == 2

    for proc in (first, second):
        for value in [*keys.values(), MASTER]:
            assert value not in proc.stdout and value not in proc.stderr


def test_lost_key_file_fails_clearly(emulator, tmp_path):
    assert run("gke_l4", tmp_path, emulator.url).returncode == 0
    (tmp_path / "platform-ci" / "key").unlink()
    proc = run("gke_l4", tmp_path, emulator.url)
    assert proc.returncode != 0
    assert "No key file" in proc.stdout and "platform-ci" in proc.stdout


def test_missing_connection_settings_fail_before_any_call(emulator, tmp_path):
    proc = run("gke_l4", tmp_path, emulator.url, extra=["-e", "tenants_api_url="])
    assert proc.returncode != 0
    assert "Set LITELLM_API_URL" in proc.stdout
    assert not emulator.request_log
