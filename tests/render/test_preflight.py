"""Bad input stops the run before anything is written, with a message naming the variable and allowed values."""

import copy

import pytest
import yaml

from .conftest import ROOT, render, assert_refused

GKE = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())
PINS = yaml.safe_load((ROOT / "playbooks/vars/versions.yml").read_text())["llmaas_images"]


def _models(**changes):
    models = copy.deepcopy(GKE["llmaas_models"])
    models[0].update(changes)
    return models


def _without(mapping, key):
    out = copy.deepcopy(mapping)
    out.pop(key)
    return out


CASES = {
    "unknown substrate": ({"llmaas_substrate": "aws"}, ["llmaas_substrate", "gke", "vast"]),
    "unknown profile": ({"llmaas_profile": "gold"}, ["llmaas_profile", "cost", "prod"]),
    "unknown delivery": ({"llmaas_delivery": "push"}, ["llmaas_delivery", "render", "apply"]),
    "unknown feature flag": ({"llmaas_features": dict(GKE["llmaas_features"], turbo=True)}, ["turbo"]),
    "feature flag not a bool": ({"llmaas_features": dict(GKE["llmaas_features"], keda="often")}, ["keda"]),
    "unknown GPU stack": ({"llmaas_gpu": dict(GKE["llmaas_gpu"], stack="rocm")},
                          ["stack", "gke-managed", "operator", "none"]),
    "unknown tier": ({"llmaas_models": _models(tiers=["chat", "poetry"])}, ["tiers", "chat", "fim", "agent"]),
    "gpus not a number": ({"llmaas_models": _models(gpus="two")}, ["gpus", "int"]),
    "gpus zero": ({"llmaas_models": _models(gpus=0)}, ["llmaas_models", "gpus must be >= 1"]),
    "tensor parallel above gpus": ({"llmaas_models": _models(tensor_parallel_size=4)},
                                   ["llmaas_models", "tensor_parallel_size"]),
    "model without name": ({"llmaas_models": [_without(GKE["llmaas_models"][0], "name")]}, ["name"]),
    "duplicate model names": ({"llmaas_models": GKE["llmaas_models"] * 2}, ["llmaas_models", "duplicates"]),
    "model name not a DNS label": ({"llmaas_models": _models(name="Qwen_Coder")}, ["llmaas_models", "Qwen_Coder"]),
    "agent tier without parser": ({"llmaas_models": [_without(GKE["llmaas_models"][0], "tool_call_parser")]},
                                  ["tool_call_parser"]),
    "model without cost": ({"llmaas_models": [_without(GKE["llmaas_models"][0], "cost")]}, ["cost"]),
    "negative tenant budget": (
        {"llmaas_tenants": [dict(GKE["llmaas_tenants"][0], max_budget=-5)]}, ["llmaas_tenants", "budgets >= 0"]),
    "tenant asks for an unknown model": (
        {"llmaas_tenants": [dict(GKE["llmaas_tenants"][0], models=["gpt-5"])]}, ["llmaas_tenants", "gpt-5"]),
    "duplicate key aliases": (
        {"llmaas_tenants": [GKE["llmaas_tenants"][0], dict(GKE["llmaas_tenants"][0], team_id="team-2")]},
        ["duplicate aliases", "platform-ide-alice"]),
    "secret backend unknown": ({"llmaas_secrets": dict(GKE["llmaas_secrets"], backend="vaultwarden")},
                               ["backend", "gcp-secret-manager", "kubernetes", "vault"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_clearly_and_writes_nothing(tmp_path, case):
    extra, expected = CASES[case]
    out = tmp_path / "tree"
    assert_refused(render("gke_l4", out, extra_vars=extra), out, expected, case)


def test_good_input_still_renders(tmp_path):
    """The cases above fail for their own reason, not because the baseline is broken."""
    proc = render("gke_l4", tmp_path / "tree")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "tree" / "platform" / "kustomization.yaml").is_file()


# --- issue 12: each class of input a new user got wrong is refused in one short line, before anything is written --

def _tenant(**changes):
    tenant = copy.deepcopy(GKE["llmaas_tenants"][0])
    tenant.update(changes)
    return [tenant]


CONTRACT_CASES = {
    "quoted number": ({"llmaas_models": _models(gpus="2")},
                      ["llmaas_models['qwen-coder'].gpus", "'2'", "an integer", "without quotes"]),
    "negative rpm limit": ({"llmaas_tenants": _tenant(rpm_limit=-1)},
                           ["llmaas_tenants['team-platform'].rpm_limit", "-1", "limits >= 0"]),
    "negative tpm limit on a key": (
        {"llmaas_tenants": _tenant(keys=[dict(GKE["llmaas_tenants"][0]["keys"][0], tpm_limit=-100)])},
        ["keys['platform-ide-alice'].tpm_limit", "-100", ">= 0"]),
    "namespace not a DNS label": ({"llmaas_namespaces": dict(GKE["llmaas_namespaces"], serving="LLM_Serving")},
                                  ["llmaas_namespaces.serving", "'LLM_Serving'", "DNS label"]),
    "empty GitOps repo URL": ({"llmaas_gitops": dict(GKE["llmaas_gitops"], repo_url="")},
                              ["llmaas_gitops.repo_url", "''", "non-empty"]),
    "image tag latest": ({"llmaas_models": _models(image="docker.io/vllm/vllm-openai:latest")},
                         ["llmaas_models['qwen-coder'].image", "latest", "pinned tag"]),
    "image override tag latest": ({"llmaas_images": dict(PINS, vllm="docker.io/vllm/vllm-openai:latest")},
                                  ["llmaas_images.vllm", "latest", "pinned tag"]),
    "image override lacking pins": ({"llmaas_images": {"vllm": PINS["vllm"]}},
                                    ["llmaas_images: the -e mapping lacks busybox", "every key"]),
    "misspelled llmaas variable": ({"llmaas_featurs": {"keda": True}},
                                   ["llmaas_featurs", "did you mean llmaas_features"]),
    "misspelled setting": ({"llmaas_gpu": dict(GKE["llmaas_gpu"], gpus_per_nod=2)},
                           ["llmaas_gpu", "'gpus_per_nod'", "did you mean 'gpus_per_node'"]),
}


@pytest.mark.parametrize("case", sorted(CONTRACT_CASES))
def test_each_class_is_one_clear_refusal(tmp_path, case):
    extra, expected = CONTRACT_CASES[case]
    out = tmp_path / "tree"
    proc = render("gke_l4", out, extra_vars=extra)
    assert_refused(proc, out, expected, case)
    assert "argument_spec" not in proc.stdout, "the refusal dumps an argument spec"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_several_problems_are_reported_in_one_pass(tmp_path):
    out = tmp_path / "tree"
    proc = render("gke_l4", out, extra_vars={"llmaas_tenants": _tenant(rpm_limit=-1),
                                             "llmaas_gitops": dict(GKE["llmaas_gitops"], repo_url=""),
                                             "llmaas_namespaces": dict(GKE["llmaas_namespaces"], serving="Serving")})
    assert_refused(proc, out, ["3 problems", "rpm_limit", "repo_url", "llmaas_namespaces.serving"])


def test_render_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "tree"
    target.write_text("not a directory\n")
    proc = render("gke_l4", target)
    assert proc.returncode != 0
    assert f"llmaas_render_dir: {target} is a file" in proc.stdout
    assert "Errno" not in proc.stdout
    assert target.read_text() == "not a directory\n"


def test_a_users_own_kustomization_is_never_overwritten(tmp_path):
    out = tmp_path / "tree"
    (out / "serving").mkdir(parents=True)
    mine = out / "serving" / "kustomization.yaml"
    mine.write_text("resources: [my-own.yaml]\n")
    proc = render("gke_l4", out)
    assert proc.returncode != 0
    assert "serving/kustomization.yaml exists without the 'Rendered by llmaas.platform' header" in proc.stdout
    assert mine.read_text() == "resources: [my-own.yaml]\n"
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["kustomization.yaml"], "something was written"


def test_image_overrides_in_the_inventory_are_refused_not_ignored(tmp_path):
    inventory = tmp_path / "inv"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    for name in ("hosts.yml",):
        (inventory / name).write_text((ROOT / "inventories/gke_l4" / name).read_text())
    for f in (ROOT / "inventories/gke_l4/group_vars/all").iterdir():
        (inventory / "group_vars" / "all" / f.name).write_text(f.read_text())
    (inventory / "group_vars" / "all" / "images.yml").write_text(
        "llmaas_images:\n  vllm: docker.io/vllm/vllm-openai:v0.11.1\n")
    out = tmp_path / "tree"
    proc = render(str(inventory), out)
    assert_refused(proc, out, ["llmaas_images: set in the inventory", "playbooks/vars/versions.yml"])


def test_every_variable_an_inventory_sets_is_documented_in_the_preflight_spec():
    spec = yaml.safe_load((ROOT / "roles/preflight/meta/argument_specs.yml").read_text())
    documented = set(spec["argument_specs"]["inventory"]["options"])
    for inventory in ("gke_l4", "vast"):
        for f in sorted((ROOT / "inventories" / inventory / "group_vars").rglob("*.yml")):
            names = set(yaml.safe_load(f.read_text()) or {})
            assert names <= documented, f"{f}: {sorted(names - documented)} missing from the preflight docs"


def test_a_clean_run_prints_no_warning_and_ends_with_a_summary(tmp_path):
    proc = render("gke_l4", tmp_path / "tree")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "[WARNING]" not in proc.stdout + proc.stderr
    assert "serving" in proc.stdout and "unchanged" in proc.stdout
    assert f"tree: {tmp_path / 'tree'}" in proc.stdout
    assert "kubectl apply -f" in proc.stdout
