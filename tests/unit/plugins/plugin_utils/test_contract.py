"""The platform contract: strict checks, one refusal per problem, derived values computed once, the layer registry."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.llmaas.platform.plugins.plugin_utils import contract

ROOT = Path(__file__).resolve().parents[4]
GKE = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())
VAST = yaml.safe_load((ROOT / "inventories/vast/group_vars/all/platform.yml").read_text())


def build(inventory, **changes):
    shared = dict(copy.deepcopy(inventory), **changes)
    return contract.build({k: v for k, v in shared.items() if k.startswith("llmaas_")}, role_vars={}, layers=[])


def refusals(inventory, **changes):
    with pytest.raises(contract.ContractError) as err:
        build(inventory, **changes)
    return err.value.errors


def test_both_inventories_are_accepted_with_every_default_filled():
    for inventory in (GKE, VAST):
        found = build(inventory)
        assert set(found["features"]) == set(contract.role_spec("preflight", "inventory")["llmaas_features"]["options"])
        assert found["argocd"]["project"] == inventory["llmaas_gitops"]["project"]
        assert all(m["served_name"] and m["replicas"] >= 1 for m in found["models"])


def test_time_slicing_default_is_one_definition():
    gpu = {k: v for k, v in GKE["llmaas_gpu"].items() if k != "time_slicing"}
    found = build(GKE, llmaas_gpu=gpu)
    spec = contract.role_spec("preflight", "inventory")["llmaas_gpu"]["options"]["time_slicing"]["options"]
    assert found["gpu"]["time_slicing"] == {"enabled": spec["enabled"]["default"],
                                            "clients_per_gpu": spec["clients_per_gpu"]["default"]}


@pytest.mark.parametrize("slicing, nodes, per_node, expected", [
    ({"enabled": False, "clients_per_gpu": 2}, 1, 1, 1),
    ({"enabled": True, "clients_per_gpu": 2}, 1, 2, 4),
    ({"enabled": True, "clients_per_gpu": 3}, 2, 1, 6),
])
def test_gpu_slots_are_nodes_times_gpus_times_clients(slicing, nodes, per_node, expected):
    """The one figure the Kueue quota, the autoscalers' maxima and the capacity refusals read."""
    gpu = dict(GKE["llmaas_gpu"], gpus_per_node=per_node, time_slicing=slicing)
    shared = {k: v for k, v in dict(copy.deepcopy(GKE), llmaas_gpu=gpu).items() if k.startswith("llmaas_")}
    found = contract.build(shared, role_vars={"gpu_node": {"gpu_node_max_nodes": nodes}}, layers=[])["gpu"]
    assert found["slots"] == expected
    assert found["slots_per_gpu"] == (slicing["clients_per_gpu"] if slicing["enabled"] else 1)
    assert found["slots_per_node"] == per_node * found["slots_per_gpu"]


@pytest.mark.parametrize("stack, gpu_node, expected", [
    ("operator", {"gpu_node_namespace": "gpus"},
     {"source": "gpu-operator-dcgm-exporter", "namespace": "gpus", "service": "nvidia-dcgm-exporter",
      "port": "gpu-metrics", "selector": {"app": "nvidia-dcgm-exporter"}}),
    ("gke-managed", {},
     {"source": "dcgm-exporter-chart", "namespace": "gpu-operator", "service": "dcgm-exporter", "port": "metrics",
      "selector": {"app.kubernetes.io/name": "dcgm-exporter"}}),
    ("gke-managed", {"gpu_node_dcgm_exporter": False}, {"source": "none"}),
    ("none", {}, {"source": "none"}),
], ids=["operator", "gke-managed", "gke-managed-without-exporter", "none"])
def test_gpu_metrics_are_what_the_gpu_layer_deploys(stack, gpu_node, expected):
    """One definition for the gpu layer (which deploys the exporter) and the observability layer (which scrapes it),
    also when the gpu layer's own rules did not run (role defaults under the inventory's values)."""
    shared = {k: v for k, v in copy.deepcopy(GKE).items() if k.startswith("llmaas_")}
    shared["llmaas_gpu"]["stack"] = stack
    assert contract.build(shared, role_vars={"gpu_node": gpu_node}, layers=[])["gpu"]["metrics"] == expected


def test_the_retired_gpu_metrics_table_is_refused():
    """Its second copy of the exporters is gone: setting it is refused with the one to read instead."""
    with pytest.raises(contract.ContractError) as err:
        contract.check_shared({k: v for k, v in GKE.items() if k.startswith("llmaas_")},
                              retired_given=["observability_gpu_metrics_sources"])
    (error,) = err.value.errors
    assert error.startswith("observability_gpu_metrics_sources: no longer read;")
    assert "llmaas_contract.gpu.metrics" in error


