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
  - The key value (C(sk-...)) exists only in the answer to its creation. It is returned once, in RV(key), and
    never again. Register it and store it (for example in a secret store) in the same play, and set
    C(no_log) set to V(true) on the task.
  - Every key the module creates or updates carries C(managed-by) = C(llmaas.platform) in its metadata, which
    M(llmaas.platform.litellm_keys) uses to purge undeclared keys.
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.litellm
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
  state:
    description:
      - V(present) creates or updates the key, V(absent) deletes every key carrying the alias.
    type: str
    choices: [present, absent]
    default: present
  models:
    description:
      - Model names the key may call. An empty list means all models the proxy serves.
      - Compared as a set.
    type: list
    elements: str
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
  max_budget:
    description:
      - Maximum spend in USD for the key. Must be >= 0. Budgets only bind for models with a cost per token.
    type: float
  budget_duration:
    description:
      - Period after which the spend resets, in LiteLLM's format, a positive number followed by C(s), C(m),
        C(h), C(d), C(w) or C(mo) (V(30s), V(30m), V(24h), V(30d), V(1mo)), or V(hourly), V(daily), V(weekly),
        V(monthly).
    type: str
  tpm_limit:
    description: Tokens per minute limit, >= 0.
    type: int
  rpm_limit:
    description: Requests per minute limit, >= 0.
    type: int
  max_parallel_requests:
    description: Maximum concurrent requests, >= 0.
    type: int
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
notes:
  - The raw key is never in the diff, in RV(key_info), or in any error message.
seealso:
  - module: llmaas.platform.litellm_keys
  - module: llmaas.platform.litellm_key_info
  - module: llmaas.platform.litellm_team
"""

EXAMPLES = r"""
- name: Give the payments team a budgeted key for the coder model
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
  register: payments_key
  no_log: true

- name: Store the key value, which LiteLLM returns only at creation
  ansible.builtin.copy:
    content: "{{ payments_key.key }}"
    dest: /etc/llmaas/payments-ci.key
    mode: "0600"
  when: payments_key.key is defined
  no_log: true

- name: Revoke it
  llmaas.platform.litellm_key:
    key_alias: payments-ci
    state: absent
"""

RETURN = r"""
key:
  description:
    - The key value (C(sk-...)). Returned only when the key was created by this run, never afterwards.
    - Secret. Register it on a task with C(no_log) set to V(true).
  returned: when the key was created (not in check mode)
  type: str
token:
  description: SHA-256 hash of the key, LiteLLM's identifier of the key. Not a secret.
  returned: when the key exists after the run (not after a create in check mode)
  type: str
  sample: 8f14e45fceea167a5a36dedd4bea2543ae1c2f8b4c1b4ac4c6d6b1b0f5f0e3a1
action:
  description: What the module did.
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
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    LiteLLMClient,
    LiteLLMError,
    Reconciler,
    create_key,
    find_keys_by_alias,
    key_create_body,
    key_current_view,
    key_desired,
    key_public,
    key_update_body,
    known_models,
    key_options,
    litellm_argument_spec,
    validate_key_spec,
)

SPEC_FIELDS = ("key_alias", "models", "max_budget", "budget_duration", "tpm_limit", "rpm_limit",
               "max_parallel_requests", "team_id", "metadata", "guardrails", "duration", "blocked")


def main():
    argument_spec = litellm_argument_spec(
        allowed_models=dict(type="list", elements="str"),
        validate_models=dict(type="bool", default=False),
        **key_options()
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    spec = dict((f, params[f]) for f in SPEC_FIELDS)

    problems = validate_key_spec(spec, allowed_models=params["allowed_models"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    client = LiteLLMClient.from_module(module)
    alias = params["key_alias"]

    try:
        if params["state"] == "present" and params["validate_models"] and params["allowed_models"] is None:
            served = known_models(client)
            if served is not None:
                problems = validate_key_spec(spec, allowed_models=served)
                if problems:
                    module.fail_json(msg="; ".join(problems))

        found = find_keys_by_alias(client, alias)
        if len(found) > 1:
            module.fail_json(msg="%d keys carry key_alias %r (LiteLLM does not prevent this under concurrent "
                                 "creation); refusing to pick one. Tokens: %s. Delete the extra keys, or delete "
                                 "all with state=absent and recreate"
                                 % (len(found), alias, ", ".join(k.get("token", "?") for k in found)))
        row = None
        if found:
            token = found[0].get("token")
            row = client.get("/key/info", params={"key": token}).get("info") or {}
            row["token"] = token

        current = key_current_view(row)
        desired = key_desired(spec, current)

        def create():
            return create_key(client, key_create_body(spec, desired))

        def update(changes):
            return client.post("/key/update", key_update_body(row["token"], changes, current))

        def delete():
            try:
                client.post("/key/delete", {"key_aliases": [alias]})
            except LiteLLMError as exc:
                if exc.status != 404:  # gone in between: absent is what we want
                    raise

        if params["state"] == "absent":
            current_diff = dict(current or {}, token=row["token"]) if row else None
            result = Reconciler(module).ensure("absent", current_diff, desired, create, update, delete)
        else:
            result = Reconciler(module).ensure("present", current, desired, create, update, delete)
    except LiteLLMError as exc:
        module.fail_json(msg=str(exc), status=exc.status)

    response = result.pop("response", None)
    if not module._diff:
        result.pop("diff", None)
    if params["state"] == "present":
        if result["action"] == "create" and response is not None:
            result["key"] = response.get("key")
            result["token"] = response.get("token")
            result["key_info"] = key_public(response)
        elif row is not None:
            result["token"] = row["token"]
            info = dict(row)
            if result["action"] == "update" and response is not None:
                info.update((k, v) for k, v in response.items() if k != "key")
            result["key_info"] = key_public(info)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
