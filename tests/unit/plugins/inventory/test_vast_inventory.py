# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The llmaas.platform.vast inventory plugin, run by the real ansible-inventory against the Vast API EMULATOR."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from emulators.vast_api import VastAPIEmulator

from ansible_collections.llmaas.platform.plugins.inventory.vast import InventoryModule, gpu_group_name, host_vars

ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")


@pytest.fixture
def emulator():
    with VastAPIEmulator(api_key="good-key") as emu:
        emu.add_instance("llmaas-vast-0")
        emu.add_instance("llmaas-vast-1", actual_status="loading")
        emu.add_instance("scratchpad")
        yield emu


def plain(value):
    """ansible-inventory marks plugin-provided strings as unsafe (never templated); compare their values."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(tmp_path, emu, config, api_key="good-key"):
    cfg = tmp_path / "vast.yml"
    cfg.write_text(config)
    env = dict(os.environ, VAST_API_KEY=api_key, VAST_API_URL=emu.url,
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_INVENTORY_ENABLED="llmaas.platform.vast", ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
               ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(cfg), "--list"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    return proc


def test_running_instances_become_hosts_with_ssh_and_gpu_facts(tmp_path, emulator):
    proc = inventory(tmp_path, emulator, "plugin: llmaas.platform.vast\nlabel_prefix: llmaas-vast-\n")
    assert proc.returncode == 0, proc.stderr
    data = plain(json.loads(proc.stdout))
    hosts = data["_meta"]["hostvars"]
    assert sorted(hosts) == ["llmaas-vast-0"], "loading and non-matching instances must be left out"
    hv = hosts["llmaas-vast-0"]
    seeded = next(i for i in emulator.instances.values() if i["label"] == "llmaas-vast-0")
    assert hv["ansible_host"] == seeded["ssh_host"]
    assert hv["ansible_port"] == seeded["ssh_port"]
    assert hv["ansible_user"] == "root"
    assert hv["gpu_name"] == "RTX 4090"
    assert hv["num_gpus"] == 2
    assert hv["gpu_ram"] == 24564
    assert hv["cuda_version"] == 12.8
    assert hv["vast_instance_id"] == seeded["id"]
    assert hv["vast_ports"]["22/tcp"] > 0
    assert "llmaas-vast-0" in data["vast"]["hosts"]
    assert "llmaas-vast-0" in data["vast_gpu_rtx_4090"]["hosts"]


def test_labels_compose_and_keyed_groups(tmp_path, emulator):
    config = """plugin: llmaas.platform.vast
labels: [scratchpad]
ssh_endpoint: direct
compose:
  k3s_gpu_count: num_gpus * 1
keyed_groups:
  - key: gpu_name
    prefix: model
groups:
  k3s_cluster: true
"""
    proc = inventory(tmp_path, emulator, config)
    assert proc.returncode == 0, proc.stderr
    data = plain(json.loads(proc.stdout))
    hv = data["_meta"]["hostvars"]["scratchpad"]
    assert hv["ansible_host"] == "203.0.113.11"  # public_ipaddr with ssh_endpoint: direct
    assert hv["ansible_port"] == hv["vast_ports"]["22/tcp"]
    assert hv["k3s_gpu_count"] == 2
    assert "scratchpad" in data["k3s_cluster"]["hosts"]
    assert "scratchpad" in data["model_RTX_4090"]["hosts"]


def test_include_not_running(tmp_path, emulator):
    config = "plugin: llmaas.platform.vast\nlabel_prefix: llmaas-vast-\ninclude_not_running: true\n"
    proc = inventory(tmp_path, emulator, config)
    assert proc.returncode == 0, proc.stderr
    hosts = plain(json.loads(proc.stdout))["_meta"]["hostvars"]
    assert sorted(hosts) == ["llmaas-vast-0", "llmaas-vast-1"]
    assert hosts["llmaas-vast-1"]["vast_status"] == "loading"


def test_wrong_key_fails_the_source_with_a_clear_message(tmp_path, emulator):
    proc = inventory(tmp_path, emulator, "plugin: llmaas.platform.vast\n", api_key="nope")
    assert proc.returncode != 0
    assert "API key rejected" in proc.stderr


def test_only_vast_yml_files_are_claimed(tmp_path):
    plugin = InventoryModule()
    for name in ("vast.yml", "prod.vast.yaml"):
        (tmp_path / name).write_text("plugin: llmaas.platform.vast\n")
        assert plugin.verify_file(str(tmp_path / name))
    (tmp_path / "hosts.yml").write_text("plugin: llmaas.platform.vast\n")
    assert not plugin.verify_file(str(tmp_path / "hosts.yml"))


def test_host_vars_and_group_names_without_a_server():
    hv = host_vars({"id": 5, "label": "x", "actual_status": "running", "ssh_host": " ssh4.vast.ai ",
                    "ssh_port": "20005", "gpu_name": "H100 SXM", "num_gpus": 8, "gpu_ram": 81559,
                    "cuda_max_good": 12.8, "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40005"}]}})
    assert hv["ansible_host"] == "ssh4.vast.ai" and hv["ansible_port"] == 20005
    assert hv["gpu_total_ram"] == 8 * 81559
    assert gpu_group_name("H100 SXM") == "vast_gpu_h100_sxm"
    assert gpu_group_name(None) == "vast_gpu_unknown"
