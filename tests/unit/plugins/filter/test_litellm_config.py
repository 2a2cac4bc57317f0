"""The LiteLLM config filter: one priced entry per model and tier, secrets only as os.environ references,
fail-open vs fail-closed budgets, Redis coordinates, guardrails, and clear errors on bad input."""

import pytest

from ansible_collections.llmaas.platform.plugins.filter.litellm_config import litellm_config

MODEL = {
    "name": "qwen-coder", "served_name": "qwen2.5-coder-1.5b-instruct", "tiers": ["chat", "fim", "agent"],
    "max_model_len": 16384, "cost": {"input_per_token": 0.0000002, "output_per_token": 0.0000006},
}
URL = "http://10.128.0.50"
REDIS = {"host": "litellm-redis.llm-gateway.svc.cluster.local", "port": 6379, "password_env": "REDIS_PASSWORD"}


def test_one_priced_entry_per_model_and_tier():
    config = litellm_config([MODEL], URL)
    assert [e["model_name"] for e in config["model_list"]] == ["qwen-coder-chat", "qwen-coder-fim", "qwen-coder-agent"]
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        assert params["model"] == "hosted_vllm/qwen2.5-coder-1.5b-instruct"
        assert params["api_base"] == "http://10.128.0.50/qwen-coder/v1"
        assert params["input_cost_per_token"] == 0.0000002
        assert params["output_cost_per_token"] == 0.0000006
    info = {e["model_name"]: e["model_info"] for e in config["model_list"]}
    assert info["qwen-coder-fim"]["mode"] == "completion"
    assert info["qwen-coder-agent"]["supports_function_calling"] is True
    assert info["qwen-coder-chat"]["supports_function_calling"] is False


def test_served_name_defaults_to_the_model_name_and_trailing_slash_is_dropped():
    model = dict(MODEL, tiers=["chat"])
    model.pop("served_name")
    entry = litellm_config([model], URL + "/")["model_list"][0]
    assert entry["litellm_params"]["model"] == "hosted_vllm/qwen-coder"
    assert entry["litellm_params"]["api_base"] == "http://10.128.0.50/qwen-coder/v1"


def test_secrets_are_environment_references_only():
    general = litellm_config([MODEL], URL, redis=REDIS)["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert general["database_url"] == "os.environ/DATABASE_URL"
    assert general["coordination_redis"]["password"] == "os.environ/REDIS_PASSWORD"


def test_cost_profile_fails_open_prod_fails_closed():
    cost = litellm_config([MODEL], URL)
    assert cost["general_settings"]["fail_closed_budget_enforcement"] is False
    assert cost["general_settings"]["allow_requests_on_db_unavailable"] is False
    assert "coordination_redis" not in cost["general_settings"]
    assert "redis_host" not in cost["router_settings"]
    prod = litellm_config([MODEL], URL, budget_fail_closed=True, redis=REDIS)
    assert prod["general_settings"]["fail_closed_budget_enforcement"] is True
    assert prod["general_settings"]["fail_closed_rate_limit_enforcement"] is True
    assert prod["router_settings"]["redis_host"] == REDIS["host"]
    assert prod["router_settings"]["redis_password"] == "os.environ/REDIS_PASSWORD"


def test_prometheus_callback_and_guardrails():
    config = litellm_config([MODEL], URL, guardrails=[{"guardrail_name": "x", "litellm_params": {}}])
    assert "prometheus" in config["litellm_settings"]["callbacks"]
    assert config["guardrails"][0]["guardrail_name"] == "x"
    assert "guardrails" not in litellm_config([MODEL], URL)


def test_exhausted_budget_answers_429_so_clients_back_off():
    assert litellm_config([MODEL], URL)["litellm_settings"]["budget_exceeded_status_code"] == 429


@pytest.mark.parametrize("models, url, message", [
    ([dict(MODEL, cost={"input_per_token": -1, "output_per_token": 0})], URL, "cost.input_per_token"),
    ([dict(MODEL, cost={"input_per_token": 0})], URL, "cost.output_per_token"),
    ([dict(MODEL, tiers=["embed"])], URL, "unknown tier"),
    ([MODEL], "10.0.0.1", "llmaas_inference_url"),
    ([], URL, "at least one model"),
    ([MODEL, MODEL], URL, "unique"),
])
def test_bad_input_is_named(models, url, message):
    with pytest.raises(ValueError, match=message):
        litellm_config(models, url)


def test_each_tier_names_its_inference_objective():
    entries = litellm_config([MODEL], URL)["model_list"]
    headers = {e["model_name"]: e["litellm_params"]["extra_headers"]["x-gateway-inference-objective"] for e in entries}
    assert headers == {"qwen-coder-chat": "qwen-coder-chat", "qwen-coder-fim": "qwen-coder-fim",
                       "qwen-coder-agent": "qwen-coder-agent"}