@pytest.mark.parametrize("ha, expected", [(True, 2), (False, 1)])
def test_ha_replicas_is_one_figure_for_the_models_and_the_proxies(ha, expected):
    models = [{k: v for k, v in m.items() if k != "replicas"} for m in GKE["llmaas_models"]]
    found = build(GKE, llmaas_features=dict(GKE["llmaas_features"], ha=ha), llmaas_models=models)
    assert found["ha_replicas"] == expected
    assert {m["replicas"] for m in found["models"]} == {expected}, "vllm_serving_replicas 0: the models follow ha"


def test_scale_to_zero_needs_keda_and_raw_mode():
    features = dict(GKE["llmaas_features"], scale_to_zero=True, keda=False)
    found = build(GKE, llmaas_features=features)
    assert found["serving"]["scale_to_zero"] is False
    assert all(m["autoscaling"]["min"] == m["replicas"] for m in found["models"])
    found = build(GKE, llmaas_features=dict(features, keda=True))
    assert found["serving"]["scale_to_zero"] is True
    assert all(m["autoscaling"]["min"] == 0 for m in found["models"])


def test_the_service_url_carries_the_one_port():
    found = contract.build({k: v for k, v in GKE.items() if k.startswith("llmaas_")},
                           role_vars={"vllm_serving": {"vllm_serving_port": 8080}}, layers=["serving"])
    assert found["serving"]["port"] == 8080
    assert all(m["url"].endswith(":8080") for m in found["models"])


def test_registry_lists_every_layer_once_in_wave_order():
    waves = [layer["wave"] for layer in contract.LAYERS]
    assert waves == sorted(waves) and len(set(waves)) == len(waves)
    roles = {layer["role"] for layer in contract.LAYERS}
    assert roles == {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks/main.yml").exists()} - {
        "preflight", "k3s_node"}


def test_registry_keeps_layers_the_play_did_not_run():
    found = build(GKE)
    enabled = [la["name"] for la in found["layers"] if la["enabled"]]
    assert "observability" in enabled and "gateway" in enabled
    off = build(GKE, llmaas_features=dict(GKE["llmaas_features"], observability=False, benchmark=False))
    assert "observability" not in [la["name"] for la in off["layers"] if la["enabled"]]


def test_the_profiles_table_is_the_profiles_the_inventory_may_name():
    spec = contract.role_spec("preflight", "inventory")["llmaas_profile"]
    assert sorted(spec["choices"]) == sorted(contract.PROFILES)
    rows = list(contract.PROFILES.values())
    assert all(set(row) == set(rows[0]) for row in rows), "every profile sets the same figures"


@pytest.mark.parametrize("profile, override, expected", [
    ("cost", None, False), ("prod", None, True), ("prod", False, False), ("cost", True, True)])
def test_the_gateway_redis_the_other_layers_see_is_the_gateways(profile, override, expected):
    """The security layer opens Redis' port from llmaas_contract.gateway.redis: the gateway role's own setting when
    the inventory gives one, else the profile's row."""
    shared = {k: v for k, v in dict(copy.deepcopy(GKE), llmaas_profile=profile).items() if k.startswith("llmaas_")}
    role_vars = {} if override is None else {"litellm_gateway": {"litellm_gateway_redis_enabled": override}}
    found = contract.build(shared, role_vars=role_vars, layers=[])
    assert found["gateway"]["redis"] is expected
    assert found["profile"] == dict(contract.PROFILES[profile], name=profile)


def test_docs_layers_key_table_matches_the_contract():
    """docs/layers.md lists every key of llmaas_contract once (versions: added by the action with the pins)."""
    section = (ROOT / "docs/layers.md").read_text().split("## The platform contract")[1].split("\n## ")[0]
    documented = [key for cell in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|", section, re.M)
                  for key in re.findall(r"`(\w+)`", cell)]
    assert sorted(documented) == sorted(set(build(GKE)) | {"versions"})


def test_docs_layers_table_matches_the_registry():
    table = re.findall(r"^\| (\d+) \| (\w+) \| (\w+):", (ROOT / "docs/layers.md").read_text(), re.M)
    assert [(int(w), n, r) for w, n, r in table] == [(la["wave"], la["name"], la["role"]) for la in contract.LAYERS]


