#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: litellm_key
short_description: Manage one LiteLLM virtual key, identified by its alias
version_added: 0.1.0
description:
  - Creates, updates or deletes a LiteLLM virtual key through the proxy management API.
  - The key is identified by O(key_alias). LiteLLM enforces alias uniqueness in the application, not in the
    database, so two keys can end up with one alias after a race; the module then fails rather than guess.
  - Only the options you set are managed. On update, only the fields that differ are sent to C(/key/update),
    by token hash.
  - The key value (C(sk-...)) exists only at its creation. The module writes it to O(delivery) itself (a 0600
    file or a Kubernetes Secret) before its next API call and never returns it; an interrupted run is
    completed by the next one (see M(llmaas.platform.litellm_keys), which shares this core).
  - Every key the module creates or updates carries C(managed-by) = C(llmaas.platform) in its metadata, which
    M(llmaas.platform.litellm_keys) uses to purge undeclared keys.
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.litellm
  - llmaas.platform.litellm.spend
  - llmaas.platform.litellm.delivery
  - llmaas.platform.attributes
  - llmaas.platform.attributes.litellm_group
attributes:
  check_mode:
    description: Reads the key and computes the change; creates, updates and deletes nothing.
    support: full
  diff_mode:
    description: Before and after of the key's managed fields; never the key value.
    support: full
options:
  key_alias:
    description:
      - Alias identifying the key. Must be non-empty; LiteLLM rejects control characters and C(..).
    type: str
    required: true
  allowed_models:
    description:
      - When given, every entry of O(models) must be in this list; checked before any API call.
    type: list
    elements: str
  validate_models:
    description:
      - Read C(/model/info) and fail when O(models) names a model the proxy does not serve.
      - Ignored when O(allowed_models) is given or the proxy lists no models.
    type: bool
    default: false
  team_id:
    description:
      - Team the key belongs to, by explicit team id (team aliases are not unique in LiteLLM).
    type: str
  metadata:
    description:
      - Metadata entries to enforce on the key. Entries already on the key and not named here are kept.
      - The C(managed-by) entry is reserved for the module's own marker.
    type: dict
  guardrails:
    description:
      - Guardrail names applied to the key. LiteLLM stores them inside the key's metadata; the module compares
        them there. LiteLLM treats per-key guardrails as an enterprise feature.
    type: list
    elements: str
  duration:
    description:
      - Validity of the key from its creation (same format as O(budget_duration)). Applied only when the key
        is created, since sending it again would move the expiry at every run.
    type: str
  blocked:
    description: Block (V(true)) or unblock (V(false)) the key.
    type: bool
  rotation:
    description:
      - Rotate on demand. When this value differs from the one the key was last rotated with (kept in its
        metadata), the key gets a new value once; the same value again does nothing. A date is a good value.
    type: str
notes:
  - With O(state=absent), every key carrying the alias is deleted and its delivered value removed.
  - The raw key is never in the result, the diff, RV(key_info), or any error message.
seealso:
  - module: llmaas.platform.litellm_keys
  - module: llmaas.platform.litellm_key_info
  - module: llmaas.platform.litellm_team
"""

EXAMPLES = r"""
- name: Give the payments team a budgeted key; its value goes to /etc/llmaas/keys/payments-ci/key (0600)
  llmaas.platform.litellm_key:
    api_url: https://gateway.example.com
    master_key: "{{ litellm_master_key }}"
    key_alias: payments-ci
    team_id: payments
    models: [qwen2.5-coder]
    max_budget: 25
    budget_duration: 30d
    rpm_limit: 60
    metadata:
      owner: payments@example.com
    delivery:
      path: /etc/llmaas/keys

- name: Rotate it once (the same value again does nothing)
  llmaas.platform.litellm_key:
    key_alias: payments-ci
    rotation: "2026-12-01"
    delivery:
      path: /etc/llmaas/keys

- name: Revoke it
  llmaas.platform.litellm_key:
    key_alias: payments-ci
    state: absent
    delivery:
      path: /etc/llmaas/keys
"""

RETURN = r"""
delivered:
  description: Whether the destination holds the value of the key on the gateway after the run.
  returned: when state is present
  type: bool
reason:
  description: Why the key is rotated, regenerated, delivered or left undelivered.
  returned: when there is one
  type: str
token:
  description: SHA-256 hash of the key, LiteLLM's identifier of the key. Not a secret.
  returned: when the key exists after the run (not after a create in check mode)
  type: str
  sample: 8f14e45fceea167a5a36dedd4bea2543ae1c2f8b4c1b4ac4c6d6b1b0f5f0e3a1
