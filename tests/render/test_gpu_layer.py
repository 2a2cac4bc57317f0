"""The gpu layer (GPU stack per llmaas_gpu.stack, time-slicing, Kueue queues and quota, Config Connector node
pools) and the benchmark layer, for both inventories; bad GPU input stopped with a clear message."""

import copy

import pytest
import yaml

from .conftest import ROOT, Tree, render, assert_refused

INVENTORY = {
    name: yaml.safe_load((ROOT / f"inventories/{name}/group_vars/all/platform.yml").read_text())
    for name in ("gke_l4", "vast")
}
DRIVER_LABEL = "gke-no-default-nvidia-gpu-device-plugin"


def gpu_with(inventory="gke_l4", **changes):
    gpu = copy.deepcopy(INVENTORY[inventory]["llmaas_gpu"])
    slicing = changes.pop("time_slicing", None)
    gpu.update(changes)
    if slicing is not None:
        gpu["time_slicing"].update(slicing)
    return gpu


def applications(tree):
    return {a["metadata"]["name"]: a for a in tree.objects(kind="Application", layer="gpu")}


@pytest.fixture(scope="module")
def gke_operator(tmp_path_factory):
    """gke_l4 switched to the GPU operator with time-slicing: the GKE + operator path."""
    out = tmp_path_factory.mktemp("gke-operator")
    proc = render("gke_l4", out, extra_vars={
        "llmaas_gpu": gpu_with(stack="operator", time_slicing={"enabled": True, "clients_per_gpu": 3})})
    assert proc.returncode == 0, proc.stdout[-3000:]
    return Tree(out)


# --- GPU stack per choice ------------------------------------------------------------------------------------

