#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: litellm_team
short_description: Manage a LiteLLM team, identified by an explicit team id
version_added: 0.1.0
description:
  - Creates, updates or deletes a LiteLLM team through C(/team/info), C(/team/new), C(/team/update) and
    C(/team/delete), and its members through C(/team/member_add), C(/team/member_update) and
    C(/team/member_delete).
  - The team is identified by O(team_id), which you choose. C(team_alias) is a display name that LiteLLM does
    not keep unique, so it cannot identify a team.
  - Only the options you set are managed; only changed fields are sent to C(/team/update).
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.litellm
  - llmaas.platform.litellm.spend
  - llmaas.platform.attributes
  - llmaas.platform.attributes.litellm_group
attributes:
  check_mode:
    description: Reads the team and computes the change; writes nothing.
    support: full
  diff_mode:
    description: Before and after of the team's managed fields.
    support: full
options:
  team_id:
    description: Team id, chosen by you and stable across runs.
    type: str
    required: true
  team_alias:
    description: Display name (not unique in LiteLLM).
    type: str
  members:
    description:
      - Members to ensure, with their role. Members not listed are kept unless O(purge_members=true).
    type: list
    elements: dict
    suboptions:
      user_id:
        description: LiteLLM user id.
        type: str
        required: true
      role:
        description: Role in the team.
        type: str
        choices: [admin, user]
        default: user
  purge_members:
    description: Remove members that O(members) does not list.
    type: bool
    default: false
  metadata:
    description: Metadata entries to enforce; other entries already on the team are kept.
    type: dict
  blocked:
    description: Block or unblock the team (a blocked team's keys are refused).
    type: bool
seealso:
  - module: llmaas.platform.litellm_key
"""

EXAMPLES = r"""
- name: Payments team with a monthly budget
  llmaas.platform.litellm_team:
    team_id: payments
    team_alias: Payments
    models: [qwen2.5-coder]
    max_budget: 200
    budget_duration: 1mo
    rpm_limit: 600
    members:
      - user_id: alice
        role: admin
      - user_id: bob

- name: Remove the team
  llmaas.platform.litellm_team:
    team_id: payments
    state: absent
"""

RETURN = r"""
action:
  description: What the module did (V(create), V(update), V(delete), V(none)).
  returned: always
  type: str
changes:
  description: Team fields sent to C(/team/update), and C(members) when membership changed.
  returned: when action is update
  type: list
  elements: str
team:
  description: The team as LiteLLM reports it after the run.
  returned: when state is present and not after a create in check mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    LiteLLMClient,
    LiteLLMError,
    Reconciler,
    litellm_argument_spec,
    spend_options,
    valid_duration,
)

TEAM_FIELDS = ("team_alias", "models", "max_budget", "budget_duration", "tpm_limit", "rpm_limit", "metadata",
               "blocked")


def validate(params):
    problems = []
    if not params["team_id"] or not params["team_id"].strip():
        problems.append("team_id must be a non-empty string")
    if params["max_parallel_requests"] is not None:
        problems.append("max_parallel_requests cannot be set on a team: LiteLLM's /team/new and /team/update drop "
                        "it silently; set it on the team's keys")
    if params["max_budget"] is not None and not (0 <= params["max_budget"] < float("inf")):
        problems.append("max_budget must be a finite number >= 0, got %s" % params["max_budget"])
    for field in ("tpm_limit", "rpm_limit"):
        if params[field] is not None and params[field] < 0:
            problems.append("%s must be >= 0, got %s" % (field, params[field]))
    if params["budget_duration"] is not None and not valid_duration(params["budget_duration"]):
        problems.append("budget_duration %r is not a LiteLLM duration (e.g. 30s, 30m, 24h, 30d, 1mo)"
                        % params["budget_duration"])
    members = params["members"] or []
    ids = [m["user_id"] for m in members]
    dupes = sorted(set(i for i in ids if ids.count(i) > 1))
    if dupes:
        problems.append("duplicate user_id in members: %s" % ", ".join(dupes))
    if any(not i or not i.strip() for i in ids):
        problems.append("members[].user_id must not be empty")
    return problems


