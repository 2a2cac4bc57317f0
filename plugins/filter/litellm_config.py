# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build LiteLLM's proxy config.yaml (as a dict) from the inventory's models and the deployment profile.

The role dumps the result with to_nice_yaml into the litellm-config ConfigMap, so the config is one clean
YAML document built from data, never pasted together from strings. Key names follow LiteLLM 1.108
(litellm/proxy/_types.py ConfigGeneralSettings, litellm/types/router.py, litellm/proxy/proxy_server.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.llmaas.platform.plugins.plugin_utils import tenant_guardrails

DOCUMENTATION = r"""
name: litellm_config
short_description: LiteLLM proxy config (model_list, router, litellm and general settings) from llmaas_models
description:
  - One C(model_list) entry per model and tier, named C(<model>-<tier>) as the gateway_models filter names them,
    pointing at C(<inference_url>/<model>/v1) with the engine's served name and the model's cost per token.
  - Secrets are referenced as C(os.environ/NAME); no value ever enters the config.
positional: models
options:
  _input: {description: llmaas_models, type: list, elements: dict, required: true}
  inference_url: {description: Base URL of the inference gateway (llmaas_inference_url)., type: str, required: true}
  budget_fail_closed: {description: Refuse (503) when spend cannot be verified instead of serving., type: bool}
  allow_requests_on_db_unavailable:
    description: Let any bearer through as a restricted user while Postgres is unreachable (auth fails open).
    type: bool
  redis: {description: "Redis coordinates {host, port, password_env} or empty for none.", type: dict}
  guardrails: {description: LiteLLM guardrails entries, put under the top-level guardrails key., type: list}
  tenants:
    description:
      - llmaas_tenants. For every set of off-by-default guardrails a tenant opts into (C(guardrails) list), each
        model-tier entry gets a guarded variant C(<public name>+<guardrail>[+<guardrail>]) with the same
        litellm_params plus C(guardrails) (a model group's own guardrails run for every caller of it).
    type: list
"""

PROVIDER = "hosted_vllm"
# <module>.<instance> of roles/litellm_gateway/files/llmaas_retry_after.py, which the litellm-config ConfigMap
# ships beside config.yaml (LiteLLM imports callbacks from the config's directory).
RETRY_AFTER_CALLBACK = "llmaas_retry_after.retry_after"
# The tier decides the endpoint a client uses: fim prompts go to /v1/completions, the rest to chat.
TIER_MODE = {"chat": "chat", "agent": "chat", "fim": "completion"}


def _model_entry(model, tier, inference_url, timeout):
    if tier not in TIER_MODE:
        raise ValueError(f"llmaas_models['{model['name']}']: unknown tier {tier!r}; allowed: {sorted(TIER_MODE)}")
    cost = model.get("cost") or {}
    for field in ("input_per_token", "output_per_token"):
        if not isinstance(cost.get(field), (int, float)) or isinstance(cost.get(field), bool) or cost[field] < 0:
            raise ValueError(
                f"llmaas_models['{model['name']}'].cost.{field} must be a number >= 0 so budgets bind; "
                f"got {cost.get(field)!r}"
            )
    served = model.get("served_name") or model["name"]
    info = {
        "mode": TIER_MODE[tier],
        "llmaas_model": model["name"],
        "llmaas_tier": tier,
        "supports_function_calling": tier == "agent",
    }
    if model.get("max_model_len"):
        info["max_input_tokens"] = int(model["max_model_len"])
    return {
        "model_name": f"{model['name']}-{tier}",
        "litellm_params": {
            "model": f"{PROVIDER}/{served}",
            "api_base": f"{inference_url.rstrip('/')}/{model['name']}/v1",
            # Not a secret: vLLM runs without --api-key behind the inference gateway; the OpenAI client
            # underneath LiteLLM insists on some value.
            "api_key": "not-needed",
            "input_cost_per_token": float(cost["input_per_token"]),
            "output_cost_per_token": float(cost["output_per_token"]),
            "timeout": timeout,
            # Names the tier's InferenceObjective, so the endpoint picker serves autocompletion before chat and
            # chat before agent runs when the pool is saturated.
            "extra_headers": {"x-gateway-inference-objective": f"{model['name']}-{tier}"},
        },
        "model_info": info,
    }


def _guarded_entry(entry, names):
    """The same model group under its guarded name, running `names` before every call (LiteLLM 1.108
    proxy/utils.py check_and_merge_model_level_guardrails merges litellm_params.guardrails before pre_call)."""
    variant = copy.deepcopy(entry)
    variant["model_name"] = tenant_guardrails.guarded_name(entry["model_name"], names)
    variant["litellm_params"]["guardrails"] = list(names)
    return variant


def litellm_config(models, inference_url, budget_fail_closed=False, redis=None, guardrails=None, timeout=600,
                   num_retries=2, metrics_require_auth=False, allow_requests_on_db_unavailable=False,
                   master_key_env="LITELLM_MASTER_KEY", database_url_env="DATABASE_URL", tenants=None):
    """LiteLLM config dict. Budgets fail open (spend that cannot be verified against Redis/Postgres is let
    through) unless budget_fail_closed, which answers 503 instead of risking overspend."""
    if not inference_url or not str(inference_url).startswith(("http://", "https://")):
        raise ValueError(f"llmaas_inference_url must be an http(s) URL; got {inference_url!r}")
    if not models:
        raise ValueError("llmaas_models must declare at least one model")

    model_list = []
    for model in models:
        for tier in model.get("tiers") or []:
            model_list.append(_model_entry(model, tier, str(inference_url), timeout))
    # Guarded variants only for off-by-default guardrails a tenant opts into: none, and the list is as before.
    plain = list(model_list)
    for guard in tenant_guardrails.guard_sets(tenants, guardrails):
        model_list.extend(_guarded_entry(entry, guard) for entry in plain)
    names = [entry["model_name"] for entry in model_list]
    if len(set(names)) != len(names):
        raise ValueError(f"gateway model names must be unique; got {names}")

    fail_closed = bool(budget_fail_closed)
    # A 503 is not retried: the endpoint picker answers it only after holding the request for its queue TTL (the
    # model is still starting), so a retry would hold the tenant one TTL more; the tenant gets 503 with Retry-After
    # (RETRY_AFTER_CALLBACK) instead. LiteLLM 1.108 litellm/types/router.py RetryPolicy.
    router_settings = {"routing_strategy": "simple-shuffle", "num_retries": num_retries, "timeout": timeout,
                       "retry_policy": {"ServiceUnavailableErrorRetries": 0}}
    general_settings = {
        "master_key": f"os.environ/{master_key_env}",
        "database_url": f"os.environ/{database_url_env}",
        # True lets ANY bearer string through as a restricted user while Postgres is unreachable (auth
        # fails open, not only budgets), so it is a separate, default-off decision.
        "allow_requests_on_db_unavailable": bool(allow_requests_on_db_unavailable),
        "fail_closed_budget_enforcement": fail_closed,
    }
    if redis:
        password = f"os.environ/{redis['password_env']}" if redis.get("password_env") else None
        router_settings.update({"redis_host": redis["host"], "redis_port": int(redis["port"])})
        coordination = {"host": redis["host"], "port": int(redis["port"])}
        if password:
            router_settings["redis_password"] = password
            coordination["password"] = password
        # Cross-replica tpm/rpm/parallel-request counters and spend tracking.
        general_settings["coordination_redis"] = coordination
        general_settings["fail_closed_rate_limit_enforcement"] = fail_closed

    config = {
        "model_list": model_list,
        "router_settings": router_settings,
        "litellm_settings": {
            "callbacks": ["prometheus", RETRY_AFTER_CALLBACK],
            "drop_params": True,
            "request_timeout": timeout,
            "require_auth_for_metrics_endpoint": bool(metrics_require_auth),
            # 1.108 answers 422 for an exhausted budget; 429 is what IDE clients treat as "back off", not "bad request"
            "budget_exceeded_status_code": 429,
        },
        "general_settings": general_settings,
    }
    if guardrails:
        config["guardrails"] = list(guardrails)
    return config


class FilterModule:
    def filters(self):
        return {"litellm_config": litellm_config}
