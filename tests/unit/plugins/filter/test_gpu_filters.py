# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Node-pool parameters and Kueue quota computed by plugins/filter/gpu.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.filter.gpu import (
    FilterModule,
    container_node_pool_spec,
    gke_cpu_node_pool,
    gke_gpu_node_pool,
    gke_node_pool_gcloud_args,
    gke_node_pool_module_args,
    gke_node_pool_module_gaps,
    kubernetes_taints,
)

GCP = {"project": "example-project", "region": "us-central1", "zones": ["us-central1-a"]}
GPU = {"stack": "gke-managed", "accelerator": "nvidia-l4", "gpus_per_node": 1,
       "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
       "time_slicing": {"enabled": False, "clients_per_gpu": 2}}
POOL = {"name": "gpu-l4", "machine_type": "g2-standard-4", "min_nodes": 0, "max_nodes": 2, "spot": False,
        "driver_version": "LATEST"}


def gpu(**changes):
    out = dict(GPU, **{k: v for k, v in changes.items() if k != "time_slicing"})
    out["time_slicing"] = dict(GPU["time_slicing"], **changes.get("time_slicing", {}))
    return out


def pool(**changes):
    return gke_gpu_node_pool(changes.pop("_gpu", GPU), dict(POOL, **changes), "llmaas-l4", GCP)


def test_filters_are_registered():
    assert {"gke_gpu_node_pool", "gke_cpu_node_pool", "gke_node_pool_module_args", "gke_node_pool_module_gaps",
            "gke_node_pool_gcloud_args", "container_node_pool_spec"} <= set(FilterModule().filters())


