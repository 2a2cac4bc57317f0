# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU node-pool parameters and Kueue quota, computed once from the inventory and the gpu_node role variables.

``gke_gpu_node_pool`` returns ONE dict describing a GKE node pool. Everything that creates the pool reads that
dict through the small views below, so the Config Connector object and the google.cloud task can never drift:

- ``gke_node_pool_module_args``: options of google.cloud.gcp_container_node_pool;
- ``gke_node_pool_module_gaps``: settings the pool needs that google.cloud.gcp_container_node_pool cannot express;
- ``container_node_pool_spec``: spec of a Config Connector ContainerNodePool (container.cnrm.cloud.google.com/v1beta1).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.plugin_utils import gpu_capacity

GPU_STACKS = ("gke-managed", "operator", "none")
DRIVER_VERSIONS = ("LATEST", "DEFAULT")
# GCE machine type names: <family>-<shape>-<vCPUs>[suffix], <family>-micro/small/medium, [<family>-]custom-<cpus>-<MiB>.
MACHINE_TYPE_RE = re.compile(
    r"^(?:[a-z][a-z0-9]*-[a-z]+-[0-9]+[a-z]*"
    r"|[a-z][a-z0-9]*-(?:micro|small|medium)"
    r"|(?:[a-z][a-z0-9]*-)?custom-[0-9]+-[0-9]+(?:-ext)?)$"
)
# GPUs attached to each G2 shape (G2 is the only machine family that carries NVIDIA L4).
G2_L4_COUNT = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}
LABEL_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
# GKE's own device plugin stays off on nodes with this label, so the GPU operator's plugin is the only one.
NO_DEFAULT_DEVICE_PLUGIN_LABEL = "gke-no-default-nvidia-gpu-device-plugin"


def _int(value, name, minimum=None):
    if isinstance(value, bool):
        raise AnsibleFilterError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and number != value:
        raise AnsibleFilterError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and number < minimum:
        raise AnsibleFilterError(f"{name} must be >= {minimum}, got {number}")
    return number


def _bool(value, name):
    if isinstance(value, bool):
        return value
    raise AnsibleFilterError(f"{name} must be a boolean (true or false), got {value!r}")


def _gpu_field(gpu, path):
    """A field of llmaas_gpu as the contract completes it; the defaults live in the preflight spec only."""
    value = gpu
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise AnsibleFilterError(f"llmaas_gpu.{path} is missing: pass llmaas_contract.gpu or llmaas_gpu | "
                                     "llmaas.platform.shared_defaults('llmaas_gpu') (the spec's defaults filled)")
        value = value[key]
    return value


def _time_slicing(gpu):
    enabled = _bool(_gpu_field(gpu, "time_slicing.enabled"), "llmaas_gpu.time_slicing.enabled")
    clients = _int(_gpu_field(gpu, "time_slicing.clients_per_gpu"), "llmaas_gpu.time_slicing.clients_per_gpu", 1)
    return enabled, clients


