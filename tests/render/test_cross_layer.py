"""Names that cross layers agree: what the gateway calls is what routing serves."""

import pytest
import yaml

from .conftest import INVENTORIES


def _litellm_models(tree):
    config = yaml.safe_load(tree.one("ConfigMap", "litellm-config", layer="gateway")["data"]["config.yaml"])
    return config["model_list"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_gateway_model_reaches_a_routed_path_and_a_real_objective(rendered, inventory):
    tree = rendered[inventory]
    prefixes = {
        match["path"]["value"]
        for route in tree.objects(kind="HTTPRoute", layer="routing")
        for rule in route["spec"]["rules"]
        for match in rule.get("matches", [])
        if "path" in match
    }
    objectives = {o["metadata"]["name"] for o in tree.objects(kind="InferenceObjective", layer="routing")}
    entries = _litellm_models(tree)
    assert entries
    for entry in entries:
        params = entry["litellm_params"]
        path = "/" + params["api_base"].split("://", 1)[1].split("/", 1)[1]
        assert any(path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes), (entry["model_name"], prefixes)
        assert params["extra_headers"]["x-gateway-inference-objective"] in objectives
