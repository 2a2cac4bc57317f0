"""playbooks/tenants.yml against the LiteLLM management-API emulator (tests/emulators/litellm_api.py, which
validates request bodies with the installed litellm package's own models): creates teams and keys, is
idempotent, and hands keys over in 0600 files that never appear in the playbook output."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from emulators.litellm_api import LiteLLMEmulator

ROOT = Path(__file__).resolve().parents[2]
MASTER = "sk-tenants-test-master"
MODELS = ["qwen-coder-chat", "qwen-coder-fim", "qwen-coder-agent"]


def command(inventory, out_dir, api_url, extra=()):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               LITELLM_API_URL=api_url, LITELLM_MASTER_KEY=MASTER)
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories" / inventory),
           str(ROOT / "playbooks" / "tenants.yml"), "-e", f"tenants_output_dir={out_dir}", *extra]
    return cmd, env


def run(inventory, out_dir, api_url, extra=()):
    cmd, env = command(inventory, out_dir, api_url, extra)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def start_run(inventory, out_dir, api_url):
    cmd, env = command(inventory, out_dir, api_url)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


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


def converged(emulator, out_dir, aliases):
    """0 duplicate keys, 0 lost keys: one key per alias, its file holds that key, its Continue config too."""
    from litellm.proxy._types import hash_token
    on_gateway = sorted(row["key_alias"] for row in emulator.keys.values())
    assert on_gateway == sorted(aliases), on_gateway
    for alias in aliases:
        value = (out_dir / alias / "key").read_text().strip()
        assert emulator.keys[hash_token(value)]["key_alias"] == alias
        config = yaml.safe_load((out_dir / alias / "continue.yaml").read_text())
        assert {m["apiKey"] for m in config["models"]} == {value}


def test_lost_key_file_fails_clearly_others_converge_then_regenerates(emulator, tmp_path):
    assert run("gke_l4", tmp_path, emulator.url).returncode == 0
    (tmp_path / "platform-ci" / "key").unlink()
    (tmp_path / "platform-ide-alice" / "continue.yaml").unlink()
    proc = run("gke_l4", tmp_path, emulator.url)
    assert proc.returncode != 0
    assert "platform-ci" in proc.stdout and "-e tenants_missing_value=regenerate" in proc.stdout
    # the other key's Continue config is written even though the run fails
    assert (tmp_path / "platform-ide-alice" / "continue.yaml").exists()
    fixed = run("gke_l4", tmp_path, emulator.url, extra=["-e", "tenants_missing_value=regenerate"])
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    converged(emulator, tmp_path, ["platform-ci", "platform-ide-alice"])


def test_gateway_down_mid_run_then_rerun_converges(tmp_path):
    """The trial from issue 13 on the gke_l4 tenants: the gateway stops after the first creation."""
    with LiteLLMEmulator(master_key=MASTER, models=MODELS) as emu:
        emu.down_after_creations(1)
        start = time.monotonic()
        first = run("gke_l4", tmp_path, emu.url)
        elapsed = time.monotonic() - start
        assert first.returncode != 0
        assert "created and delivered 1 key(s)" in first.stdout and "Run again to finish" in first.stdout
        assert elapsed < 60, elapsed
        emu.come_up()
        again = run("gke_l4", tmp_path, emu.url)
        assert again.returncode == 0, again.stdout[-3000:]
        converged(emu, tmp_path, ["platform-ci", "platform-ide-alice"])


def test_controller_killed_mid_run_then_rerun_converges(tmp_path):
    """SIGKILL ansible-playbook (and its module) while it creates keys; the re-run finishes the job."""
    with LiteLLMEmulator(master_key=MASTER, models=MODELS) as emu:
        emu.fault_on("/key/generate", kind="slow", count=2, delay=3.0)  # applied, answered late
        proc = start_run("gke_l4", tmp_path, emu.url)
        deadline = time.monotonic() + 120
        while not emu.keys and time.monotonic() < deadline:
            time.sleep(0.1)
        assert emu.keys, "no key was created before the deadline"
        os.killpg(proc.pid, signal.SIGKILL)  # the module is waiting for the answer to its first create
        proc.wait(timeout=30)
        assert not (tmp_path / next(iter(emu.keys.values()))["key_alias"] / "key").exists()
        emu.clear_faults()
        again = run("gke_l4", tmp_path, emu.url)
        assert again.returncode == 0, again.stdout[-3000:]
        assert "deliver" in again.stdout  # the pending value the gateway already held, promoted
        converged(emu, tmp_path, ["platform-ci", "platform-ide-alice"])


@pytest.mark.parametrize("tenants, expected", [
    ([{"team_id": "team-a", "models": ["not-served"], "keys": [{"key_alias": "dup"}]},
      {"team_id": "team-b", "tpm_limit": -1, "keys": [{"key_alias": "dup", "budget_duration": "1y"},
                                                      {"key_alias": "Not_A_Name"}]}],
     ["llmaas_tenants['team-a'].models: unknown ['not-served']; models must be among",
      "llmaas_tenants['team-b'].tpm_limit: got -1; allowed: limits >= 0",
      "llmaas_tenants['team-b'].keys['dup'].budget_duration: got '1y'; allowed: a LiteLLM duration",
      "llmaas_tenants['team-b'].keys['Not_A_Name'].key_alias: got 'Not_A_Name'; allowed: lowercase letters",
      "llmaas_tenants: key_alias must be unique; duplicate aliases ['dup']"]),
    ([{"team_id": "team-a", "keys": [{"key_alias": "a", "rpm_limit": "60"}]}],
     ["llmaas_tenants['team-a'].keys['a'].rpm_limit: got '60' (str); allowed: an integer"]),
], ids=["rules", "types"])
def test_bad_tenant_list_refused_before_any_call(emulator, tmp_path, tenants, expected):
    """The platform contract checks the whole list (the same rules site.yml applies) before the first request."""
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"llmaas_tenants": tenants}))
    proc = run("gke_l4", tmp_path, emulator.url, extra=["-e", "@%s" % bad])
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # the refusal's lines may be folded
    for line in expected:
        assert line in out, out[-3000:]
    assert not emulator.request_log


def test_missing_connection_settings_fail_before_any_call(emulator, tmp_path):
    proc = run("gke_l4", tmp_path, emulator.url, extra=["-e", "tenants_api_url="])
    assert proc.returncode != 0
    assert "Set LITELLM_API_URL" in proc.stdout
    assert not emulator.request_log


def test_check_and_diff_modes_write_nothing_and_never_show_a_key(emulator, tmp_path):
    out = tmp_path / "out"
    check = run("gke_l4", out, emulator.url, extra=["--check", "--diff"])
    assert check.returncode == 0, check.stdout[-3000:]
    assert recap(check.stdout)["changed"] > 0
    assert not emulator.keys and not emulator.teams
    assert not out.exists() or not any(out.rglob("*"))
    assert run("gke_l4", out, emulator.url).returncode == 0
    values = [(out / alias / "key").read_text().strip() for alias in ("platform-ci", "platform-ide-alice")]
    changed = tmp_path / "changed.yml"
    tenants = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())["llmaas_tenants"]
    tenants[0]["keys"][0]["rpm_limit"] = 7
    tenants[0]["keys"][1]["rotation"] = "now"
    changed.write_text(yaml.safe_dump({"llmaas_tenants": tenants}))
    for mode in (["--check", "--diff"], ["--diff"]):
        proc = run("gke_l4", out, emulator.url, extra=[*mode, "-e", "@%s" % changed])
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "rpm_limit" in proc.stdout  # the diff is there
        for value in [*values, MASTER]:
            assert value not in proc.stdout and value not in proc.stderr
        assert "sk-" not in proc.stdout
    converged(emulator, out, ["platform-ci", "platform-ide-alice"])


def test_a_tenant_enforcing_a_guardrail_gets_only_the_guarded_groups(emulator, tmp_path):
    """gke_l4 (cost): PII masking is off by default; team-platform enforces it. Its team and keys are given only
    the guarded groups the gateway renders (`<name>+pii-masking`), and each Continue config names those."""
    tenants = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())["llmaas_tenants"]
    assert tenants[0]["team_id"] == "team-platform" and "models" not in tenants[0]
    tenants[0]["guardrails"] = ["pii-masking"]
    opted = tmp_path / "opted.yml"
    opted.write_text(yaml.safe_dump({"llmaas_tenants": tenants}))
    out = tmp_path / "out"
    proc = run("gke_l4", out, emulator.url, extra=["-e", "@%s" % opted])
    assert proc.returncode == 0, proc.stdout[-4000:]
    guarded = [f"{name}+pii-masking" for name in MODELS]
    assert emulator.teams["team-platform"]["models"] == guarded
    keys = {row["key_alias"]: row for row in emulator.keys.values()}
    assert sorted(keys) == ["platform-ci", "platform-ide-alice"]
    for alias, row in keys.items():
        assert sorted(row["models"]) == sorted(guarded), (alias, row["models"])
        config = yaml.safe_load((out / alias / "continue.yaml").read_text())
        assert sorted(m["model"] for m in config["models"]) == sorted(guarded)
    again = run("gke_l4", out, emulator.url, extra=["-e", "@%s" % opted])
    assert again.returncode == 0 and recap(again.stdout)["changed"] == 0, again.stdout[-3000:]


@pytest.mark.parametrize("guardrails, fragment", [
    (["pii-mask"], "'pii-mask' is no guardrail of the gateway; allowed: true or a list of guardrails that are off "
                   "by default: pii-masking"),
    (["prompt-injection"], "'prompt-injection' is on by default for every tenant (nothing to enforce)"),
    (False, "got false; allowed: true or a list of guardrails that are off by default: pii-masking. Taking a "
            "tenant out of the default-on guardrails needs LiteLLM Enterprise"),
], ids=["unknown", "default-on", "opt-out"])
def test_a_guardrail_opt_in_the_gateway_cannot_honour_is_refused_before_any_call(emulator, tmp_path, guardrails,
                                                                                 fragment):
    tenants = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())["llmaas_tenants"]
    tenants[0]["guardrails"] = guardrails
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"llmaas_tenants": tenants}))
    proc = run("gke_l4", tmp_path / "out", emulator.url, extra=["-e", "@%s" % bad])
    assert proc.returncode != 0
    assert "llmaas_tenants['team-platform'].guardrails: got " in proc.stdout
    assert fragment in proc.stdout, proc.stdout[-3000:]
    assert not emulator.request_log