action:
  description: >-
    What the module did: V(create), V(update), V(rotate), V(regenerate), V(deliver), V(delete), V(undelivered),
    V(none) (see M(llmaas.platform.litellm_keys)).
  returned: always
  type: str
  sample: update
changes:
  description: Fields sent to C(/key/update).
  returned: when action is update
  type: list
  elements: str
  sample: [max_budget, rpm_limit]
key_info:
  description: The key as LiteLLM stores it after the run (no key value), guardrails unfolded from metadata.
  returned: when state is present and the key exists (not after a create in check mode)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmaas.platform.plugins.module_utils._key_delivery import DeliveryError
from ansible_collections.llmaas.platform.plugins.module_utils._key_fleet import KeyFleet
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    LiteLLMClient,
    LiteLLMError,
    delivery_options,
    find_keys_by_alias,
    key_options,
    key_public,
    key_store,
    known_models,
    litellm_argument_spec,
    validate_delivery_options,
    validate_key_spec,
)

SPEC_FIELDS = ("key_alias", "state", "models", "max_budget", "budget_duration", "tpm_limit", "rpm_limit",
               "max_parallel_requests", "team_id", "metadata", "guardrails", "duration", "blocked", "rotation")


def main():
    argument_spec = litellm_argument_spec(
        allowed_models=dict(type="list", elements="str"),
        validate_models=dict(type="bool", default=False),
        **dict(key_options(), **delivery_options())
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "present", ["delivery"])])
    params = module.params
    spec = dict((f, params[f]) for f in SPEC_FIELDS)
    alias = params["key_alias"]
    store = key_store(params)

    problems = validate_key_spec(spec, allowed_models=params["allowed_models"])
    if params["state"] == "present":
        problems.extend(validate_delivery_options(params, [alias], store))
    if problems:
        module.fail_json(msg="; ".join(problems))
    client = LiteLLMClient.from_module(module)
    fleet = KeyFleet(module, client, store, params["missing_value"], params["rotate_after"],
                     params["rotation_method"], params["grace_period"])
    try:
        if params["state"] == "present" and params["validate_models"] and params["allowed_models"] is None:
            served = known_models(client)
            if served is not None:
                problems = validate_key_spec(spec, allowed_models=served)
                if problems:
                    module.fail_json(msg="; ".join(problems))
        rows = find_keys_by_alias(client, alias)
        if len(rows) > 1 and params["state"] == "present":
            module.fail_json(msg="%d keys carry key_alias %r (LiteLLM does not prevent this under concurrent "
                                 "creation); refusing to pick one. Tokens: %s. Delete the extra keys, or delete "
                                 "all with state=absent and recreate"
                                 % (len(rows), alias, ", ".join(k.get("token", "?") for k in rows)))
        if params["state"] == "absent":
            # absent deletes every key carrying the alias
            ops = [dict(action="delete", alias=alias, row=row, spec=spec, before=dict(
                fleet_view(row), token=row["token"])) for row in rows] or [dict(action="none", alias=alias,
                                                                                spec=spec)]
        else:
            ops, _problems = fleet.plan([spec], rows)
    except LiteLLMError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    except DeliveryError as exc:
        module.fail_json(msg=str(exc))

    fleet_result, messages = fleet.apply(ops)
    result = dict(changed=fleet_result["changed"], action=fleet_result["actions"].get(alias, "none"))
    if alias in fleet_result["changes"]:
        result["changes"] = fleet_result["changes"][alias]
    if alias in fleet_result["reasons"]:
        result["reason"] = fleet_result["reasons"][alias]
    if module._diff and "diff" in fleet_result:
        diff = fleet_result["diff"]
        result["diff"] = dict(before=diff["before"].get(alias, {}), after=diff["after"].get(alias, {}))
    if params["state"] == "present":
        result["delivered"] = alias in fleet_result["delivered"]
        row = rows[0] if rows else None
        if not module.check_mode and result["action"] != "none":
            try:
                found = find_keys_by_alias(client, alias)
                row = found[0] if found else None
            except LiteLLMError:
                row = None
        if row is not None:
            result["token"] = row["token"]
            result["key_info"] = key_public(row)
    if messages:
        module.fail_json(msg=". ".join(messages), **result)
    module.exit_json(**result)


def fleet_view(row):
    return dict((k, v) for k, v in key_public(row).items() if k not in ("spend", "created_at", "updated_at"))


if __name__ == "__main__":
    main()
