"""Bad input stops the run before anything is written, with a message naming the variable and allowed values."""

import copy

import pytest
import yaml

from .conftest import ROOT, render, assert_refused

GKE = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())


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
