# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LiteLLM `guardrails:` list of the stack, derived from the inventory (llmaas_guardrails) in one place.

Two guardrails, both `pre_call` (they run before the model sees the prompt):
- `pii-masking`: LiteLLM's `presidio` guardrail against the Presidio Services of the guardrails layer; entities in
  `pii_entities` are masked (or blocked, per `pii_action`).
- `prompt-injection`: LiteLLM's built-in `litellm_content_filter` with its prompt-injection categories; keyword
  and pattern matching inside the proxy, no external service and no model call.

Names are stable. On the open-source LiteLLM proxy (1.108) a guardrail that is off by default runs when the request
names it (`"guardrails": [<name>]` in the body) or when the model group carries it (`litellm_params.guardrails` in
model_list); `guardrails` on a key or team is an Enterprise field (adrs/0008-guardrails.md). A client cannot switch
a default-on guardrail off (tests/e2e/test_guardrails_e2e.py). A tenant enforces an off-by-default guardrail by
calling only guarded model groups (plugins/plugin_utils/tenant_guardrails.py: the contract checks the opt-ins; the
filter tenant_models gives the groups).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.plugin_utils import tenant_guardrails
from ansible_collections.llmaas.platform.plugins.plugin_utils.contract import PROFILES

PRESIDIO_PORT = 3000
PII_ACTIONS = ("MASK", "BLOCK")
SEVERITIES = ("low", "medium", "high")
# Shipped with litellm (proxy/guardrails/content_filter_data/categories/*.yaml in 1.108).
INJECTION_CATEGORIES = (
    "prompt_injection_jailbreak",
    "prompt_injection_system_prompt",
    "prompt_injection_data_exfiltration",
    "prompt_injection_malicious_code",
    "prompt_injection_sql",
)

DEFAULTS = {
    "pii": {
        "name": "pii-masking",
        "enabled": True,
        # Coding traffic is full of IPs, dates and names of things: mask what is unambiguous personal data.
        "entities": ["CREDIT_CARD", "CRYPTO", "EMAIL_ADDRESS", "IBAN_CODE", "PHONE_NUMBER", "US_SSN"],
        "action": "MASK",
        "language": "en",
        "default_on": {"cost": False, "prod": True},
    },
    "prompt_injection": {
        "name": "prompt-injection",
        "enabled": True,
        # malicious_code and sql would flag ordinary coding questions; they stay opt-in.
        "categories": ["prompt_injection_jailbreak", "prompt_injection_system_prompt",
                       "prompt_injection_data_exfiltration"],
        "severity_threshold": "medium",
        "default_on": {"cost": True, "prod": True},
    },
}


def _merge(base, override, path):
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise AnsibleFilterError(f"llmaas_guardrails{path}: unknown setting {key!r}; known: {sorted(base)}")
        if key == "default_on" and isinstance(value, bool):
            out[key] = value
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise AnsibleFilterError(f"llmaas_guardrails{path}.{key} must be a dict")
            out[key] = _merge(base[key], value, f"{path}.{key}")
        else:
            out[key] = value
    return out


def _default_on(section, profile, path):
    value = section["default_on"]
    if isinstance(value, bool):
        return value
    if not isinstance(value, dict) or set(value) != {"cost", "prod"} or not all(
            isinstance(v, bool) for v in value.values()):
        raise AnsibleFilterError(f"llmaas_guardrails{path}.default_on must be a bool or map profile -> bool")
    return value[profile]


def _name(value, path):
    if not isinstance(value, str) or not value or not all(c.isalnum() or c == "-" for c in value):
        raise AnsibleFilterError(f"llmaas_guardrails{path}.name must be letters, digits and '-'; got {value!r}")
    return value


def litellm_guardrails(namespaces, settings=None, profile="cost"):
    """The `guardrails:` list for LiteLLM's config.yaml. namespaces: llmaas_namespaces; settings: llmaas_guardrails."""
    if not isinstance(namespaces, dict) or not namespaces.get("guardrails"):
        raise AnsibleFilterError("litellm_guardrails: llmaas_namespaces.guardrails is required")
    if settings is not None and not isinstance(settings, dict):
        raise AnsibleFilterError("llmaas_guardrails must be a dict")
    if profile not in PROFILES:
        raise AnsibleFilterError(f"litellm_guardrails: profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    cfg = _merge(DEFAULTS, settings or {}, "")
    out = []

    pii = cfg["pii"]
    if pii["enabled"]:
        entities = pii["entities"]
        if not isinstance(entities, list) or not entities or not all(isinstance(e, str) and e for e in entities):
            raise AnsibleFilterError("llmaas_guardrails.pii.entities must be a non-empty list of Presidio entity names")
        if pii["action"] not in PII_ACTIONS:
            raise AnsibleFilterError(
                f"llmaas_guardrails.pii.action must be one of {PII_ACTIONS}, got {pii['action']!r}")
        base = f"http://{{}}.{namespaces['guardrails']}.svc.cluster.local:{PRESIDIO_PORT}"
        out.append({
            "guardrail_name": _name(pii["name"], ".pii"),
            "litellm_params": {
                "guardrail": "presidio",
                "mode": "pre_call",
                "default_on": _default_on(pii, profile, ".pii"),
                "presidio_analyzer_api_base": base.format("presidio-analyzer"),
                "presidio_anonymizer_api_base": base.format("presidio-anonymizer"),
                "presidio_language": str(pii["language"]),
                "pii_entities_config": {e: pii["action"] for e in sorted(set(entities))},
            },
        })

    inj = cfg["prompt_injection"]
    if inj["enabled"]:
        categories = inj["categories"]
        unknown = [c for c in categories or [] if c not in INJECTION_CATEGORIES]
        if not categories or unknown:
            raise AnsibleFilterError(
                "llmaas_guardrails.prompt_injection.categories must be a non-empty subset of "
                f"{list(INJECTION_CATEGORIES)}"
                f"; unknown: {unknown}"
            )
        if inj["severity_threshold"] not in SEVERITIES:
            raise AnsibleFilterError(
                f"llmaas_guardrails.prompt_injection.severity_threshold must be one of {SEVERITIES}")
        out.append({
            "guardrail_name": _name(inj["name"], ".prompt_injection"),
            "litellm_params": {
                "guardrail": "litellm_content_filter",
                "mode": "pre_call",
                "default_on": _default_on(inj, profile, ".prompt_injection"),
                "categories": [
                    {"category": c, "enabled": True, "action": "BLOCK",
                     "severity_threshold": inj["severity_threshold"]}
                    for c in categories
                ],
            },
        })
    names = [g["guardrail_name"] for g in out]
    if len(names) != len(set(names)):
        raise AnsibleFilterError(f"llmaas_guardrails: guardrail names must differ, got {names}")
    return out


def tenant_models(models, value, offered=None):
    """The gateway names a tenant (its `guardrails` value) may call: the guarded variants when it opts in."""
    return tenant_guardrails.tenant_models(models, value, offered)


class FilterModule(object):
    def filters(self):
        return {"litellm_guardrails": litellm_guardrails, "tenant_models": tenant_models}
