#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: litellm_keys
short_description: Reconcile a fleet of LiteLLM virtual keys in one task
version_added: 0.1.0
description:
  - Bulk form of M(llmaas.platform.litellm_key) for fleets. One task reads every key once (paginated
    C(/key/list) with full objects, 100 keys per page), computes the creates, updates and deletes, and
    sends only those. A no-op run over 1,000 keys costs 10 requests.
  - Keys are identified by C(key_alias). Duplicate aliases in O(keys) fail before any API call; an alias
    carried by more than one key on the proxy fails before any write.
  - With O(purge=true), keys that carry the C(managed-by) = C(llmaas.platform) metadata marker and are not
    declared in O(keys) are deleted. Keys without the marker are never touched.
  - The values of keys created by this run are returned once, in RV(created_keys). Register the result on a
    task with C(no_log) set to V(true) and store the values in the same play.
  - When some operations fail, the others still run; the module then fails with the list of failed aliases
    and still returns RV(created_keys) for the keys it did create.
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.litellm
attributes:
  check_mode:
    description: Reads every key and computes the plan; creates, updates and deletes nothing.
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
        description: V(absent) deletes the key.
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
- name: Reconcile every tenant key of the platform
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
    purge: true
  register: fleet
  no_log: true

- name: Hand the new key values to the secret store (they are returned only once)
  ansible.builtin.copy:
    content: "{{ item.value }}"
    dest: "/etc/llmaas/keys/{{ item.key }}"
    mode: "0600"
  loop: "{{ fleet.created_keys | dict2items }}"
  no_log: true
"""

RETURN = r"""
created_keys:
  description:
    - Alias -> key value (C(sk-...)) for every key created by this run. Secret, and returned only once.
  returned: always (empty when nothing was created or in check mode)
  type: dict
actions:
  description: Alias -> what was done (V(create), V(update), V(delete), V(none)).
  returned: always
  type: dict
  sample: {payments-ci: create, search-dev: none}
changes:
  description: Alias -> fields sent to C(/key/update).
  returned: always
  type: dict
  sample: {search-dev: [rpm_limit]}
summary:
  description: Counts per action, plus the number of HTTP requests this run made.
  returned: always
  type: dict
  sample: {create: 1, update: 0, delete: 0, none: 999, requests: 11}
failed_aliases:
  description: Alias -> error message for operations that failed.
  returned: on failure of some operations
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    LiteLLMClient,
    LiteLLMError,
    changed_fields,
    create_key,
    key_create_body,
    key_current_view,
    key_desired,
    key_update_body,
    known_models,
    list_all_keys,
    key_options,
    litellm_argument_spec,
    validate_key_spec,
)

DELETE_BATCH = 100


def plan(specs, existing, purge, purge_team_id):
    """Return (operations, problems). Operations: (action, alias, payload) with no API call made."""
    by_alias = {}
    for row in existing:
        by_alias.setdefault(row.get("key_alias"), []).append(row)
    problems = []
    ops = []
    declared = set()
    for spec in specs:
        alias = spec["key_alias"]
        declared.add(alias)
        rows = by_alias.get(alias, [])
        if len(rows) > 1:
            problems.append("%d keys carry key_alias %r (tokens %s)"
                            % (len(rows), alias, ", ".join(r.get("token", "?") for r in rows)))
            continue
        row = rows[0] if rows else None
        current = key_current_view(row)
        if spec["state"] == "absent":
            ops.append(("delete" if row else "none", alias, dict(token=row["token"], before=current) if row else {}))
            continue
        desired = key_desired(spec, current)
        if row is None:
            ops.append(("create", alias, dict(body=key_create_body(spec, desired),
                                              after=dict((k, v) for k, v in desired.items() if v is not None))))
            continue
        changes = changed_fields(current, desired)
        if changes:
            ops.append(("update", alias, dict(body=key_update_body(row["token"], changes, current), changes=changes,
                                              before=dict((k, current.get(k)) for k in changes))))
        else:
            ops.append(("none", alias, {}))
    if purge:
        for alias, rows in sorted(by_alias.items(), key=lambda item: str(item[0])):
            if alias in declared:
                continue
            for row in rows:
                meta = row.get("metadata") or {}
                if not isinstance(meta, dict) or meta.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
                    continue
                if purge_team_id is not None and row.get("team_id") != purge_team_id:
                    continue
                ops.append(("delete", alias, dict(token=row["token"], before=key_current_view(row))))
    return ops, problems


def main():
    argument_spec = litellm_argument_spec(
        keys=dict(type="list", elements="dict", required=True, options=key_options(), no_log=False),
        purge=dict(type="bool", default=False),
        purge_team_id=dict(type="str"),
        allowed_models=dict(type="list", elements="str"),
        validate_models=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    specs = params["keys"]

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
    if problems:
        module.fail_json(msg="; ".join(problems))

    client = LiteLLMClient.from_module(module)
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
    except LiteLLMError as exc:
        module.fail_json(msg=str(exc), status=exc.status)

    ops, problems = plan(specs, existing, params["purge"], params["purge_team_id"])
    if problems:
        module.fail_json(msg="refusing to guess which key an alias means: " + "; ".join(problems)
                             + ". Delete the extra keys and run again")

    actions = {}
    changes = {}
    created = {}
    failures = {}
    before = {}
    after = {}
    summary = dict(create=0, update=0, delete=0, none=0)
    deletes = []
    for action, alias, payload in ops:
        summary[action] += 1
        actions[alias] = action
        if action == "none":
            continue
        if action == "update":
            changes[alias] = sorted(payload["changes"])
        before[alias] = payload.get("before", {})
        after[alias] = payload.get("changes", payload.get("after", {}))
        if module.check_mode:
            continue
        try:
            if action == "create":
                created[alias] = create_key(client, payload["body"]).get("key")
            elif action == "update":
                client.post("/key/update", payload["body"])
            else:
                deletes.append((alias, payload["token"]))
        except LiteLLMError as exc:
            failures[alias] = str(exc)

    for start in range(0, len(deletes), DELETE_BATCH):
        batch = deletes[start:start + DELETE_BATCH]
        try:
            client.post("/key/delete", {"keys": [token for _alias, token in batch]})
        except LiteLLMError as exc:
            if exc.status == 404:
                continue  # already gone
            for alias, _token in batch:
                failures[alias] = str(exc)

    summary["requests"] = client.requests_sent
    planned = summary["create"] + summary["update"] + summary["delete"]
    all_failed = bool(failures) and not created and len(failures) == planned
    changed = any(a != "none" for a in actions.values()) and not all_failed
    result = dict(changed=changed, actions=actions, changes=changes, created_keys=created, summary=summary)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if failures:
        module.fail_json(msg="%d of %d key operations failed: %s" % (
            len(failures), len(ops), "; ".join("%s: %s" % item for item in sorted(failures.items()))),
            failed_aliases=failures, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
