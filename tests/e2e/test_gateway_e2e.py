"""T4: the real LiteLLM proxy, started with the config the litellm_gateway role rendered, in front of a real
model server. What a tenant's IDE does, asserted through the gateway (see conftest.py for what is rewritten)."""

import pytest
import requests

from .conftest import MASTER_KEY

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def rendered_names(config):
    return sorted(entry["model_name"] for entry in config["model_list"])


def cost_of(config, name):
    params = next(e["litellm_params"] for e in config["model_list"] if e["model_name"] == name)
    return params["input_cost_per_token"], params["output_cost_per_token"]


def test_models_lists_exactly_the_rendered_names(gateway, rendered_gateway):
    _, config = rendered_gateway
    resp = requests.get(f"{gateway}/v1/models", headers=AUTH, timeout=30)
    assert resp.status_code == 200, resp.text
    assert sorted(m["id"] for m in resp.json()["data"]) == rendered_names(config)
    assert rendered_names(config) == ["qwen-coder-agent", "qwen-coder-chat", "qwen-coder-fim"]


def test_chat_completion_answers_and_is_priced(gateway, rendered_gateway):
    _, config = rendered_gateway
    resp = requests.post(f"{gateway}/v1/chat/completions", headers=AUTH, timeout=120, json={
        "model": "qwen-coder-chat", "max_tokens": 16, "temperature": 0,
        "messages": [{"role": "user", "content": "Write a Python function that adds two numbers."}],
    })
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert isinstance(body["choices"][0]["message"]["content"], str)
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    # The rendered per-token costs reach LiteLLM's spend accounting: this is what makes budgets bind.
    price_in, price_out = cost_of(config, "qwen-coder-chat")
    expected = usage["prompt_tokens"] * price_in + usage["completion_tokens"] * price_out
    assert float(resp.headers["x-litellm-response-cost"]) == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_fim_completion_with_the_models_fim_tokens(gateway, inventory_models):
    fim = inventory_models[0]["fim"]
    prompt = f"{fim['prefix']}def add(a, b):\n    return {fim['suffix']}\n\nprint(add(1, 2))\n{fim['middle']}"
    resp = requests.post(f"{gateway}/v1/completions", headers=AUTH, timeout=120, json={
        "model": "qwen-coder-fim", "prompt": prompt, "max_tokens": 8, "temperature": 0,
    })
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "text_completion"
    assert isinstance(body["choices"][0]["text"], str)
    assert body["usage"]["completion_tokens"] >= 1
    assert float(resp.headers["x-litellm-response-cost"]) > 0


def test_agent_tier_accepts_tools(gateway):
    resp = requests.post(f"{gateway}/v1/chat/completions", headers=AUTH, timeout=120, json={
        "model": "qwen-coder-agent", "max_tokens": 16, "temperature": 0,
        "messages": [{"role": "user", "content": "List the files in the current directory."}],
        "tools": [{"type": "function", "function": {
            "name": "list_files", "description": "List files in a directory",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}],
    })
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["role"] == "assistant"


def test_bad_key_is_rejected_before_the_model(gateway):
    # LiteLLM 1.108 without a database cannot look a virtual key up: it refuses every non-master key with
    # 400 "No connected db." (with Postgres, an unknown key is 401). Either way the model is never called.
    resp = requests.post(f"{gateway}/v1/chat/completions", timeout=30,
                         headers={"Authorization": "Bearer sk-not-a-real-key"},
                         json={"model": "qwen-coder-chat", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["message"] == "No connected db."
    models = requests.get(f"{gateway}/v1/models", headers={"Authorization": "Bearer sk-not-a-real-key"}, timeout=30)
    assert models.status_code == 400


def test_prometheus_metrics_exposed(gateway):
    requests.post(f"{gateway}/v1/chat/completions", headers=AUTH, timeout=120, json={
        "model": "qwen-coder-chat", "max_tokens": 4, "messages": [{"role": "user", "content": "ping"}]})
    # The rendered config sets require_auth_for_metrics_endpoint: false (Prometheus scrapes without a key;
    # the edge never routes /metrics). /metrics redirects to /metrics/.
    resp = requests.get(f"{gateway}/metrics", timeout=30)
    assert resp.status_code == 200
    names = {line.split("{")[0].split(" ")[0] for line in resp.text.splitlines() if line.startswith("litellm_")}
    assert any(n.startswith("litellm_proxy_total_requests_metric") for n in names), sorted(names)[:20]
    assert any("qwen-coder-chat" in line for line in resp.text.splitlines() if line.startswith("litellm_"))
