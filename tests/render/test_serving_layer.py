"""The serving layer: vLLM pods on GPUs, probes, KEDA, the HA overlay, Kueue labels, tier arguments, all modes,
and bad input stopped with a clear message before the serving layer is written."""

import copy
import os
import pwd
import shutil
import subprocess

import pytest
import yaml

from .conftest import ROOT, Tree, render, assert_refused

INVENTORY = {
    name: yaml.safe_load((ROOT / f"inventories/{name}/group_vars/all/platform.yml").read_text())
    for name in ("gke_l4", "vast")
}


def vllm_pod_specs(tree):
    """Every pod spec that runs vLLM in the serving layer, whatever object carries it."""
    specs = []
    for dep in tree.objects(kind="Deployment", layer="serving"):
        if dep["metadata"]["name"].startswith("vllm-"):
            specs.append(dep["spec"]["template"]["spec"])
    for isvc in tree.objects(kind="InferenceService", layer="serving"):
        specs.append(isvc["spec"]["predictor"])
    for llm in tree.objects(kind="LLMInferenceService", layer="serving"):
        specs.append(llm["spec"]["template"])
    return specs


def vllm_container(spec):
    return spec["containers"][0]


def _unknown_uid(preferred):
    """preferred if this machine has no passwd entry for it (as in the vllm-openai image), else a UID that has none."""
    uid = preferred
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 1000000