def test_gke_managed_renders_no_operator_but_dcgm_exporter(rendered):
    tree = rendered["gke_l4"]
    apps = applications(tree)
    assert "gpu-operator" not in apps
    assert not tree.objects(kind="ConfigMap", layer="gpu"), "no device plugin config: GKE runs the device plugin"
    dcgm = apps["dcgm-exporter"]["spec"]
    assert dcgm["source"]["chart"] == "dcgm-exporter" and dcgm["source"]["targetRevision"]
    values = dcgm["source"]["helm"]["valuesObject"]
    assert values["nodeSelector"] == INVENTORY["gke_l4"]["llmaas_gpu"]["node_selector"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    assert values["resources"]["limits"] and values["resources"]["requests"]


def test_vast_operator_with_time_slicing(rendered):
    tree = rendered["vast"]
    apps = applications(tree)
    assert "dcgm-exporter" not in apps, "the operator ships dcgm-exporter itself"
    values = apps["gpu-operator"]["spec"]["source"]["helm"]["valuesObject"]
    assert values["driver"]["enabled"] is False, "the Vast host image carries the driver"
    assert values["toolkit"]["enabled"] is False, "k3s_node installs the container toolkit on Vast hosts"
    assert values["dcgmExporter"]["enabled"] is True
    cm = tree.one("ConfigMap", "time-slicing-config", layer="gpu")
    assert values["devicePlugin"]["config"] == {"name": "time-slicing-config", "default": "any"}
    config = yaml.safe_load(cm["data"]["any"])
    resources = config["sharing"]["timeSlicing"]["resources"]
    assert resources == [{"name": "nvidia.com/gpu",
                          "replicas": INVENTORY["vast"]["llmaas_gpu"]["time_slicing"]["clients_per_gpu"]}]


def test_gke_operator_disables_gke_driver_and_device_plugin(gke_operator):
    values = applications(gke_operator)["gpu-operator"]["spec"]["source"]["helm"]["valuesObject"]
    assert values["driver"]["enabled"] is False
    assert values["toolkit"]["installDir"] == values["hostPaths"]["driverInstallDir"] == "/home/kubernetes/bin/nvidia"
    cm = gke_operator.one("ConfigMap", "time-slicing-config", layer="gpu")
    assert yaml.safe_load(cm["data"]["any"])["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 3
    pool = gke_operator.one("ContainerNodePool", "gpu-l4", layer="gpu")["spec"]["nodeConfig"]
    assert pool["labels"][DRIVER_LABEL] == "true"
    guest = pool["guestAccelerator"][0]
    assert guest["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "INSTALLATION_DISABLED"}
    assert "gpuSharingConfig" not in guest, "with the operator, the device plugin time-slices, not GKE"
    quota = gke_operator.one("ResourceQuota", "gpu-operator-critical-pods", layer="gpu")
    assert quota["spec"]["scopeSelector"]["matchExpressions"][0]["values"] == [
        "system-node-critical", "system-cluster-critical"]
    # 1 node x 1 GPU x 3 clients
    gpu_quota = _quota(gke_operator)["nvidia.com/gpu"]
    assert gpu_quota == "3"


def test_stack_none_renders_no_gpu_stack(tmp_path):
    out = tmp_path / "tree"
    proc = render("vast", out, extra_vars={"llmaas_gpu": gpu_with("vast", stack="none",
                                                                  time_slicing={"enabled": False})})
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(out)
    assert not {"gpu-operator", "dcgm-exporter"} & set(applications(tree))
    assert not tree.objects(kind="ConfigMap", layer="gpu")
    assert not tree.objects(kind="Namespace", name="gpu-operator")


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_privileged_namespace_is_labelled_and_explained(rendered, inventory):
    ns = rendered[inventory].one("Namespace", "gpu-operator", layer="gpu")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "privileged" in ns["metadata"]["annotations"]["llmaas.platform/pod-security-exception"]
    # created before the component Applications (wave -1) so their pods land in a labelled namespace
    assert ns["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-2"


# --- Kueue ---------------------------------------------------------------------------------------------------

def _quota(tree):
    cq = tree.one("ClusterQueue", "llmaas-gpu", layer="gpu")
    resources = cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
    return {r["name"]: r["nominalQuota"] for r in resources}


@pytest.mark.parametrize("inventory, gpu_quota", [("gke_l4", "1"), ("vast", "4")])
def test_kueue_queues_and_gpu_quota(rendered, inventory, gpu_quota):
    tree = rendered[inventory]
    apps = applications(tree)
    kueue = apps["kueue"]["spec"]
    assert kueue["source"]["chart"] == "kueue" and kueue["destination"]["namespace"] == "kueue-system"
    config = yaml.safe_load(kueue["source"]["helm"]["valuesObject"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert {"pod", "deployment", "statefulset"} <= set(config["integrations"]["frameworks"])
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"kueue.x-k8s.io/managed": "true"}}

    flavor = tree.one("ResourceFlavor", "llmaas-gpu", layer="gpu")
    assert flavor["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert flavor["spec"]["nodeLabels"] == INVENTORY[inventory]["llmaas_gpu"]["node_selector"]
    assert flavor["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

    cq = tree.one("ClusterQueue", "llmaas-gpu", layer="gpu")
    assert cq["spec"]["namespaceSelector"] == {"matchLabels": {"kueue.x-k8s.io/managed": "true"}}
    assert cq["spec"]["resourceGroups"][0]["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    quota = _quota(tree)
    # gke_l4: 1 node x 1 L4, no sharing; vast: 1 host x 2 GPUs x 2 clients per GPU
    assert quota["nvidia.com/gpu"] == gpu_quota
    assert quota["cpu"] and quota["memory"].endswith("Gi")

    serving = INVENTORY[inventory]["llmaas_namespaces"]["serving"]
    lq = tree.one("LocalQueue", "gpu", layer="gpu")
    assert lq["metadata"]["namespace"] == serving and lq["spec"]["clusterQueue"] == "llmaas-gpu"
    # the contract's other half: the serving namespace carries the managed label (platform layer)
    ns = tree.one("Namespace", serving)
    assert ns["metadata"]["labels"]["kueue.x-k8s.io/managed"] == "true"


def test_kueue_off_renders_no_queue(tmp_path):
    out = tmp_path / "tree"
    features = dict(INVENTORY["gke_l4"]["llmaas_features"], kueue=False)
    proc = render("gke_l4", out, extra_vars={"llmaas_features": features})
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(out)
    assert not tree.objects(kind="ClusterQueue") and not tree.objects(kind="LocalQueue")
    assert "kueue" not in applications(tree)


def test_more_nodes_scale_the_quota(tmp_path):
    out = tmp_path / "tree"
    proc = render("gke_l4", out, extra_vars={"gpu_node_max_nodes": 3, "llmaas_gpu": gpu_with(
        time_slicing={"enabled": True, "clients_per_gpu": 2})})
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(out)
    quota = _quota(tree)
    assert quota["nvidia.com/gpu"] == "6"          # 3 nodes x 1 GPU x 2 clients
    assert quota["cpu"] == "9" and quota["memory"] == "36Gi"   # g2-standard-4: 3 CPU, 12 GiB per node
    guest = tree.one("ContainerNodePool", "gpu-l4")["spec"]["nodeConfig"]["guestAccelerator"][0]
    assert guest["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 2}


# --- node pools ----------------------------------------------------------------------------------------------

def test_gke_l4_node_pools(rendered):
    tree = rendered["gke_l4"]
    gpu = tree.one("ContainerNodePool", "gpu-l4", layer="gpu")
    spec = gpu["spec"]
    gcp = INVENTORY["gke_l4"]["llmaas_gcp"]
    location = gcp.get("cluster_location", gcp["region"])  # a zonal cluster is addressed by its zone
    assert gpu["apiVersion"] == "container.cnrm.cloud.google.com/v1beta1"
    assert gpu["metadata"]["annotations"]["cnrm.cloud.google.com/project-id"] == gcp["project"]
    assert spec["clusterRef"]["external"] == (
        f"projects/{gcp['project']}/locations/{location}/clusters/{INVENTORY['gke_l4']['llmaas_cluster_name']}")
    assert spec["location"] == location and spec["nodeLocations"] == gcp["zones"]
    assert spec["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 1}
    node = spec["nodeConfig"]
    assert node["machineType"] == "g2-standard-4" and node["spot"] is False
    assert node["guestAccelerator"] == [{"type": "nvidia-l4", "count": 1,
                                         "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}]
    assert node["taint"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert DRIVER_LABEL not in node["labels"]
    cpu = tree.one("ContainerNodePool", "platform", layer="gpu")["spec"]
    assert "guestAccelerator" not in cpu["nodeConfig"]
    assert cpu["nodeConfig"].get("taint", []) == [], "platform pods carry no GPU toleration"


def test_vast_has_no_cloud_node_pools(rendered):
    assert not rendered["vast"].objects(kind="ContainerNodePool")


def test_spot_and_bigger_pool(tmp_path):
    out = tmp_path / "tree"
    proc = render("gke_l4", out, extra_vars={"gpu_node_spot": True, "gpu_node_min_nodes": 1, "gpu_node_max_nodes": 2})
    assert proc.returncode == 0, proc.stdout[-3000:]
    spec = Tree(out).one("ContainerNodePool", "gpu-l4")["spec"]
    assert spec["nodeConfig"]["spot"] is True
    assert spec["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 2} and spec["initialNodeCount"] == 1


# --- benchmark layer -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_benchmark_job(rendered, inventory):
    inv = INVENTORY[inventory]
    model = inv["llmaas_models"][0]
    job = rendered[inventory].one("Job", "guidellm-benchmark", layer="benchmark")
    assert job["metadata"]["namespace"] == inv["llmaas_namespaces"]["serving"]
    pod = job["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "llmaas-batch" and pod["restartPolicy"] == "Never"
    assert job["spec"]["activeDeadlineSeconds"] > 0 and job["spec"]["backoffLimit"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    versions = yaml.safe_load((ROOT / "playbooks/vars/versions.yml").read_text())
    assert container["image"] == versions["llmaas_images"]["guidellm"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    # the path LiteLLM takes (tests/render/test_benchmark_path.py checks it and the wake-up)
    assert env["GUIDELLM_TARGET"] == f"{inv['llmaas_inference_url'].rstrip('/')}/{model['name']}"
    assert env["GUIDELLM_MODEL"] == model["served_name"]
    assert env["GUIDELLM_PROCESSOR"] == model["model"]
    assert env["GUIDELLM_RATE"] == "1,2,4,8"
    script = container["args"][0]
    assert "--rate-type concurrent" in script and "=== llmaas guidellm report ===" in script
    # not a Kueue workload: GuideLLM is a CPU client and must not take GPU quota
    assert "kueue.x-k8s.io/queue-name" not in job["metadata"].get("labels", {})


def test_benchmark_off_renders_no_job(tmp_path):
    out = tmp_path / "tree"
    features = dict(INVENTORY["vast"]["llmaas_features"], benchmark=False)
    proc = render("vast", out, extra_vars={"llmaas_features": features})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not (out / "benchmark").exists()


# --- bad input -----------------------------------------------------------------------------------------------

BAD = {
    "unknown GPU stack": ("gke_l4", {"llmaas_gpu": gpu_with(stack="nvidia")},
                          ["llmaas_gpu", "stack", "gke-managed", "operator", "none"]),
    "gke-managed off GKE": ("vast", {"llmaas_gpu": gpu_with("vast", stack="gke-managed")},
                            ["llmaas_gpu.stack", "gke-managed", "substrate"]),
    "zero clients per GPU": ("vast", {"llmaas_gpu": gpu_with("vast", time_slicing={"clients_per_gpu": 0})},
                             ["llmaas_gpu.time_slicing.clients_per_gpu", "1 to 48"]),
    "time-slicing without a GPU stack": ("vast", {"llmaas_gpu": gpu_with("vast", stack="none")},
                                         ["time-slicing", "gke-managed or operator"]),
    "max nodes below min nodes": ("gke_l4", {"gpu_node_min_nodes": 2, "gpu_node_max_nodes": 1},
                                  ["gpu_node_max_nodes", "gpu_node_min_nodes"]),
    "machine type format": ("gke_l4", {"gpu_node_machine_type": "g2_standard_4"},
                            ["gpu_node_machine_type", "g2-standard-4"]),
    "L4 on a non-G2 machine": ("gke_l4", {"gpu_node_machine_type": "n1-standard-8"},
                               ["nvidia-l4", "G2 machine type", "g2-standard-4"]),
    "spot not a bool": ("gke_l4", {"gpu_node_spot": "sometimes"}, ["gpu_node_spot", "bool"]),
    "unknown driver version": ("gke_l4", {"gpu_node_driver_version": "R535"},
                               ["gpu_node_driver_version", "LATEST", "DEFAULT"]),
    "benchmark concurrency zero": ("vast", {"serving_benchmark_concurrencies": [0, 4]},
                                   ["serving_benchmark_concurrencies", ">= 1"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_before_the_gpu_layer_is_written(tmp_path, case):
    inventory, extra, words = BAD[case]
    out = tmp_path / "tree"
    assert_refused(render(inventory, out, extra_vars=extra), out, words, case)
