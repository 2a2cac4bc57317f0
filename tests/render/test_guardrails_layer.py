"""The guardrails layer: Presidio per the contract, reachable only from LiteLLM; the filter's guardrail list."""

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.filter.guardrails import litellm_guardrails

from .conftest import INVENTORIES, Tree, assert_refused, render
from .security_helpers import load_inventory, restricted_violations

NS = {"guardrails": "llm-guardrails"}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_presidio_services_follow_the_contract(rendered, inventory):
    tree = rendered[inventory]
    ns = load_inventory(inventory)["llmaas_namespaces"]["guardrails"]
    replicas = 2 if load_inventory(inventory)["llmaas_profile"] == "prod" else 1
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        svc = tree.one("Service", name)
        assert svc["metadata"]["namespace"] == ns
        assert svc["spec"]["ports"] == [{"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}]
        dep = tree.one("Deployment", name)
        assert dep["spec"]["replicas"] == replicas
        pod = dep["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["image"].endswith(":2.2.362"), "Presidio >= 2.2.361 runs as the presidio user (1001)"
        assert pod["spec"]["securityContext"]["runAsUser"] == 1001
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["resources"]["limits"]["memory"]
        assert restricted_violations(pod) == []


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_only_litellm_reaches_presidio(rendered, inventory):
    tree = rendered[inventory]
    ns = load_inventory(inventory)["llmaas_namespaces"]
    policy = tree.one("NetworkPolicy", "presidio-ingress")
    peers = [peer for rule in policy["spec"].get("ingress", []) for peer in rule["from"]]
    assert peers == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns["gateway"]}},
                      "podSelector": {"matchLabels": {"app.kubernetes.io/name": "litellm"}}}]
    assert tree.objects(kind="NetworkPolicy", name="default-deny", namespace=ns["guardrails"])


def test_filter_defaults_per_profile():
    cost = {g["guardrail_name"]: g["litellm_params"] for g in litellm_guardrails(NS, None, "cost")}
    prod = {g["guardrail_name"]: g["litellm_params"] for g in litellm_guardrails(NS, {}, "prod")}
    assert set(cost) == set(prod) == {"pii-masking", "prompt-injection"}
    assert cost["pii-masking"]["default_on"] is False and prod["pii-masking"]["default_on"] is True
    assert cost["prompt-injection"]["default_on"] is True and prod["prompt-injection"]["default_on"] is True
    pii = prod["pii-masking"]
    assert pii["guardrail"] == "presidio" and pii["mode"] == "pre_call"
    assert pii["presidio_analyzer_api_base"] == "http://presidio-analyzer.llm-guardrails.svc.cluster.local:3000"
    assert set(pii["pii_entities_config"].values()) == {"MASK"}
    inj = prod["prompt-injection"]
    assert inj["guardrail"] == "litellm_content_filter" and inj["mode"] == "pre_call"
    assert {c["action"] for c in inj["categories"]} == {"BLOCK"}


def test_filter_settings_override():
    out = litellm_guardrails(NS, {"pii": {"entities": ["EMAIL_ADDRESS"], "action": "BLOCK", "default_on": True},
                                  "prompt_injection": {"enabled": False}}, "cost")
    assert [g["guardrail_name"] for g in out] == ["pii-masking"]
    assert out[0]["litellm_params"]["pii_entities_config"] == {"EMAIL_ADDRESS": "BLOCK"}


def test_filter_categories_exist_in_the_installed_litellm():
    import importlib.util
    from pathlib import Path
    spec = importlib.util.find_spec("litellm")
    if spec is None:
        pytest.skip("litellm is not installed in this environment")
    data = Path(spec.origin).parent / "proxy" / "guardrails" / "content_filter_data" / "categories"
    for guardrail in litellm_guardrails(NS, {"prompt_injection": {"categories": [
            "prompt_injection_jailbreak", "prompt_injection_system_prompt", "prompt_injection_data_exfiltration",
            "prompt_injection_malicious_code", "prompt_injection_sql"]}}, "prod"):
        for category in guardrail["litellm_params"].get("categories", []):
            assert (data / f"{category['category']}.yaml").is_file(), category


@pytest.mark.parametrize("settings,message", [
    ({"pii": {"action": "DROP"}}, "pii.action"),
    ({"pii": {"entities": []}}, "pii.entities"),
    ({"prompt_injection": {"categories": ["prompt_injection_bogus"]}}, "categories"),
    ({"unknown": 1}, "unknown setting"),
    ({"pii": {"default_on": {"cost": "yes", "prod": True}}}, "default_on"),
    ({"prompt_injection": {"name": "bad name!"}}, "name"),
])
def test_filter_rejects_bad_settings(settings, message):
    with pytest.raises(AnsibleFilterError, match=message):
        litellm_guardrails(NS, settings, "prod")


@pytest.mark.parametrize("overrides,message", [
    ({"llmaas_guardrails": {"pii": {"action": "DROP"}}}, "pii.action"),
    ({"guardrails_run_as_user": 0}, "run_as_user"),
    ({"llmaas_guardrails": {"pii": {"enabled": False}, "prompt_injection": {"enabled": False}}}, "at least one"),
], ids=["pii-action", "root-user", "nothing-on"])
def test_bad_guardrail_inputs_fail_before_the_layer_is_written(tmp_path, overrides, message):
    out = tmp_path / "out"
    assert_refused(render("gke_l4", out, extra_vars=overrides), out, [message])