def gke_gpu_node_pool(gpu, pool, cluster_name, gcp):
    """The GKE GPU node pool as one dict.

    gpu:          llmaas_gpu with the spec's defaults (llmaas_contract.gpu: stack, accelerator, gpus_per_node,
                  node_selector, time_slicing)
    pool:         gpu_node role settings (name, machine_type, min_nodes, max_nodes, spot, driver_version,
                  disk_size_gb, disk_type, image_type, labels, service_account, oauth_scopes, auto_upgrade)
    cluster_name: llmaas_cluster_name
    gcp:          llmaas_gcp (project, region, zones)
    """
    gpu, pool, gcp = gpu or {}, pool or {}, gcp or {}
    stack = gpu.get("stack")
    if stack not in GPU_STACKS:
        raise AnsibleFilterError(f"llmaas_gpu.stack must be one of {', '.join(GPU_STACKS)}; got {stack!r}")
    machine_type = str(pool.get("machine_type") or "")
    if not MACHINE_TYPE_RE.match(machine_type):
        raise AnsibleFilterError(
            "gpu_node_machine_type must be a GCE machine type name such as g2-standard-4 "
            f"(<family>-<shape>-<vCPUs>); got {machine_type!r}"
        )
    accelerator = str(gpu.get("accelerator") or "")
    count = _int(_gpu_field(gpu, "gpus_per_node"), "llmaas_gpu.gpus_per_node", 1)
    if accelerator == "nvidia-l4":
        family, rest = machine_type.partition("-")[::2]
        vcpus = rest.rsplit("-", 1)[-1]
        if family != "g2" or not vcpus.isdigit() or int(vcpus) not in G2_L4_COUNT:
            raise AnsibleFilterError(
                f"llmaas_gpu.accelerator nvidia-l4 needs a G2 machine type (g2-standard-4, -8, -12, -16, -24, -32, "
                f"-48 or -96); gpu_node_machine_type is {machine_type!r}"
            )
        if G2_L4_COUNT[int(vcpus)] != count:
            raise AnsibleFilterError(
                f"{machine_type} carries {G2_L4_COUNT[int(vcpus)]} L4 GPU(s) but llmaas_gpu.gpus_per_node is {count}"
            )
    min_nodes = _int(pool.get("min_nodes", 0), "gpu_node_min_nodes", 0)
    max_nodes = _int(pool.get("max_nodes", 1), "gpu_node_max_nodes", 1)
    if max_nodes < min_nodes:
        raise AnsibleFilterError(
            f"gpu_node_max_nodes ({max_nodes}) must be >= gpu_node_min_nodes ({min_nodes})"
        )
    spot = _bool(pool.get("spot", False), "gpu_node_spot")
    slicing, clients = _time_slicing(gpu)

    if stack == "operator":
        driver = "INSTALLATION_DISABLED"
    else:
        driver = str(pool.get("driver_version") or "LATEST").upper()
        if driver not in DRIVER_VERSIONS:
            raise AnsibleFilterError(
                f"gpu_node_driver_version must be one of {', '.join(DRIVER_VERSIONS)}; "
                f"got {pool.get('driver_version')!r}"
            )

    labels = {}
    for key, value in (gpu.get("node_selector") or {}).items():
        # GKE sets cloud.google.com/* labels itself and refuses them as user labels.
        if not str(key).startswith("cloud.google.com/"):
            labels[str(key)] = str(value)
    labels.update({"llmaas.platform/pool": "gpu", "llmaas.platform/cluster": str(cluster_name)})
    if stack == "operator":
        labels[NO_DEFAULT_DEVICE_PLUGIN_LABEL] = "true"
    for key, value in (pool.get("labels") or {}).items():
        if not LABEL_KEY_RE.match(str(key)):
            raise AnsibleFilterError(f"gpu_node_labels: {key!r} is not a valid Kubernetes label key")
        labels[str(key)] = str(value)

    sharing = None
    if slicing and stack == "gke-managed":
        sharing = {"strategy": "TIME_SHARING", "max_shared_clients_per_gpu": clients}

    return {
        "name": str(pool.get("name") or "gpu"),
        "project": gcp.get("project"),
        "location": gcp.get("cluster_location") or gcp.get("region"),
        "node_locations": list(gcp.get("zones") or []),
        "cluster": str(cluster_name),
        "machine_type": machine_type,
        "image_type": str(pool.get("image_type") or "COS_CONTAINERD"),
        "disk_size_gb": _int(pool.get("disk_size_gb", 100), "gpu_node_disk_size_gb", 10),
        "disk_type": str(pool.get("disk_type") or "pd-balanced"),
        "accelerator": {"type": accelerator, "count": count, "driver_version": driver, "sharing": sharing},
        "spot": spot,
        "labels": dict(sorted(labels.items())),
        "taints": [dict(GPU_TAINT)],
        "min_nodes": min_nodes,
        "max_nodes": max_nodes,
        "initial_node_count": min_nodes,
        "service_account": pool.get("service_account") or None,
        "oauth_scopes": list(pool.get("oauth_scopes") or ["https://www.googleapis.com/auth/cloud-platform"]),
        "auto_upgrade": _bool(pool.get("auto_upgrade", True), "gpu_node_auto_upgrade"),
        "auto_repair": True,
    }