def team_view(info):
    if info is None:
        return None
    view = dict((f, info.get(f)) for f in TEAM_FIELDS)
    view["metadata"] = dict(info.get("metadata") or {})
    view["blocked"] = bool(info.get("blocked"))
    view["members"] = sorted(
        (dict(user_id=m.get("user_id"), role=m.get("role")) for m in info.get("members_with_roles") or []
         if m.get("user_id")), key=lambda m: m["user_id"])
    return view


def desired_members(current_members, wanted, purge):
    if wanted is None:
        return None
    result = dict((m["user_id"], m["role"]) for m in (current_members or [])) if not purge else {}
    result.update((m["user_id"], m["role"]) for m in wanted)
    return [dict(user_id=u, role=r) for u, r in sorted(result.items())]


def main():
    argument_spec = litellm_argument_spec(
        team_id=dict(type="str", required=True),
        team_alias=dict(type="str"),
        members=dict(type="list", elements="dict", options=dict(
            user_id=dict(type="str", required=True),
            role=dict(type="str", choices=["admin", "user"], default="user"),
        )),
        purge_members=dict(type="bool", default=False),
        metadata=dict(type="dict"),
        blocked=dict(type="bool"),
        **spend_options()
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = validate(params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    client = LiteLLMClient.from_module(module)
    team_id = params["team_id"]

    try:
        try:
            info = client.get("/team/info", params={"team_id": team_id}).get("team_info")
        except LiteLLMError as exc:
            if exc.status != 404:
                raise
            info = None
        current = team_view(info)
        desired = dict((f, params[f]) for f in TEAM_FIELDS)
        metadata = dict((current or {}).get("metadata") or {})
        metadata.update(params["metadata"] or {})
        metadata[MANAGED_BY_KEY] = MANAGED_BY_VALUE
        desired["metadata"] = metadata
        desired["members"] = desired_members((current or {}).get("members"), params["members"],
                                             params["purge_members"])

        def create():
            body = dict((k, v) for k, v in desired.items() if v is not None and k != "members")
            body["team_id"] = team_id
            if desired["members"]:
                body["members_with_roles"] = desired["members"]
            try:
                return client.post("/team/new", body)
            except LiteLLMError as exc:
                # a retried /team/new whose first attempt was applied: the explicit team_id exists, as wanted
                if exc.status == 400 and "already exists" in str(exc.detail):
                    return None
                raise

        def update(changes):
            fields = dict((k, v) for k, v in changes.items() if k != "members")
            if fields:
                client.post("/team/update", dict(fields, team_id=team_id))
            if "members" in changes:
                have = dict((m["user_id"], m["role"]) for m in current["members"])
                want = dict((m["user_id"], m["role"]) for m in changes["members"])
                for user_id in sorted(set(have) - set(want)):
                    client.post("/team/member_delete", dict(team_id=team_id, user_id=user_id))
                for user_id, role in sorted(want.items()):
                    if user_id not in have:
                        client.post("/team/member_add", dict(team_id=team_id, member=dict(user_id=user_id, role=role)))
                    elif have[user_id] != role:
                        client.post("/team/member_update", dict(team_id=team_id, user_id=user_id, role=role))
            return None

        def delete():
            try:
                client.post("/team/delete", {"team_ids": [team_id]})
            except LiteLLMError as exc:
                if exc.status != 404:
                    raise

        result = Reconciler(module).ensure(params["state"], current, desired, create, update, delete)
        result.pop("response", None)
        if params["state"] == "present" and not (module.check_mode and result["action"] == "create"):
            if result["action"] == "none":
                result["team"] = info
            else:
                result["team"] = client.get("/team/info", params={"team_id": team_id}).get("team_info")
    except LiteLLMError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