def test_a_tenant_opt_out_is_refused_on_the_open_source_proxy(tmp_path):
    """guardrails: false on a tenant would need LiteLLM Enterprise (key/team guardrails): refused, nothing written."""
    tenants = load_inventory("vast")["llmaas_tenants"]
    tenants = [dict(tenants[0], guardrails=False)] + tenants[1:]
    proc = render("vast", tmp_path / "tree", extra_vars={"llmaas_tenants": tenants})
    assert_refused(proc, tmp_path / "tree", [f"llmaas_tenants['{tenants[0]['team_id']}'].guardrails: got false",
                                             "LiteLLM Enterprise"])


# --- per-tenant guardrails through guarded model groups (open source: model-group guardrails + key `models`) -----

def _model_list(render_dir):
    return yaml.safe_load(Tree(render_dir).one("ConfigMap", "litellm-config")["data"]["config.yaml"])["model_list"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_no_opt_in_renders_no_guarded_variant(rendered, inventory):
    config = yaml.safe_load(rendered[inventory].one("ConfigMap", "litellm-config")["data"]["config.yaml"])
    assert config["model_list"], "no model list rendered"
    assert [e for e in config["model_list"] if "+" in e["model_name"] or "guardrails" in e["litellm_params"]] == []


def test_tenant_opt_ins_render_one_guarded_variant_per_set(tmp_path):
    """cost profile with prompt-injection off by default too: two tenants, two distinct sets, one variant per
    model-tier entry and set; same litellm_params plus the set's guardrails, same model_info."""
    tenants = [
        {"team_id": "team-a", "guardrails": ["pii-masking"]},
        {"team_id": "team-b", "guardrails": ["prompt-injection", "pii-masking"]},
        {"team_id": "team-c", "guardrails": ["pii-masking", "prompt-injection"]},  # the same set as team-b
        {"team_id": "team-d"},
    ]
    extra = {"llmaas_tenants": tenants,
             "llmaas_guardrails": {"prompt_injection": {"default_on": {"cost": False, "prod": True}}}}
    runs = []
    for run in ("one", "two"):
        proc = render("gke_l4", tmp_path / run, extra_vars=extra)
        assert proc.returncode == 0, proc.stdout[-3000:]
        runs.append((tmp_path / run / "gateway" / "configmap-litellm-config.yaml").read_bytes())
    assert runs[0] == runs[1], "the config must render byte for byte the same"
    entries = _model_list(tmp_path / "one")
    plain = [e for e in entries if "+" not in e["model_name"]]
    assert [e["model_name"] for e in plain] == ["qwen-coder-chat", "qwen-coder-fim", "qwen-coder-agent"]
    by_name = {e["model_name"]: e for e in entries}
    expected = {}
    for suffix, guards in (("+pii-masking", ["pii-masking"]),
                           ("+pii-masking+prompt-injection", ["pii-masking", "prompt-injection"])):
        for entry in plain:
            expected[entry["model_name"] + suffix] = (entry, guards)
    assert sorted(by_name) == sorted([e["model_name"] for e in plain] + list(expected))
    for name, (entry, guards) in expected.items():
        variant = by_name[name]
        assert variant["litellm_params"] == dict(entry["litellm_params"], guardrails=guards)
        assert variant["model_info"] == entry["model_info"]
    assert all("guardrails" not in e["litellm_params"] for e in plain)


@pytest.mark.parametrize("inventory,guardrails,fragments", [
    ("gke_l4", ["pii-mask"], ["'pii-mask' is no guardrail of the gateway",
                              "allowed: true or a list of guardrails that are off by default: pii-masking"]),
    ("gke_l4", ["prompt-injection"], ["'prompt-injection' is on by default for every tenant (nothing to enforce)",
                                      "allowed: true or a list of guardrails that are off by default: pii-masking"]),
    ("gke_l4", "pii-masking", ["got 'pii-masking'; allowed: true or a list of guardrails"]),
    # prod: both guardrails are on by default, nothing is left to enforce per tenant
    ("vast", ["pii-masking"], ["'pii-masking' is on by default for every tenant",
                               "allowed: true only (no guardrail of this gateway is off by default)"]),
], ids=["unknown", "default-on", "not-a-list", "prod-all-on"])
def test_a_guardrail_opt_in_the_gateway_cannot_honour_is_refused(tmp_path, inventory, guardrails, fragments):
    tenants = load_inventory(inventory)["llmaas_tenants"]
    tenants = [dict(tenants[0], guardrails=guardrails)] + tenants[1:]
    proc = render(inventory, tmp_path / "tree", extra_vars={"llmaas_tenants": tenants})
    where = f"llmaas_tenants['{tenants[0]['team_id']}'].guardrails: got "
    assert_refused(proc, tmp_path / "tree", [where] + fragments)


def test_a_bad_opt_in_is_refused_in_the_contracts_one_pass(tmp_path):
    """The opt-in check is one of the contract's rules: it is listed with the gateway's other refusals in one
    message, not found by a later task after them."""
    tenants = load_inventory("gke_l4")["llmaas_tenants"]
    tenants = [dict(tenants[0], guardrails=["pii-mask"])] + tenants[1:]
    proc = render("gke_l4", tmp_path / "tree", extra_vars={"llmaas_tenants": tenants, "litellm_gateway_timeout": 0})
    assert_refused(proc, tmp_path / "tree", [
        "the inventory was refused (2 problems, nothing was written)",
        "litellm_gateway_timeout: got 0; allowed: >= 1",
        f"llmaas_tenants['{tenants[0]['team_id']}'].guardrails: got ['pii-mask']; 'pii-mask' is no guardrail"])
