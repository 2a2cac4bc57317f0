#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: litellm_keys
short_description: Reconcile a fleet of LiteLLM virtual keys and deliver their values, in one task
version_added: 0.1.0
description:
  - Bulk form of M(llmaas.platform.litellm_key). One task reads every key once (paginated C(/key/list) with
    full objects, 100 keys per page), plans creates, updates, rotations and deletes, and sends only those.
    A no-op run over 1,000 keys costs 10 requests.
  - Keys are identified by C(key_alias). Duplicate aliases in O(keys) fail before any API call; an alias
    carried by more than one key on the proxy fails before any write.
  - Delivery is part of creation. Each new value is written to its O(delivery) destination (a 0600 file or a
    Kubernetes Secret) before LiteLLM is asked to create the key with it, and promoted once LiteLLM confirmed;
    values are never returned, logged or shown in a diff. A run stopped at any point (gateway down, timeout,
    controller killed) converges on the next run with no manual step, without duplicate or lost keys.
  - A key that exists on the gateway but whose value is at no destination is never silently replaced; see
    O(missing_value).
  - With O(purge=true), keys that carry the C(managed-by) = C(llmaas.platform) metadata marker and are not
    declared in O(keys) are deleted. Keys without the marker are never touched.
  - When an operation fails with a client error, the others still run. When the gateway is unavailable (after
    the retry budget of the whole run), the module stops at once and says how many keys it created and
    delivered; the next run finishes.
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.litellm
  - llmaas.platform.litellm.delivery
  - llmaas.platform.attributes
  - llmaas.platform.attributes.litellm_group
attributes:
  check_mode:
    description: Reads every key and its destination and computes the plan; writes nothing anywhere.
    support: full
  diff_mode:
    description: Before and after per alias; never key values.
    support: full
options:
  keys:
    description:
      - Key specifications. Fields follow M(llmaas.platform.litellm_key) and LiteLLM's names.
    type: list
    elements: dict
    required: true
    suboptions:
      key_alias:
        description: Alias identifying the key; non-empty and unique in the list.
        type: str
        required: true
      state:
        description: V(absent) deletes the key and removes its delivered value.
        type: str
        choices: [present, absent]
        default: present
      models:
        description: Model names the key may call (empty means all); compared as a set.
        type: list
        elements: str
      max_budget:
        description: Maximum spend in USD, >= 0.
        type: float
      budget_duration:
        description: Budget reset period (V(30s), V(30m), V(24h), V(30d), V(2w), V(1mo), V(daily), ...).
        type: str
      tpm_limit:
        description: Tokens per minute, >= 0.
        type: int
      rpm_limit:
        description: Requests per minute, >= 0.
        type: int
      max_parallel_requests:
        description: Maximum concurrent requests, >= 0.
        type: int
      team_id:
        description: Explicit team id.
        type: str
      metadata:
        description: Metadata entries to enforce; other entries on the key are kept.
        type: dict
      guardrails:
        description: Guardrail names (stored by LiteLLM inside metadata and compared there).
        type: list
        elements: str
      duration:
        description: Key validity from creation; applied only at creation.
        type: str
      blocked:
        description: Block or unblock the key.
        type: bool
      rotation:
        description:
          - Rotate on demand. When this value differs from the one the key was last rotated with (kept in its
            metadata), the key gets a new value once; the same value again does nothing. A date is a good value.
        type: str
  purge:
    description:
      - Delete keys carrying the C(managed-by) = C(llmaas.platform) marker that O(keys) does not declare.
    type: bool
    default: false
  purge_team_id:
    description:
      - Limit the purge to keys of this team, so several fleets can be reconciled separately.
    type: str
  allowed_models:
    description: When given, every model named in O(keys) must be in this list; checked before any call.
    type: list
    elements: str
  validate_models:
    description: Read C(/model/info) and fail on models the proxy does not serve (ignored if O(allowed_models)).
    type: bool
    default: false
seealso:
  - module: llmaas.platform.litellm_key
  - module: llmaas.platform.litellm_key_info
"""

EXAMPLES = r"""
- name: Reconcile every tenant key; each new value lands in /etc/llmaas/keys/<alias>/key (0600)
  llmaas.platform.litellm_keys:
    keys:
      - key_alias: payments-ci
        team_id: payments
        models: [qwen2.5-coder]
        max_budget: 25
        budget_duration: 30d
      - key_alias: search-dev
        team_id: search
        rpm_limit: 30
        rotation: "2026-12-01"  # change it to rotate this key once
    delivery:
      path: /etc/llmaas/keys
    rotate_after: 90d
    purge: true

