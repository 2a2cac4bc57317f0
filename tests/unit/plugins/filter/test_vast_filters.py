# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Computed settings of the k3s_node role (plugins/filter/vast.py)."""

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.filter.vast import (
    FilterModule,
    k3s_api_endpoint,
    k3s_gpu_node_labels,
    k3s_install_args,
    k3s_public_kubeconfig,
    k8s_label_value,
    nvidia_time_slicing_config,
)

HOST = {"gpu_name": "RTX 4090", "num_gpus": 2, "gpu_ram": 24564, "cuda_version": 12.8,
        "vast_public_ipaddr": "203.0.113.11", "ansible_host": "ssh5.vast.ai",
        "vast_ports": {"22/tcp": 41022, "6443/tcp": 41023}}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"k8s_label_value", "k3s_gpu_node_labels", "k3s_install_args",
                                             "nvidia_time_slicing_config", "k3s_api_endpoint",
                                             "k3s_public_kubeconfig"}


@pytest.mark.parametrize("raw, expected", [
    ("RTX 4090", "RTX-4090"),
    ("H100 SXM", "H100-SXM"),
    (12.8, "12.8"),
    ("--weird__", "weird"),
    ("x" * 80, "x" * 63),
    (None, ""),
])
def test_label_values_are_valid(raw, expected):
    assert k8s_label_value(raw) == expected


def test_gpu_node_labels_from_inventory_facts():
    labels = k3s_gpu_node_labels(HOST, extra={"llmaas.io/pool": "serving"}, time_slicing_replicas=4)
    assert labels == {
        "llmaas.io/cuda-max": "12.8",
        "llmaas.io/gpu-count": "2",
        "llmaas.io/gpu-memory-gib": "24",
        "llmaas.io/gpu-model": "RTX-4090",
        "llmaas.io/gpu-sharing": "time-slicing",
        "llmaas.io/pool": "serving",
        "llmaas.io/substrate": "vast",
        "nvidia.com/gpu.present": "true",
    }
    assert list(labels) == sorted(labels), "labels must come out in a stable order"


def test_no_sharing_label_without_time_slicing():
    assert "llmaas.io/gpu-sharing" not in k3s_gpu_node_labels(HOST, time_slicing_replicas=1)


def test_bad_label_key_is_rejected():
    with pytest.raises(AnsibleFilterError, match="invalid Kubernetes label key"):
        k3s_gpu_node_labels(HOST, extra={"bad key!": "x"})


def test_server_args_are_complete_and_deterministic():
    labels = {"nvidia.com/gpu.present": "true", "llmaas.io/gpu-model": "RTX-4090"}
    args = k3s_install_args("server", "llmaas-vast-0", labels=labels, taints=[],
                            node_external_ip="203.0.113.11", tls_san=["203.0.113.11", "203.0.113.11", "a.example"],
                            disable=["traefik", "servicelb", "traefik"])
    assert args == [
        "server",
        "--node-name=llmaas-vast-0",
        "--node-external-ip=203.0.113.11",
        "--default-runtime=nvidia",
        "--disable=servicelb",
        "--disable=traefik",
        "--tls-san=203.0.113.11",
        "--tls-san=a.example",
        "--write-kubeconfig-mode=0600",
        "--node-label=llmaas.io/gpu-model=RTX-4090",
        "--node-label=nvidia.com/gpu.present=true",
    ]
    # Same input in another order gives byte-identical arguments (the install guard compares them).
    again = k3s_install_args("server", "llmaas-vast-0", labels=dict(reversed(list(labels.items()))),
                             node_external_ip="203.0.113.11", tls_san=["a.example", "203.0.113.11"],
                             disable=["servicelb", "traefik"])
    assert again == args


def test_agent_args_carry_the_gpu_taint_and_no_server_flags():
    args = k3s_install_args("agent", "llmaas-vast-1", labels={"nvidia.com/gpu.present": "true"},
                            taints=["nvidia.com/gpu=present:NoSchedule"], tls_san=["x"], disable=["traefik"])
    assert args[0] == "agent"
    assert "--node-taint=nvidia.com/gpu=present:NoSchedule" in args
    assert not any(a.startswith(("--tls-san", "--disable", "--write-kubeconfig-mode")) for a in args)
    assert not any("token" in a.lower() for a in args), "the join token must never be on the command line"


@pytest.mark.parametrize("kwargs, message", [
    ({"role": "worker", "node_name": "n"}, "must be 'server' or 'agent'"),
    ({"role": "agent", "node_name": ""}, "node name must not be empty"),
    ({"role": "agent", "node_name": "n", "taints": ["nvidia.com/gpu=present"]}, "invalid taint"),
    ({"role": "agent", "node_name": "n", "extra_args": [5]}, "must be strings"),
])
def test_bad_install_input_is_a_clear_error(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        k3s_install_args(**kwargs)


def test_time_slicing_config_matches_the_device_plugin_format():
    config = nvidia_time_slicing_config(4)
    assert config == {
        "version": "v1",
        "flags": {"migStrategy": "none"},
        "sharing": {"timeSlicing": {"renameByDefault": False, "failRequestsGreaterThanOne": False,
                                    "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}},
    }
    # Rendered twice, byte-identical YAML (what the role writes into the ConfigMap).
    assert yaml.safe_dump(config, sort_keys=True) == yaml.safe_dump(nvidia_time_slicing_config("4"), sort_keys=True)


def test_one_replica_means_no_sharing():
    assert "sharing" not in nvidia_time_slicing_config(1)


@pytest.mark.parametrize("bad", [0, -2, "many", None])
def test_bad_replicas_are_rejected(bad):
    with pytest.raises(AnsibleFilterError, match="replicas"):
        nvidia_time_slicing_config(bad)


def test_api_endpoint_uses_the_port_vast_maps_to_6443():
    assert k3s_api_endpoint(HOST) == "https://203.0.113.11:41023"
    assert k3s_api_endpoint({"ansible_host": "10.0.0.5"}) == "https://10.0.0.5:6443"
    with pytest.raises(AnsibleFilterError, match="k3s API address"):
        k3s_api_endpoint({})


def test_public_kubeconfig_points_at_the_public_endpoint():
    k3s_yaml = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:6443",
                                                      "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "default", "user": {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "current-context": "default",
    }
    out = k3s_public_kubeconfig(k3s_yaml, "https://203.0.113.11:41023", "llmaas-vast")
    assert out["clusters"] == [{"name": "llmaas-vast", "cluster": {"server": "https://203.0.113.11:41023",
                                                                    "certificate-authority-data": "Q0E="}}]
    assert out["users"][0]["user"]["client-key-data"] == "a2V5"
    assert out["current-context"] == "llmaas-vast"
    assert out["contexts"] == [{"name": "llmaas-vast", "context": {"cluster": "llmaas-vast", "user": "llmaas-vast"}}]
    assert k3s_yaml["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443", "input must not be mutated"
    with pytest.raises(AnsibleFilterError, match="not a kubeconfig"):
        k3s_public_kubeconfig({}, "https://x:1")
