"""Per-tenant guardrails: which names a tenant may enforce, the guarded names it is given, the sets the gateway
renders, and one refusal line per tenant the gateway cannot honour."""

import pytest

from ansible_collections.llmaas.platform.plugins.plugin_utils import tenant_guardrails as tg

GUARDRAILS = [
    {"guardrail_name": "pii-masking", "litellm_params": {"default_on": False}},
    {"guardrail_name": "prompt-injection", "litellm_params": {"default_on": True}},
    {"guardrail_name": "secrets", "litellm_params": {"default_on": False}},
]
NAMES = ["m-chat", "m-fim"]


def test_only_off_by_default_guardrails_can_be_enforced():
    assert tg.enforceable(GUARDRAILS) == ["pii-masking", "secrets"]


@pytest.mark.parametrize("value, models, offered, expected", [
    (True, NAMES, None, NAMES),
    (None, None, NAMES, None),  # no opt-in, no models: no restriction, as before
    (["pii-masking"], None, NAMES, ["m-chat+pii-masking", "m-fim+pii-masking"]),
    (["secrets", "pii-masking", "secrets"], ["m-chat"], NAMES, ["m-chat+pii-masking+secrets"]),
    (["pii-masking"], "m-fim", None, "m-fim+pii-masking"),
    ([], NAMES, None, NAMES),
])
def test_tenant_models(value, models, offered, expected):
    assert tg.tenant_models(models, value, offered) == expected


def test_the_gateway_renders_each_distinct_set_once_sorted():
    tenants = [{"team_id": "a", "guardrails": ["secrets", "pii-masking"]}, {"team_id": "b", "guardrails": True},
               {"team_id": "c", "guardrails": ["pii-masking", "secrets"]}, {"team_id": "d", "guardrails": ["secrets"]},
               {"team_id": "e"}]
    assert tg.guard_sets(tenants, GUARDRAILS) == [("pii-masking", "secrets"), ("secrets",)]
    assert tg.guard_sets([], GUARDRAILS) == [] and tg.guard_sets(None, None) == []


def test_every_bad_tenant_gets_one_line():
    tenants = [{"team_id": "a", "guardrails": ["nope", "prompt-injection"]}, {"team_id": "b", "guardrails": False},
               {"team_id": "c", "guardrails": "pii-masking"}, {"team_id": "d", "guardrails": ["pii-masking"]}]
    lines = tg.problems(tenants, GUARDRAILS)
    assert len(lines) == 3
    assert lines[0] == ("llmaas_tenants['a'].guardrails: got ['nope', 'prompt-injection']; 'nope' is no guardrail of "
                        "the gateway; 'prompt-injection' is on by default for every tenant (nothing to enforce); "
                        "allowed: true or a list of guardrails that are off by default: pii-masking, secrets")
    assert lines[1].startswith("llmaas_tenants['b'].guardrails: got false;") and "Enterprise" in lines[1]
    assert lines[2].startswith("llmaas_tenants['c'].guardrails: got 'pii-masking'; allowed: true or a list")
    with pytest.raises(ValueError, match=r"llmaas_tenants\['a'\]"):
        tg.guard_sets(tenants, GUARDRAILS)