- name: Same fleet, values as Kubernetes Secrets litellm-key-<alias>
  llmaas.platform.litellm_keys:
    keys:
      - key_alias: payments-ci
        team_id: payments
    delivery:
      mode: secret
      namespace: llmaas-gateway
      api_base: https://llm.example.com/v1

- name: Issue new values for keys whose value was lost (the old values stop working)
  llmaas.platform.litellm_keys:
    keys:
      - key_alias: payments-ci
    delivery:
      path: /etc/llmaas/keys
    missing_value: regenerate
"""

RETURN = r"""
actions:
  description: >-
    Alias -> what was done: V(create), V(update), V(rotate), V(regenerate) (new value for a lost one),
    V(deliver) (a pending value the gateway already holds, promoted), V(delete), V(undelivered) (left alone,
    see O(missing_value)), V(none).
  returned: always
  type: dict
  sample: {payments-ci: create, search-dev: none}
reasons:
  description: Alias -> why a key is rotated, regenerated, delivered or undelivered.
  returned: always
  type: dict
  sample: {search-dev: older than 90d}
changes:
  description: Alias -> fields sent to C(/key/update).
  returned: always
  type: dict
  sample: {search-dev: [rpm_limit]}
delivered:
  description: Aliases whose destination holds the value of their key on the gateway after this run.
  returned: always (empty in check mode)
  type: list
  elements: str
undelivered:
  description: Aliases with a key on the gateway and no value at their destination (see O(missing_value)).
  returned: when there are some
  type: list
  elements: str
summary:
  description: Counts per action, plus the number of HTTP requests this run made.
  returned: always
  type: dict
  sample: {create: 1, update: 0, rotate: 0, regenerate: 0, deliver: 0, delete: 0, none: 999, undelivered: 0,
           requests: 11}
failed_aliases:
  description: Alias -> error message for operations that failed or were not attempted.
  returned: on failure of some operations
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmaas.platform.plugins.module_utils._key_delivery import DeliveryError
from ansible_collections.llmaas.platform.plugins.module_utils._key_fleet import KeyFleet
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    LiteLLMClient,
    LiteLLMError,
    delivery_options,
    key_options,
    key_store,
    known_models,
    list_all_keys,
    litellm_argument_spec,
    validate_delivery_options,
    validate_key_spec,
)


def main():
    argument_spec = litellm_argument_spec(
        keys=dict(type="list", elements="dict", required=True, options=key_options(), no_log=False),
        purge=dict(type="bool", default=False),
        purge_team_id=dict(type="str"),
        allowed_models=dict(type="list", elements="str"),
        validate_models=dict(type="bool", default=False),
        **delivery_options()
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    specs = params["keys"]
    store = key_store(params)

    problems = []
    seen = {}
    for index, spec in enumerate(specs):
        label = spec.get("key_alias") or "#%d" % index
        problems.extend(validate_key_spec(spec, allowed_models=params["allowed_models"], label=label))
        seen.setdefault(spec.get("key_alias"), []).append(index)
    duplicates = sorted(a for a, idx in seen.items() if a and len(idx) > 1)
    if duplicates:
        problems.append("duplicate key_alias in keys: %s" % ", ".join(
            "%s (entries %s)" % (a, ", ".join(str(i) for i in seen[a])) for a in duplicates))
    present = [s["key_alias"] for s in specs if s["state"] == "present"]
    if present and not params["delivery"]:
        problems.append("delivery is required when keys are present: a key value exists only when LiteLLM issues "
                        "it, so the module writes it to its destination itself (delivery.path or "
                        "delivery.mode=secret)")
    problems.extend(validate_delivery_options(params, present, store))
    if problems:
        module.fail_json(msg="; ".join(problems))

    client = LiteLLMClient.from_module(module)
    fleet = KeyFleet(module, client, store, params["missing_value"], params["rotate_after"],
                     params["rotation_method"], params["grace_period"])
    try:
        if params["validate_models"] and params["allowed_models"] is None:
            served = known_models(client)
            if served is not None:
                problems = []
                for spec in specs:
                    if spec["state"] == "present":
                        problems.extend(validate_key_spec(spec, allowed_models=served, label=spec["key_alias"]))
                if problems:
                    module.fail_json(msg="; ".join(problems))
        existing = list_all_keys(client)
        ops, problems = fleet.plan(specs, existing, params["purge"], params["purge_team_id"])
    except LiteLLMError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    except DeliveryError as exc:
        module.fail_json(msg=str(exc))
    if problems:
        module.fail_json(msg="refusing to guess which key an alias means: " + "; ".join(problems)
                             + ". Delete the extra keys (litellm_key_info lists them by token) and run again")

    result, messages = fleet.apply(ops)
    if messages:
        module.fail_json(msg=". ".join(messages), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