def gke_cpu_node_pool(pool, cluster_name, gcp):
    """The small platform (CPU) pool in the same shape as gke_gpu_node_pool, without accelerator or taint."""
    pool, gcp = pool or {}, gcp or {}
    machine_type = str(pool.get("machine_type") or "")
    if not MACHINE_TYPE_RE.match(machine_type):
        raise AnsibleFilterError(
            "gpu_node_platform_pool.machine_type must be a GCE machine type name such as e2-standard-4; "
            f"got {machine_type!r}"
        )
    min_nodes = _int(pool.get("min_nodes", 1), "gpu_node_platform_pool.min_nodes", 0)
    max_nodes = _int(pool.get("max_nodes", 3), "gpu_node_platform_pool.max_nodes", 1)
    if max_nodes < min_nodes:
        raise AnsibleFilterError(
            f"gpu_node_platform_pool.max_nodes ({max_nodes}) must be >= gpu_node_platform_pool.min_nodes ({min_nodes})"
        )
    labels = {"llmaas.platform/pool": "platform", "llmaas.platform/cluster": str(cluster_name)}
    labels.update({str(k): str(v) for k, v in (pool.get("labels") or {}).items()})
    return {
        "name": str(pool.get("name") or "platform"),
        "project": gcp.get("project"),
        "location": gcp.get("cluster_location") or gcp.get("region"),
        "node_locations": list(gcp.get("zones") or []),
        "cluster": str(cluster_name),
        "machine_type": machine_type,
        "image_type": str(pool.get("image_type") or "COS_CONTAINERD"),
        "disk_size_gb": _int(pool.get("disk_size_gb", 50), "gpu_node_platform_pool.disk_size_gb", 10),
        "disk_type": str(pool.get("disk_type") or "pd-balanced"),
        "accelerator": None,
        "spot": _bool(pool.get("spot", False), "gpu_node_platform_pool.spot"),
        "labels": dict(sorted(labels.items())),
        "taints": [],
        "min_nodes": min_nodes,
        "max_nodes": max_nodes,
        "initial_node_count": max(min_nodes, 1),
        "service_account": pool.get("service_account") or None,
        "oauth_scopes": list(pool.get("oauth_scopes") or ["https://www.googleapis.com/auth/cloud-platform"]),
        "auto_upgrade": True,
        "auto_repair": True,
    }


def _taint_effect_k8s(effect):
    return {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}[effect]


def gke_node_pool_module_args(pool, auth_kind="application"):
    """Options for google.cloud.gcp_container_node_pool (what that module can express of the pool)."""
    config = {
        "machine_type": pool["machine_type"],
        "image_type": pool["image_type"],
        "disk_size_gb": pool["disk_size_gb"],
        "disk_type": pool["disk_type"],
        "labels": pool["labels"],
        "oauth_scopes": pool["oauth_scopes"],
        # The module has no `spot` option; preemptible is the nearest it offers (see gke_node_pool_module_gaps).
        "preemptible": pool["spot"],
        "taints": [{"key": t["key"], "value": t["value"], "effect": t["effect"]} for t in pool["taints"]],
    }
    if pool.get("service_account"):
        config["service_account"] = pool["service_account"]
    if pool.get("accelerator"):
        config["accelerators"] = [
            {"accelerator_type": pool["accelerator"]["type"], "accelerator_count": pool["accelerator"]["count"]}
        ]
    return {
        "name": pool["name"],
        "project": pool["project"],
        "location": pool["location"],
        "cluster": {"name": pool["cluster"]},
        "initial_node_count": pool["initial_node_count"],
        "config": config,
        "autoscaling": {"enabled": True, "min_node_count": pool["min_nodes"], "max_node_count": pool["max_nodes"]},
        "management": {"auto_upgrade": pool["auto_upgrade"], "auto_repair": pool["auto_repair"]},
        "auth_kind": auth_kind,
        "state": "present",
    }


def gke_node_pool_module_gaps(pool):
    """Settings of the pool that google.cloud.gcp_container_node_pool has no option for (names as in the GKE API).

    A pool with gaps must be created by a client that knows these fields (gcloud, Config Connector); they are
    immutable afterwards, so later runs only reconcile autoscaling.
    """
    gaps = []
    accelerator = pool.get("accelerator")
    if accelerator:
        gaps.append(f"gpuDriverInstallationConfig.gpuDriverVersion={accelerator['driver_version']}")
        if accelerator.get("sharing"):
            gaps.append(
                "gpuSharingConfig(gpuSharingStrategy={strategy}, maxSharedClientsPerGpu={max_shared_clients_per_gpu})"
                .format(**accelerator["sharing"])
            )
    if pool.get("spot"):
        gaps.append("spot=true (the module only knows preemptible)")
    # Not a gap that changes behaviour: without node locations the pool takes the cluster's own locations.
    return gaps


