"""Fake nodes for the real control plane, shaped like an inventory's pools: the Node objects (labels, taints,
capacity, allocatable) that kwok then keeps Ready. Derived from what the gpu layer computes (the pool dicts of
llmaas.platform.gke_gpu_node_pool / gke_cpu_node_pool, the k3s labels of llmaas.platform.k3s_gpu_node_labels),
never written a second time. Used by the molecule control-plane scenarios (as filters) and by pytest.

Every pool gets its max_nodes nodes: the capacity the cluster autoscaler may reach, so the real scheduler shows
whether the stack fits at all and where each pod lands.
"""

# Memory per vCPU (GiB) of GCE's predefined shapes; <family>-<shape>-<vCPUs>.
GCE_GIB_PER_VCPU = {"standard": 4, "highmem": 8, "highcpu": 1}
GKE_MAX_PODS = 110  # GKE's default maximum pods per node (Standard clusters)
FAKE_NODE_LABEL = {"llmaas.platform/fake-node": "kwok"}  # kwok.yaml manages the nodes with this label


def _gce_shape(machine_type):
    family, shape, vcpus = machine_type.split("-")
    if shape not in GCE_GIB_PER_VCPU or not vcpus.isdigit():
        raise ValueError(f"fake nodes know predefined GCE shapes ({', '.join(GCE_GIB_PER_VCPU)}); got {machine_type}")
    return family, int(vcpus), int(vcpus) * GCE_GIB_PER_VCPU[shape]


def _tiered(amount, tiers):
    """Sum of share x the part of amount inside each tier [previous upper bound, upper bound)."""
    total, lower = 0.0, 0
    for upper, share in tiers:
        top = amount if upper is None else min(amount, upper)
        total += max(0, top - lower) * share
        lower = upper if upper is not None else lower
    return total


def gke_allocatable(vcpus, memory_gib):
    """CPU (millicores) and memory (MiB) a GKE node leaves to pods, by GKE's documented reservation tiers
    (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes): CPU 6% of the first core, 1% of the next,
    0.5% of the next 2, 0.25% above 4; memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8,
    6% of the next 112, 2% above 128 GiB, plus the 100 MiB eviction threshold."""
    cpu_reserved = _tiered(vcpus, ((1, 0.06), (2, 0.01), (4, 0.005), (None, 0.0025))) * 1000
    mem_reserved = _tiered(memory_gib, ((4, 0.25), (8, 0.20), (16, 0.10), (128, 0.06), (None, 0.02))) * 1024
    mem_mib = memory_gib * 1024
    return int(vcpus * 1000 - cpu_reserved), int(mem_mib - mem_reserved - 100)


def _node(name, labels, taints, cpu_m, mem_mib, alloc_cpu_m, alloc_mem_mib, gpus=0):
    capacity = {"cpu": f"{cpu_m}m", "memory": f"{mem_mib}Mi", "pods": str(GKE_MAX_PODS)}
    allocatable = {"cpu": f"{alloc_cpu_m}m", "memory": f"{alloc_mem_mib}Mi", "pods": str(GKE_MAX_PODS)}
    if gpus:
        capacity["nvidia.com/gpu"] = allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": dict(sorted({**labels, **FAKE_NODE_LABEL,
                                                           "kubernetes.io/hostname": name,
                                                           "kubernetes.io/os": "linux",
                                                           "kubernetes.io/arch": "amd64"}.items()))},
        "spec": {"taints": taints},
        "status": {"capacity": capacity, "allocatable": allocatable},
    }


_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def gke_fake_nodes(pools):
    """Node objects for GKE node pools (the dicts the gpu layer computes), with the labels GKE puts on them."""
    nodes = []
    for pool in pools:
        family, vcpus, memory_gib = _gce_shape(pool["machine_type"])
        alloc_cpu, alloc_mem = gke_allocatable(vcpus, memory_gib)
        zones = pool.get("node_locations") or [pool["location"]]
        accelerator = pool.get("accelerator") or {}
        labels = {**pool["labels"], "cloud.google.com/gke-nodepool": pool["name"],
                  "cloud.google.com/machine-family": family, "node.kubernetes.io/instance-type": pool["machine_type"]}
        if pool.get("spot"):
            labels["cloud.google.com/gke-spot"] = "true"
        gpus = 0
        if accelerator:
            gpus = int(accelerator["count"])
            labels["cloud.google.com/gke-accelerator"] = accelerator["type"]
            sharing = accelerator.get("sharing")
            if sharing:  # GKE advertises one nvidia.com/gpu per client of a time-shared GPU
                labels["cloud.google.com/gke-gpu-sharing-strategy"] = "time-sharing"
                labels["cloud.google.com/gke-max-shared-clients-per-gpu"] = str(sharing["max_shared_clients_per_gpu"])
                gpus *= int(sharing["max_shared_clients_per_gpu"])
        taints = [{"key": t["key"], "value": t["value"], "effect": _TAINT_EFFECTS[t["effect"]]}
                  for t in pool.get("taints", [])]
        for index in range(int(pool["max_nodes"])):
            zone = zones[index % len(zones)]
            name = f"gke-{pool['cluster']}-{pool['name']}-{index}"
            nodes.append(_node(name, {**labels, "topology.kubernetes.io/zone": zone}, taints,
                               vcpus * 1000, memory_gib * 1024, alloc_cpu, alloc_mem, gpus))
    return nodes


def vast_fake_nodes(hosts, gpus_per_node, slots_per_gpu, cpu, memory_gib, gpu_taint, extra_labels=None,
                    taint_server=False):
    """Node objects for the k3s hosts of the vast substrate (names in rent order, the first one the k3s server),
    labelled as the k3s_node role registers them (llmaas.platform.k3s_gpu_node_labels), the GPU taint on agents
    unless taint_server, each advertising gpus_per_node x slots_per_gpu nvidia.com/gpu (the time-slicing replicas
    the GPU operator's device plugin announces)."""
    from ansible_collections.llmaas.platform.plugins.filter.vast import k3s_gpu_node_labels

    key, _, rest = gpu_taint.partition("=")
    value, _, effect = rest.partition(":")
    labels = k3s_gpu_node_labels({"num_gpus": gpus_per_node}, extra_labels, int(slots_per_gpu))
    nodes = []
    for index, name in enumerate(hosts):
        tainted = bool(gpu_taint) and (index > 0 or taint_server)
        taints = [{"key": key, "value": value, "effect": effect}] if tainted else []
        nodes.append(_node(name, labels, taints, int(cpu) * 1000, int(memory_gib) * 1024,
                           int(cpu) * 1000, int(memory_gib) * 1024, int(gpus_per_node) * int(slots_per_gpu)))
    return nodes


class FilterModule:
    def filters(self):
        return {"gke_fake_nodes": gke_fake_nodes, "vast_fake_nodes": vast_fake_nodes}