@pytest.mark.parametrize("changes, fragment", [
    ({"llmaas_models": [dict(GKE["llmaas_models"][0], gpus="2")]}, "write 2 without quotes"),
    ({"llmaas_models": [dict(GKE["llmaas_models"][0], gpus=True)]}, "an integer"),
    ({"llmaas_featurs": {}}, "did you mean llmaas_features"),
    ({"llmaas_namespaces": dict(GKE["llmaas_namespaces"], gateway="gw.1")}, "llmaas_namespaces.gateway"),
    ({"llmaas_gitops": dict(GKE["llmaas_gitops"], repo_url="not a url")}, "a Git URL"),
    ({"llmaas_models": [dict(GKE["llmaas_models"][0], image="vllm/vllm-openai")]}, "pinned tag"),
    ({"llmaas_tenants": [dict(GKE["llmaas_tenants"][0],
                              keys=[dict(GKE["llmaas_tenants"][0]["keys"][0], max_parallel_requests=-2)])]},
     "limits >= 0"),
])
def test_refusals_name_the_variable_the_value_and_what_is_allowed(changes, fragment):
    errors = refusals(GKE, **changes)
    assert len(errors) == 1, errors
    assert fragment in errors[0]
    assert "allowed" in errors[0] or "did you mean" in errors[0]


def test_every_problem_in_one_pass():
    """Shape problems all at once; the rules across variables all at once (they need the shapes right)."""
    errors = refusals(GKE, llmaas_models=[dict(GKE["llmaas_models"][0], gpus="2")],
                      llmaas_gpu=dict(GKE["llmaas_gpu"], gpus_per_nod=1), llmaas_profle="cost")
    assert len(errors) == 3, errors
    errors = refusals(GKE, llmaas_tenants=[dict(GKE["llmaas_tenants"][0], rpm_limit=-1)],
                      llmaas_gitops=dict(GKE["llmaas_gitops"], repo_url=""),
                      llmaas_namespaces=dict(GKE["llmaas_namespaces"], serving="Serving"))
    assert len(errors) == 3, errors


def test_pinned_versions_set_in_the_inventory_are_refused():
    shared = {k: v for k, v in GKE.items() if k.startswith("llmaas_")}
    with pytest.raises(contract.ContractError, match="llmaas_images: set in the inventory"):
        contract.build(dict(shared, llmaas_images={}), inventory_names=["llmaas_images"], layers=[])
    pins = contract.pinned_versions()["llmaas_images"]
    contract.build(dict(shared, llmaas_images=dict(pins)), inventory_names=["llmaas_images"],
                   extra_names=["llmaas_images"], layers=[])


def test_an_image_override_on_the_command_line_is_checked_like_the_pins():
    """-e replaces the whole mapping: one lacking a pinned key would leave a layer without its image."""
    shared = {k: v for k, v in GKE.items() if k.startswith("llmaas_")}
    pins = contract.pinned_versions()["llmaas_images"]
    with pytest.raises(contract.ContractError) as err:
        contract.build(dict(shared, llmaas_images={"vllm": pins["vllm"]}), extra_names=["llmaas_images"], layers=[])
    assert "llmaas_images: the -e mapping lacks busybox, dex" in str(err.value)
    with pytest.raises(contract.ContractError) as err:
        contract.build(dict(shared, llmaas_images=dict(pins, vllm="docker.io/vllm/vllm-openai:latest")),
                       extra_names=["llmaas_images"], layers=[])
    assert err.value.errors == ["llmaas_images.vllm: got 'docker.io/vllm/vllm-openai:latest'; allowed: a pinned "
                                "tag other than latest (or a @sha256 digest)"]


def test_render_tree_scan(tmp_path):
    assert contract.scan_tree(tmp_path / "absent", "# Rendered") == ([], {})
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "kustomization.yaml").write_text("resources: []\n")
    (tmp_path / "serving" / "ours.yaml").write_text("# Rendered by llmaas.platform\n")
    errors, tree = contract.scan_tree(tmp_path, "# Rendered by llmaas.platform")
    assert errors == [] and tree == {"serving": {"kustomization.yaml": False, "ours.yaml": True}}
    assert contract._tree_rules({}, tree)[0].startswith("llmaas_render_dir: serving/kustomization.yaml")
    assert contract._tree_rules({}, {"serving": {"README.yaml": False}}) == [], "a foreign file of another name stays"
    file_dir = tmp_path / "file"
    file_dir.write_text("")
    assert "is a file" in contract.scan_tree(file_dir, "#")[0][0]


def test_gitops_path_must_match_inside_a_git_work_tree(tmp_path):
    (tmp_path / ".git").mkdir()
    assert contract.gitops_path_rules(tmp_path / "rendered" / "gke_l4", "rendered/gke_l4") == []
    assert "llmaas_gitops.path" in contract.gitops_path_rules(tmp_path / "out", "rendered/gke_l4")[0]