def gke_node_pool_gcloud_args(pool):
    """`gcloud container node-pools create` arguments for the pool: the one client that sets every field of it."""
    args = [
        "container", "node-pools", "create", pool["name"],
        f"--project={pool['project']}",
        f"--location={pool['location']}",
        f"--cluster={pool['cluster']}",
        f"--machine-type={pool['machine_type']}",
        f"--image-type={pool['image_type']}",
        f"--disk-size={pool['disk_size_gb']}",
        f"--disk-type={pool['disk_type']}",
        f"--num-nodes={pool['initial_node_count']}",
        "--enable-autoscaling",
        f"--min-nodes={pool['min_nodes']}",
        f"--max-nodes={pool['max_nodes']}",
        f"--scopes={','.join(pool['oauth_scopes'])}",
    ]
    if pool.get("node_locations"):
        args.append(f"--node-locations={','.join(pool['node_locations'])}")
    accelerator = pool.get("accelerator")
    if accelerator:
        driver = {"LATEST": "latest", "DEFAULT": "default", "INSTALLATION_DISABLED": "disabled"}
        spec = [f"type={accelerator['type']}", f"count={accelerator['count']}",
                f"gpu-driver-version={driver[accelerator['driver_version']]}"]
        if accelerator.get("sharing"):
            spec += ["gpu-sharing-strategy=time-sharing",
                     f"max-shared-clients-per-gpu={accelerator['sharing']['max_shared_clients_per_gpu']}"]
        args.append("--accelerator=" + ",".join(spec))
    if pool["labels"]:
        args.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in pool["labels"].items()))
    if pool["taints"]:
        args.append("--node-taints=" + ",".join(
            f"{t['key']}={t['value']}:{_taint_effect_k8s(t['effect'])}" for t in pool["taints"]))
    if pool["spot"]:
        args.append("--spot")
    if pool.get("service_account"):
        args.append(f"--service-account={pool['service_account']}")
    if not pool["auto_upgrade"]:
        args.append("--no-enable-autoupgrade")
    return args


def container_node_pool_spec(pool):
    """spec of a Config Connector ContainerNodePool (container.cnrm.cloud.google.com/v1beta1) for the pool."""
    node_config = {
        "machineType": pool["machine_type"],
        "imageType": pool["image_type"],
        "diskSizeGb": pool["disk_size_gb"],
        "diskType": pool["disk_type"],
        "labels": pool["labels"],
        "oauthScopes": pool["oauth_scopes"],
        "spot": pool["spot"],
        "taint": [{"key": t["key"], "value": t["value"], "effect": t["effect"]} for t in pool["taints"]],
    }
    if pool.get("service_account"):
        node_config["serviceAccountRef"] = {"external": pool["service_account"]}
    accelerator = pool.get("accelerator")
    if accelerator:
        guest = {
            "type": accelerator["type"],
            "count": accelerator["count"],
            "gpuDriverInstallationConfig": {"gpuDriverVersion": accelerator["driver_version"]},
        }
        if accelerator.get("sharing"):
            guest["gpuSharingConfig"] = {
                "gpuSharingStrategy": accelerator["sharing"]["strategy"],
                "maxSharedClientsPerGpu": accelerator["sharing"]["max_shared_clients_per_gpu"],
            }
        node_config["guestAccelerator"] = [guest]
    spec = {
        "location": pool["location"],
        "clusterRef": {
            "external": f"projects/{pool['project']}/locations/{pool['location']}/clusters/{pool['cluster']}"
        },
        "initialNodeCount": pool["initial_node_count"],
        "autoscaling": {"minNodeCount": pool["min_nodes"], "maxNodeCount": pool["max_nodes"]},
        "management": {"autoRepair": pool["auto_repair"], "autoUpgrade": pool["auto_upgrade"]},
        "nodeConfig": node_config,
    }
    if pool.get("node_locations"):
        spec["nodeLocations"] = pool["node_locations"]
    return spec


def kubernetes_taints(pool):
    """The pool's taints as Kubernetes writes them on the node (NoSchedule, not NO_SCHEDULE)."""
    return [{"key": t["key"], "value": t["value"], "effect": _taint_effect_k8s(t["effect"])} for t in pool["taints"]]


def gpu_replica_caps(models, slots):
    """{model name: most replicas `slots` GPU slots hold for it} (the autoscalers' maximum unless set explicitly);
    slots is the contract's llmaas_contract.gpu.slots, the same figure as the Kueue quota."""
    return gpu_capacity.replica_caps(models or [], _int(slots, "llmaas_contract.gpu.slots", 0))


class FilterModule:
    def filters(self):
        return {
            "gke_gpu_node_pool": gke_gpu_node_pool,
            "gke_cpu_node_pool": gke_cpu_node_pool,
            "gke_node_pool_module_args": gke_node_pool_module_args,
            "gke_node_pool_module_gaps": gke_node_pool_module_gaps,
            "gke_node_pool_gcloud_args": gke_node_pool_gcloud_args,
            "container_node_pool_spec": container_node_pool_spec,
            "kubernetes_taints": kubernetes_taints,
            "gpu_replica_caps": gpu_replica_caps,
        }
