#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: litellm_key_info
short_description: Read LiteLLM virtual keys, by alias or as a list
version_added: 0.1.0
description:
  - Reads one key by O(key_alias), or lists keys (all of them, or those of O(team_id), or only those carrying
    the C(managed-by) = C(llmaas.platform) marker).
  - Never returns key values. It returns the C(token), the SHA-256 hash LiteLLM uses to identify a key in
    management calls. It is an identifier, not a credential (a client cannot call models with it), and it is
    what you need to act on one key among several that share an alias.
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.litellm
  - llmaas.platform.attributes
  - llmaas.platform.attributes.litellm_group
attributes:
  check_mode:
    description: Read-only; behaves the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  key_alias:
    description:
      - Alias of the key to read. When set, RV(virtual_keys) holds the keys carrying it (normally zero or one).
    type: str
  team_id:
    description: List only the keys of this team.
    type: str
  managed_only:
    description: List only keys carrying the C(managed-by) = C(llmaas.platform) metadata marker.
    type: bool
    default: false
seealso:
  - module: llmaas.platform.litellm_key
  - module: llmaas.platform.litellm_keys
"""

EXAMPLES = r"""
- name: Read one key
  llmaas.platform.litellm_key_info:
    key_alias: payments-ci
  register: payments

- name: Fail when the budget is not what we expect
  ansible.builtin.assert:
    that: payments.virtual_keys[0].max_budget == 25

- name: List the keys this collection manages for one team
  llmaas.platform.litellm_key_info:
    team_id: payments
    managed_only: true
  register: payments_keys
"""

RETURN = r"""
virtual_keys:
  description:
    - Keys found, without their values.
    - Named so because C(keys) would be shadowed by the dict method in Jinja (C(result.keys) is a method).
  returned: always
  type: list
  elements: dict
  contains:
    key_alias:
      description: Alias.
      type: str
    token:
      description: SHA-256 hash identifying the key (not a credential).
      type: str
    key_name:
      description: LiteLLM's abbreviated display form of the key (C(sk-...abcd)).
      type: str
    models:
      description: Models the key may call (empty means all).
      type: list
    max_budget:
      description: Maximum spend.
      type: float
    budget_duration:
      description: Budget reset period.
      type: str
    tpm_limit:
      description: Tokens per minute.
      type: int
    rpm_limit:
      description: Requests per minute.
      type: int
    max_parallel_requests:
      description: Maximum concurrent requests.
      type: int
    team_id:
      description: Team.
      type: str
    guardrails:
      description: Guardrails, read from the key's metadata where LiteLLM stores them.
      type: list
    metadata:
      description: Metadata without the fields unfolded above.
      type: dict
    blocked:
      description: Whether the key is blocked.
      type: bool
    spend:
      description: Spend so far.
      type: float
    expires:
      description: Expiry time, when the key has one.
      type: str
count:
  description: Number of keys returned.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    LiteLLMClient,
    LiteLLMError,
    find_keys_by_alias,
    key_public,
    list_all_keys,
    litellm_argument_spec,
)


def main():
    argument_spec = litellm_argument_spec(
        key_alias=dict(type="str", no_log=False),
        team_id=dict(type="str"),
        managed_only=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params["key_alias"] is not None and not params["key_alias"].strip():
        module.fail_json(msg="key_alias must not be empty")
    client = LiteLLMClient.from_module(module)
    try:
        if params["key_alias"] is not None:
            rows = find_keys_by_alias(client, params["key_alias"])
            if params["team_id"] is not None:
                rows = [r for r in rows if r.get("team_id") == params["team_id"]]
        else:
            rows = list_all_keys(client, team_id=params["team_id"])
    except LiteLLMError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    if params["managed_only"]:
        rows = [r for r in rows if isinstance(r.get("metadata"), dict)
                and r["metadata"].get(MANAGED_BY_KEY) == MANAGED_BY_VALUE]
    keys = [key_public(r) for r in rows]
    module.exit_json(changed=False, virtual_keys=keys, count=len(keys))


if __name__ == "__main__":
    main()