def test_default_l4_pool():
    p = pool()
    assert p["machine_type"] == "g2-standard-4"
    assert p["accelerator"] == {"type": "nvidia-l4", "count": 1, "driver_version": "LATEST", "sharing": None}
    assert p["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert (p["min_nodes"], p["max_nodes"], p["initial_node_count"]) == (0, 2, 0)
    assert p["spot"] is False
    # GKE refuses user labels under cloud.google.com/ (it sets gke-accelerator itself)
    assert not any(k.startswith("cloud.google.com/") for k in p["labels"])
    assert p["labels"]["llmaas.platform/pool"] == "gpu"
    assert "gke-no-default-nvidia-gpu-device-plugin" not in p["labels"]


def test_time_sharing_only_on_gke_managed():
    p = pool(_gpu=gpu(time_slicing={"enabled": True, "clients_per_gpu": 3}))
    assert p["accelerator"]["sharing"] == {"strategy": "TIME_SHARING", "max_shared_clients_per_gpu": 3}
    # with the operator, time-slicing is the device plugin's job, not the node pool's
    op = pool(_gpu=gpu(stack="operator", time_slicing={"enabled": True, "clients_per_gpu": 3}))
    assert op["accelerator"]["sharing"] is None


def test_operator_mode_disables_gke_driver_and_device_plugin():
    p = pool(_gpu=gpu(stack="operator"))
    assert p["accelerator"]["driver_version"] == "INSTALLATION_DISABLED"
    assert p["labels"]["gke-no-default-nvidia-gpu-device-plugin"] == "true"
    args = gke_node_pool_gcloud_args(p)
    assert "--accelerator=type=nvidia-l4,count=1,gpu-driver-version=disabled" in args
    assert any(a.startswith("--node-labels=") and "gke-no-default-nvidia-gpu-device-plugin=true" in a for a in args)


def test_spot_and_driver_default():
    p = pool(spot=True, driver_version="default")
    assert p["spot"] is True and p["accelerator"]["driver_version"] == "DEFAULT"
    assert "--spot" in gke_node_pool_gcloud_args(p)


@pytest.mark.parametrize("changes, message", [
    ({"machine_type": "g2standard4"}, "gpu_node_machine_type must be a GCE machine type"),
    ({"machine_type": "n1-standard-4"}, "nvidia-l4 needs a G2 machine type"),
    ({"machine_type": "g2-standard-24"}, "carries 2 L4 GPU(s) but llmaas_gpu.gpus_per_node is 1"),
    ({"min_nodes": 3, "max_nodes": 1}, "gpu_node_max_nodes (1) must be >= gpu_node_min_nodes (3)"),
    ({"max_nodes": 0}, "gpu_node_max_nodes must be >= 1"),
    ({"spot": "yes"}, "gpu_node_spot must be a boolean"),
    ({"driver_version": "R535"}, "gpu_node_driver_version must be one of LATEST, DEFAULT"),
    ({"labels": {"bad key!": "x"}}, "not a valid Kubernetes label key"),
    ({"_gpu": dict(GPU, stack="nvidia")}, "llmaas_gpu.stack must be one of gke-managed, operator, none"),
    ({"_gpu": dict(GPU, time_slicing={"enabled": True, "clients_per_gpu": 0})},
     "llmaas_gpu.time_slicing.clients_per_gpu must be >= 1"),
])
def test_bad_input_is_refused_with_the_variable_name(changes, message):
    with pytest.raises(AnsibleFilterError) as err:
        pool(**changes)
    assert message in str(err.value)


def test_module_args_and_gaps_come_from_the_same_dict():
    p = pool()
    args = gke_node_pool_module_args(p)
    assert args["cluster"] == {"name": "llmaas-l4"} and args["location"] == "us-central1"
    assert args["config"]["accelerators"] == [{"accelerator_type": "nvidia-l4", "accelerator_count": 1}]
    assert args["config"]["taints"] == p["taints"]
    assert args["autoscaling"] == {"enabled": True, "min_node_count": 0, "max_node_count": 2}
    # what google.cloud cannot say is listed, so the playbook uses gcloud for that pool
    assert gke_node_pool_module_gaps(p) == ["gpuDriverInstallationConfig.gpuDriverVersion=LATEST"]
    shared = pool(_gpu=gpu(time_slicing={"enabled": True, "clients_per_gpu": 2}), spot=True)
    gaps = gke_node_pool_module_gaps(shared)
    assert any("gpuSharingConfig" in g for g in gaps) and any("spot" in g for g in gaps)


def test_config_connector_spec_mirrors_the_pool():
    p = pool(_gpu=gpu(time_slicing={"enabled": True, "clients_per_gpu": 2}))
    spec = container_node_pool_spec(p)
    assert spec["clusterRef"] == {"external": "projects/example-project/locations/us-central1/clusters/llmaas-l4"}
    assert spec["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 2}
    assert spec["nodeLocations"] == ["us-central1-a"]
    guest = spec["nodeConfig"]["guestAccelerator"][0]
    assert guest["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert guest["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 2}
    assert spec["nodeConfig"]["taint"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert kubernetes_taints(p) == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def test_gcloud_args_cover_every_pool_setting():
    p = pool(_gpu=gpu(time_slicing={"enabled": True, "clients_per_gpu": 4}))
    args = gke_node_pool_gcloud_args(p)
    assert args[:4] == ["container", "node-pools", "create", "gpu-l4"]
    assert ("--accelerator=type=nvidia-l4,count=1,gpu-driver-version=latest,"
            "gpu-sharing-strategy=time-sharing,max-shared-clients-per-gpu=4") in args
    assert "--node-taints=nvidia.com/gpu=present:NoSchedule" in args
    assert {"--enable-autoscaling", "--min-nodes=0", "--max-nodes=2", "--num-nodes=0"} <= set(args)
    assert "--node-locations=us-central1-a" in args


def test_platform_pool_has_no_gpu_and_no_taint():
    cpu = gke_cpu_node_pool({"name": "platform", "machine_type": "e2-standard-4", "min_nodes": 1, "max_nodes": 3},
                            "llmaas-l4", GCP)
    assert cpu["accelerator"] is None and cpu["taints"] == []
    assert gke_node_pool_module_gaps(cpu) == []
    assert "accelerators" not in gke_node_pool_module_args(cpu)["config"]
    with pytest.raises(AnsibleFilterError, match="gpu_node_platform_pool.max_nodes"):
        gke_cpu_node_pool({"machine_type": "e2-standard-4", "min_nodes": 4, "max_nodes": 3}, "c", GCP)


def test_the_pool_takes_llmaas_gpu_as_the_contract_completes_it():
    """No default of its own for a llmaas_gpu field: a value without the spec's defaults is refused by name."""
    partial = {k: v for k, v in GPU.items() if k != "gpus_per_node"}
    with pytest.raises(AnsibleFilterError, match=r"llmaas_gpu.gpus_per_node is missing: pass llmaas_contract.gpu"):
        gke_gpu_node_pool(partial, POOL, "llmaas-l4", GCP)
    with pytest.raises(AnsibleFilterError, match=r"llmaas_gpu.time_slicing.clients_per_gpu is missing"):
        gke_gpu_node_pool(dict(GPU, time_slicing={"enabled": True}), POOL, "llmaas-l4", GCP)


def test_zonal_cluster_location_addresses_both_pools_by_zone():
    zonal = dict(GCP, cluster_location="us-central1-a")
    gpu = gke_gpu_node_pool(GPU, POOL, "llmaas-l4", zonal)
    cpu = gke_cpu_node_pool({"name": "platform", "machine_type": "e2-standard-4"}, "llmaas-l4", zonal)
    assert gpu["location"] == cpu["location"] == "us-central1-a"
    assert gke_gpu_node_pool(GPU, POOL, "llmaas-l4", GCP)["location"] == "us-central1"
