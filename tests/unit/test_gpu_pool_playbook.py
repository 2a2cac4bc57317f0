# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/gpu_pool.yml run for real against a recording double of google.cloud and of gcloud.

What is real: the playbook, the preflight contract, the gpu_node pool computation and Ansible's templating. What is
a double: tests/unit/fixtures/fake_gcp (google.cloud modules that log their arguments and answer canned resources)
and a gcloud script that logs its argv. The promises: every GKE call addresses the cluster's location (GKE answers
404 for a zonal cluster addressed at its region), and the region has an active proxy-only subnet for the internal
Gateway class, created when missing.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).resolve().parent / "fixtures" / "fake_gcp"
GCP = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())["llmaas_gcp"]


def _run(tmp_path, state, extra=None):
    log, state_file, gcloud = tmp_path / "calls.jsonl", tmp_path / "state.json", tmp_path / "gcloud"
    state_file.write_text(json.dumps(state))
    gcloud.write_text(f"#!/bin/sh\nprintf '%s\\n' \"gcloud $*\" >> {log}\n")
    gcloud.chmod(0o755)
    extra_vars = dict({"gpu_pool_gcloud": str(gcloud)}, **(extra or {}))
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories/gke_l4"),
           str(ROOT / "playbooks/gpu_pool.yml"), "-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=f"{FAKE}:{ROOT / '.collections'}", FAKE_GCP_LOG=str(log),
               FAKE_GCP_STATE=str(state_file))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = log.read_text().splitlines() if log.exists() else []
    modules = [json.loads(line) for line in lines if line.startswith("{")]
    commands = [line for line in lines if line.startswith("gcloud ")]
    return proc, modules, commands


PROXY_SUBNET = {"name": "proxy-only", "purpose": "REGIONAL_MANAGED_PROXY", "role": "ACTIVE",
                "network": f"https://www.googleapis.com/compute/v1/projects/{GCP['project']}/global/networks/default"}


def test_every_gke_call_addresses_the_cluster_location(tmp_path):
    proc, modules, commands = _run(tmp_path, {})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    container = [m for m in modules if m["module"].startswith("gcp_container_")]
    assert container, "the playbook read no node pools"
    for call in container:
        assert call["args"]["location"] == GCP["cluster_location"], call
    pools = [c for c in commands if " node-pools " in c]
    assert pools and all(f"--location={GCP['cluster_location']}" in c for c in pools), pools


def test_a_missing_proxy_only_subnet_is_created_in_the_region(tmp_path):
    proc, modules, commands = _run(tmp_path, {"gcp_compute_subnetwork_info": [
        {"name": "default", "network": PROXY_SUBNET["network"]}]})
    assert proc.returncode == 0, proc.stdout[-3000:]
    (read,) = [m for m in modules if m["module"] == "gcp_compute_subnetwork_info"]
    assert read["args"]["region"] == GCP["region"]
    (create,) = [c for c in commands if " subnets create " in c]
    for flag in ("--purpose=REGIONAL_MANAGED_PROXY", "--role=ACTIVE", f"--region={GCP['region']}",
                 "--network=default", "--range=10.129.0.0/23"):
        assert flag in create, create


def test_an_existing_proxy_only_subnet_is_left_alone(tmp_path):
    proc, _, commands = _run(tmp_path, {"gcp_compute_subnetwork_info": [PROXY_SUBNET]})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not [c for c in commands if " subnets " in c]


def test_a_missing_subnet_that_may_not_be_created_stops_the_play(tmp_path):
    proc, _, commands = _run(tmp_path, {}, {"gpu_pool_proxy_subnet": {
        "network": "default", "name": "x", "cidr": "10.129.0.0/23", "create": False}})
    assert proc.returncode != 0
    assert "no active proxy-only subnet" in proc.stdout and "gpu_pool_proxy_subnet.create" in proc.stdout
    assert not [c for c in commands if " subnets " in c]


def test_the_inventorys_vpc_network_is_where_the_subnet_is_created(tmp_path):
    """llmaas_gcp.network (default `default`) is an inventory setting the contract accepts and the play reads."""
    proc, _, commands = _run(tmp_path, {}, {"llmaas_gcp": dict(GCP, network="llm-vpc")})
    assert proc.returncode == 0, proc.stdout[-3000:]
    (create,) = [c for c in commands if " subnets create " in c]
    assert "--network=llm-vpc" in create, create
