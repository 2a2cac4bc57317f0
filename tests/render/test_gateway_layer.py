"""The gateway layer as rendered for both inventories: what LiteLLM will actually run with, how secrets reach
it, and how the cost and prod profiles differ; plus bad inputs refused with a message naming the variable."""

import pytest
import yaml

from .conftest import render, assert_refused

NS = "llm-gateway"


def config(tree):
    return yaml.safe_load(tree.one("ConfigMap", "litellm-config")["data"]["config.yaml"])


def container(tree, name):
    return tree.one("Deployment", name)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("inventory, model, url, costs", [
    ("gke_l4", "qwen-coder", "http://10.128.0.50", (0.0000002, 0.0000006)),
    ("vast", "qwen-coder-7b", "http://llmaas-inference.llm-routing.svc.cluster.local", (0.0000004, 0.0000012)),
])
def test_model_list_is_generated_from_the_inventory(rendered, inventory, model, url, costs):
    entries = config(rendered[inventory])["model_list"]
    assert [e["model_name"] for e in entries] == [f"{model}-chat", f"{model}-fim", f"{model}-agent"]
    for entry in entries:
        params = entry["litellm_params"]
        assert params["api_base"] == f"{url}/{model}/v1"
        assert params["model"].startswith("hosted_vllm/qwen2.5-coder-")
        assert (params["input_cost_per_token"], params["output_cost_per_token"]) == costs


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_secrets_only_by_reference(rendered, inventory):
    tree = rendered[inventory]
    general = config(tree)["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    env = {e["name"]: e for e in container(tree, "litellm")["env"]}
    assert env["LITELLM_MASTER_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "litellm-secrets",
                                                                       "key": "LITELLM_MASTER_KEY"}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "litellm-postgres-app", "key": "uri"}
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"]["value"] == "True"
    assert all("value" not in e for n, e in env.items() if n != "LITELLM_LOCAL_MODEL_COST_MAP")
    store = tree.one("ExternalSecret", "litellm-secrets")["spec"]
    assert store["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "llmaas"}
    assert {d["remoteRef"]["key"] for d in store["data"]} == {"llmaas-litellm-master-key", "llmaas-litellm-salt-key"}
    assert not tree.objects(kind="Secret", layer="gateway")


def test_cost_versus_prod(rendered):
    cost, prod = rendered["gke_l4"], rendered["vast"]
    assert cost.one("Deployment", "litellm")["spec"]["replicas"] == 1
    assert prod.one("Deployment", "litellm")["spec"]["replicas"] == 2
    assert not cost.objects(kind="Deployment", name="litellm-redis")
    assert prod.one("Deployment", "litellm-redis")
    assert container(prod, "litellm-redis")["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "litellm-redis"
    assert cost.one("Cluster", "litellm-postgres")["spec"]["instances"] == 1
    assert cost.one("Cluster", "litellm-postgres")["spec"]["enablePDB"] is False
    assert prod.one("Cluster", "litellm-postgres")["spec"]["instances"] == 3
    assert prod.one("Cluster", "litellm-postgres")["spec"]["enablePDB"] is True
    assert prod.one("ScheduledBackup", "litellm-postgres-daily")["spec"]["cluster"]["name"] == "litellm-postgres"
    assert not cost.objects(kind="ScheduledBackup")
    assert config(cost)["general_settings"]["fail_closed_budget_enforcement"] is False
    assert config(prod)["general_settings"]["fail_closed_budget_enforcement"] is True
    assert config(prod)["general_settings"]["coordination_redis"]["host"] == f"litellm-redis.{NS}.svc.cluster.local"
    assert prod.one("PodDisruptionBudget", "litellm")["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_probes_security_and_edge(rendered, inventory):
    tree = rendered[inventory]
    deployment = tree.one("Deployment", "litellm")
    pod = deployment["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["image"].startswith("ghcr.io/berriai/litellm-non_root:")
    assert main["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert main["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert main["ports"] == [{"name": "http", "containerPort": 4000, "protocol": "TCP"}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert main["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert set(main["resources"]) == {"requests", "limits"}
    assert tree.one("Service", "litellm")["spec"]["ports"][0]["port"] == 4000
    route = tree.one("HTTPRoute", "litellm")["spec"]
    assert [m["path"]["value"] for m in route["rules"][0]["matches"]] == ["/v1"]
    assert route["rules"][0]["backendRefs"] == [{"name": "litellm", "port": 4000}]
    assert "prometheus" in config(tree)["litellm_settings"]["callbacks"]


def test_config_change_rolls_the_pods(rendered):
    gke = rendered["gke_l4"].one("Deployment", "litellm")["spec"]["template"]["metadata"]["annotations"]
    vast = rendered["vast"].one("Deployment", "litellm")["spec"]["template"]["metadata"]["annotations"]
    assert gke["llmaas.platform/config-sha256"] != vast["llmaas.platform/config-sha256"]


@pytest.mark.parametrize("inventory, extra, message", [
    ("gke_l4", {"litellm_gateway_replicas": "0"}, "litellm_gateway_replicas"),
    ("gke_l4", {"litellm_gateway_replicas": "two"}, "litellm_gateway_replicas"),
    ("gke_l4", {"litellm_gateway_replicas": "2"}, "litellm_gateway_redis_enabled must be true"),
    ("gke_l4", {"litellm_gateway_postgres_backup_schedule": "0 3 * * *"}, "six cron fields"),
    ("gke_l4", {"litellm_gateway_postgres_storage_size": "5GB"}, "litellm_gateway_postgres_storage_size"),
    ("vast", {"litellm_gateway_budget_fail_closed": "false"}, "requires litellm_gateway_budget_fail_closed"),
    ("vast", {"litellm_gateway_allow_requests_on_db_unavailable": "true"},
     "litellm_gateway_allow_requests_on_db_unavailable false"),
    ("gke_l4", {"litellm_gateway_edge_enabled": "maybe"}, "litellm_gateway_edge_enabled"),
])
def test_bad_input_is_refused_before_the_layer_is_written(tmp_path, inventory, extra, message):
    assert_refused(render(inventory, tmp_path, extra_vars=extra), tmp_path, [message])