def assert_starts_without_passwd_entry(spec):
    """Run the real getpass.getuser() (what torch calls at import) as the pod's UID, with no passwd entry for it and
    the container's environment; and every directory the environment points vLLM, torch or HF at is on a volume."""
    if os.geteuid() != 0:
        pytest.skip("switching to the pod's UID needs root")
    container = vllm_container(spec)
    env = {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
    uid = _unknown_uid(spec["securityContext"]["runAsUser"])
    # a system Python the pod's UID may execute (the image's is 3.12; getpass reads the same variables first)
    python = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
    if not python:
        pytest.skip("no system python3 for the pod's UID")
    proc = subprocess.run([python, "-I", "-S", "-c", "import getpass; print(getpass.getuser())"],
                          env=dict(env, PATH="/usr/bin:/bin"), user=uid, group=uid, cwd="/",
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"getpass.getuser() as UID {uid} fails: {proc.stderr.strip().splitlines()[-1:]}"
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for name in ("HOME", "HF_HOME", "XDG_CACHE_HOME", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        assert any(env.get(name, "").startswith(m) for m in mounts), f"{name}={env.get(name)!r} is not on a volume"


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_one_deployment_and_service_per_model(rendered, inventory):
    tree = rendered[inventory]
    for m in INVENTORY[inventory]["llmaas_models"]:
        dep = tree.one("Deployment", f"vllm-{m['name']}", layer="serving")
        svc = tree.one("Service", f"vllm-{m['name']}", layer="serving")
        assert dep["metadata"]["namespace"] == INVENTORY[inventory]["llmaas_namespaces"]["serving"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels["llmaas.platform/model"] == m["name"]
        assert labels["app.kubernetes.io/part-of"] == "llmaas"
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(labels)
        assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
        assert set(svc["spec"]["selector"].items()) <= set(labels.items())
        tree.one("PodDisruptionBudget", f"vllm-{m['name']}", layer="serving")
        tree.one("PersistentVolumeClaim", f"vllm-{m['name']}-cache", layer="serving")


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_gpu_requests_limits_and_tolerations(rendered, inventory):
    specs = vllm_pod_specs(rendered[inventory])
    models = {m["name"]: m for m in INVENTORY[inventory]["llmaas_models"]}
    assert len(specs) == len(models)
    for spec in specs:
        container = vllm_container(spec)
        gpus = container["resources"]["requests"]["nvidia.com/gpu"]
        assert gpus == container["resources"]["limits"]["nvidia.com/gpu"] >= 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


def test_node_selector_per_substrate(rendered):
    (gke,) = vllm_pod_specs(rendered["gke_l4"])
    assert gke["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    (vast,) = vllm_pod_specs(rendered["vast"])
    assert vast["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_probes_port_and_restricted_security(rendered, inventory):
    for spec in vllm_pod_specs(rendered[inventory]):
        container = vllm_container(spec)
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
        # the startup probe must allow a first download: at least 10 minutes
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] > 0
        env = {e["name"]: e for e in container["env"]}
        assert env["HF_HOME"]["value"].startswith("/cache") and env["HOME"]["value"].startswith("/cache")
        assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-token"
        mounts = {v["mountPath"]: v["name"] for v in container["volumeMounts"]}
        assert mounts["/dev/shm"] == "dshm" and mounts["/cache"] == "cache"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
        assert volumes["cache"]["persistentVolumeClaim"]["claimName"].endswith("-cache")
        assert spec["priorityClassName"] == "llmaas-serving"


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_vllm_starts_as_a_uid_the_image_does_not_know(rendered, inventory):
    specs = vllm_pod_specs(rendered[inventory])
    assert specs
    for spec in specs:
        assert_starts_without_passwd_entry(spec)


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_hf_token_comes_from_the_secret_store(rendered, inventory):
    inv = INVENTORY[inventory]
    es = rendered[inventory].one("ExternalSecret", "hf-token", layer="serving")
    assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": inv["llmaas_secrets"]["store"]}
    assert [d["secretKey"] for d in es["spec"]["data"]] == ["HF_TOKEN"]
    assert es["spec"]["data"][0]["remoteRef"]["key"] == inv["llmaas_secrets"]["remote_keys"]["hf_token"]
    assert not rendered[inventory].objects(kind="Secret", layer="serving")


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_autoscalers_never_ask_for_more_gpus_than_kueue_admits(rendered, inventory):
    """Each model at its KEDA maximum, the others at their minimum, fits the ClusterQueue's GPU quota (which the
    GPU pool's size sets); a higher maximum only leaves pods pending behind Kueue."""
    tree = rendered[inventory]
    queue = tree.one("ClusterQueue", "llmaas-gpu", layer="gpu")
    quota = next(int(r["nominalQuota"]) for g in queue["spec"]["resourceGroups"] for f in g["flavors"]
                 for r in f["resources"] if r["name"] == "nvidia.com/gpu")
    gpus = {m["name"]: m["gpus"] for m in INVENTORY[inventory]["llmaas_models"]}
    scaled = {so["metadata"]["labels"]["llmaas.platform/model"]: so["spec"]
              for so in tree.objects(kind="ScaledObject", layer="serving")}
    assert scaled
    for name, spec in scaled.items():
        floor = sum(s["minReplicaCount"] * gpus[n] for n, s in scaled.items() if n != name)
        assert floor + spec["maxReplicaCount"] * gpus[name] <= quota, (name, spec["maxReplicaCount"], quota)
        # and the maximum is not set below what the pool holds (the derivation, not a guess)
        assert floor + (spec["maxReplicaCount"] + 1) * gpus[name] > quota


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_kueue_queue_label(rendered, inventory):
    for dep in rendered[inventory].objects(kind="Deployment", layer="serving"):
        if dep["metadata"]["name"].startswith("vllm-"):
            assert dep["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
            assert dep["spec"]["template"]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_coder_tier_arguments(rendered, inventory):
    for m in INVENTORY[inventory]["llmaas_models"]:
        args = vllm_container(rendered[inventory].one("Deployment", f"vllm-{m['name']}")["spec"]["template"]["spec"])[
            "args"]
        assert args[0] == m["model"]
        assert args[args.index("--served-model-name") + 1] == m["served_name"]
        assert args[args.index("--port") + 1] == "8000"
        assert args[args.index("--max-model-len") + 1] == str(m["max_model_len"])
        assert "agent" in m["tiers"]
        assert "--enable-auto-tool-choice" in args
        assert args[args.index("--tool-call-parser") + 1] == m["tool_call_parser"]
        # vLLM has no server-side FIM switch: clients put the FIM tokens in the prompt
        assert "fim" in m["tiers"]
        assert not [a for a in args if "suffix" in a or "fim" in a.lower()]


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_keda_scales_on_vllm_queue_depth(rendered, inventory):
    inv = INVENTORY[inventory]
    for m in inv["llmaas_models"]:
        so = rendered[inventory].one("ScaledObject", f"vllm-{m['name']}", layer="serving")
        assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": f"vllm-{m['name']}"}
        # vLLM's own queue; the endpoint picker's queue trigger is tests/render/test_scale_to_zero.py's
        prom = [t for t in so["spec"]["triggers"] if "vllm:num_requests_waiting" in t["metadata"].get("query", "")]
        assert len(prom) == 1
        query = prom[0]["metadata"]["query"]
        assert query.startswith("sum by (model_name) (vllm:num_requests_waiting{")
        assert f'model_name="{m["served_name"]}"' in query
        assert int(prom[0]["metadata"]["threshold"]) >= 1
        assert so["spec"]["cooldownPeriod"] > 0
        assert so["spec"]["fallback"]["failureThreshold"] >= 1
        expected_min = 0 if inv["llmaas_features"]["scale_to_zero"] else (2 if inv["llmaas_features"]["ha"] else 1)
        assert so["spec"]["minReplicaCount"] == expected_min
        assert so["spec"]["maxReplicaCount"] >= max(expected_min, 1)
        # KEDA owns the replica count: a fixed one would fight the HPA on every Argo CD sync
        assert "replicas" not in rendered[inventory].one("Deployment", f"vllm-{m['name']}")["spec"]


def test_vast_ha_overlay_is_zero_downtime(rendered):
    tree = rendered["vast"]
    for m in INVENTORY["vast"]["llmaas_models"]:
        dep = tree.one("Deployment", f"vllm-{m['name']}")
        assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        assert tree.one("ScaledObject", f"vllm-{m['name']}")["spec"]["minReplicaCount"] == 2
        assert tree.one("PodDisruptionBudget", f"vllm-{m['name']}")["spec"]["minAvailable"] == 1
        spread = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert [s["topologyKey"] for s in spread] == ["kubernetes.io/hostname"]
        assert spread[0]["labelSelector"]["matchLabels"]["llmaas.platform/model"] == m["name"]


def test_gke_cost_profile_does_not_surge(rendered):
    for m in INVENTORY["gke_l4"]["llmaas_models"]:
        dep = rendered["gke_l4"].one("Deployment", f"vllm-{m['name']}")
        assert dep["spec"]["strategy"] == {"type": "Recreate"}
        assert rendered["gke_l4"].one("PodDisruptionBudget", f"vllm-{m['name']}")["spec"]["maxUnavailable"] == 1
        assert "topologySpreadConstraints" not in dep["spec"]["template"]["spec"]


def test_gke_time_sharing_selects_shared_nodes(tmp_path):
    gpu = dict(INVENTORY["gke_l4"]["llmaas_gpu"], time_slicing={"enabled": True, "clients_per_gpu": 2})
    proc = render("gke_l4", tmp_path, extra_vars={"llmaas_gpu": gpu})
    assert proc.returncode == 0, proc.stdout[-3000:]
    (spec,) = vllm_pod_specs(Tree(tmp_path))
    assert spec["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
        "cloud.google.com/gke-max-shared-clients-per-gpu": "2",
    }


NO_SCALE_TO_ZERO = dict(INVENTORY["gke_l4"]["llmaas_features"], scale_to_zero=False)


@pytest.mark.parametrize("inventory, mode", [("vast", "kserve"), ("vast", "llmisvc"),
                                             ("gke_l4", "kserve"), ("gke_l4", "llmisvc")])
def test_kserve_modes_render_the_same_pod(tmp_path, inventory, mode):
    extra = {"vllm_serving_mode": mode}
    if inventory == "gke_l4":
        extra["llmaas_features"] = NO_SCALE_TO_ZERO
    proc = render(inventory, tmp_path, extra_vars=extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(tmp_path)
    assert not [d for d in tree.objects(kind="Deployment", layer="serving") if d["metadata"]["name"].startswith("vllm")]
    m = INVENTORY[inventory]["llmaas_models"][0]
    if mode == "kserve":
        isvc = tree.one("InferenceService", m["name"], layer="serving")
        ann = isvc["metadata"]["annotations"]
        assert ann["serving.kserve.io/deploymentMode"] == "Standard"
        assert ann["serving.kserve.io/autoscalerClass"] == "keda"
        ext = isvc["spec"]["predictor"]["autoScaling"]["metrics"][0]["external"]["metric"]
        assert ext["backend"] == "prometheus" and "vllm:num_requests_waiting" in ext["query"]
        assert not tree.objects(kind="ScaledObject", layer="serving"), "KServe owns the ScaledObject in kserve mode"
        pool = tree.one("InferencePool", m["name"], layer="routing")
        assert pool["spec"]["selector"]["matchLabels"] == {"serving.kserve.io/inferenceservice": m["name"]}
        assert tree.one("Service", f"vllm-{m['name']}")["spec"]["selector"] == pool["spec"]["selector"]["matchLabels"]
    else:
        llm = tree.one("LLMInferenceService", m["name"], layer="serving")
        assert llm["apiVersion"] == "serving.kserve.io/v1alpha2"
        assert llm["spec"]["model"]["uri"] == f"hf://{m['model']}"
        assert llm["spec"]["template"]["containers"][0]["name"] == "main"
        assert "router" not in llm["spec"], "routing stays with the routing layer"
        pool = tree.one("InferencePool", m["name"], layer="routing")
        assert pool["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": m["name"], "app.kubernetes.io/part-of": "llminferenceservice",
            "kserve.io/component": "workload"}
    (spec,) = vllm_pod_specs(tree)
    assert_starts_without_passwd_entry(spec)
    container = vllm_container(spec)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == m["gpus"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "--enable-auto-tool-choice" in container["args"]
    apps = {a["metadata"]["name"] for a in tree.objects(kind="Application", layer="serving")}
    assert {"kserve-crd", "kserve"} <= apps


# --- bad input ---------------------------------------------------------------------------------------------


def _models(inventory="gke_l4", **changes):
    models = copy.deepcopy(INVENTORY[inventory]["llmaas_models"])
    models[0].update(changes)
    return models


def _without(key):
    models = copy.deepcopy(INVENTORY["gke_l4"]["llmaas_models"])
    models[0].pop(key)
    return models


# (inventory, extra vars, words the message must contain, caught by preflight = nothing written at all)
BAD = {
    "unknown serving mode": ("gke_l4", {"vllm_serving_mode": "triton"}, ["vllm_serving_mode", "raw", "kserve",
                                                                          "llmisvc"], False),
    "gpu count zero": ("gke_l4", {"llmaas_models": _models(gpus=0)}, ["llmaas_models", "gpus"], True),
    "gpu count not a number": ("gke_l4", {"llmaas_models": _models(gpus="two")}, ["gpus", "int"], True),
    "model without name": ("gke_l4", {"llmaas_models": _without("name")}, ["name"], True),
    "duplicate model names": ("gke_l4", {"llmaas_models": _models() * 2}, ["llmaas_models", "duplicates"], True),
    "tensor parallel above gpus": ("gke_l4", {"llmaas_models": _models(tensor_parallel_size=2)},
                                   ["tensor_parallel_size"], True),
    "unknown tier": ("gke_l4", {"llmaas_models": _models(tiers=["chat", "rap"])}, ["tiers", "chat", "fim"], True),
    "kserve cannot hold requests at zero": ("gke_l4", {"vllm_serving_mode": "kserve"},
                                            ["vllm_serving_mode", "scale_to_zero", "raw"], False),
    "time-sharing with two GPUs per replica": (
        "gke_l4", {"llmaas_gpu": dict(INVENTORY["gke_l4"]["llmaas_gpu"],
                                      time_slicing={"enabled": True, "clients_per_gpu": 2}),
                   "llmaas_models": _models(gpus=2)}, ["llmaas_models", "time-sharing", "exactly 1 GPU"], False),
    "more GPUs than a node has": ("gke_l4", {"llmaas_models": _models(gpus=2)},
                                  ["llmaas_models", "gpus_per_node"], False),
    "HA with one replica": ("vast", {"llmaas_models": _models("vast", replicas=1)},
                            ["llmaas_models", "replicas", "llmaas_features.ha"], False),
    "extra_args overrides a managed flag": ("gke_l4", {"llmaas_models": _models(extra_args={"port": 9000})},
                                            ["extra_args.port", "model's own fields"], False),
    "resources without limits": ("gke_l4", {"vllm_serving_resources": {"requests": {"cpu": "1"}}},
                                 ["vllm_serving_resources", "limits"], False),
    "KEDA threshold zero": ("gke_l4", {"vllm_serving_keda": {
        "prometheus_url": "http://p:9090", "threshold": 0, "activation_threshold": 1, "polling_interval": 15,
        "cooldown_period": 300, "max_replicas": 2, "fallback_failure_threshold": 3}},
        ["vllm_serving_keda.threshold"], False),
    # gke_l4: one L4 node at most, one GPU, no time-sharing: the pool (and the Kueue quota) holds one replica
    "KEDA maximum above the GPU pool": ("gke_l4", {"vllm_serving_keda": {
        "prometheus_url": "http://p:9090", "threshold": 4, "activation_threshold": 1, "polling_interval": 15,
        "cooldown_period": 300, "max_replicas": 4, "fallback_failure_threshold": 3}},
        ["vllm_serving_keda.max_replicas", "at most 1", "GPU slots"], False),
    "base replicas above the GPU pool": ("gke_l4", {"llmaas_models": _models(replicas=2)},
                                         ["llmaas_models", "need 2 GPU slots", "offers 1"], False),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_before_the_serving_layer_is_written(tmp_path, case):
    inventory, extra, words, by_preflight = BAD[case]
    out = tmp_path / "tree"
    assert_refused(render(inventory, out, extra_vars=extra), out, words, case)
