# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""litellm_team through main() against the LiteLLM management-API EMULATOR."""

import pytest
from emulators.litellm_api import run_module

from ansible_collections.llmaas.platform.plugins.modules import litellm_team


def run(args, **kw):
    return run_module(litellm_team, args, **kw)


TEAM = dict(team_id="payments", team_alias="Payments", models=["qwen2.5-coder"], max_budget=200,
            budget_duration="1mo", rpm_limit=600, members=[dict(user_id="alice", role="admin"), dict(user_id="bob")])


def test_create_idempotent_update(emu, base):
    first = run(dict(base, **TEAM))
    assert first["changed"] is True and first["action"] == "create"
    team = emu.teams["payments"]
    assert team["members_with_roles"] == [{"user_id": "alice", "role": "admin"}, {"user_id": "bob", "role": "user"}]
    assert team["metadata"]["managed-by"] == "llmaas.platform"
    assert run(dict(base, **TEAM))["changed"] is False
    emu.reset_log()
    result = run(dict(base, **dict(TEAM, max_budget=300)), diff=True)
    assert result["changes"] == ["max_budget"]
    [update] = emu.requests_to("/team/update")
    assert update["body"] == {"team_id": "payments", "max_budget": 300.0}
    assert result["diff"] == {"before": {"max_budget": 200.0}, "after": {"max_budget": 300.0}}


def test_members_add_role_change_and_purge(emu, base):
    run(dict(base, **TEAM))
    emu.reset_log()
    result = run(dict(base, team_id="payments", members=[dict(user_id="bob", role="admin"), dict(user_id="carol")]))
    assert result["changes"] == ["members"]
    assert len(emu.requests_to("/team/member_add")) == 1 and len(emu.requests_to("/team/member_update")) == 1
    assert not emu.requests_to("/team/member_delete")  # alice kept: no purge
    run(dict(base, team_id="payments", members=[dict(user_id="bob", role="admin")], purge_members=True))
    assert [m["user_id"] for m in emu.teams["payments"]["members_with_roles"]] == ["bob"]
    assert run(dict(base, team_id="payments", members=[dict(user_id="bob", role="admin")],
                    purge_members=True))["changed"] is False


def test_check_mode_and_delete(emu, base):
    assert run(dict(base, **TEAM), check_mode=True)["changed"] is True
    assert not emu.teams
    run(dict(base, **TEAM))
    assert run(dict(base, team_id="payments", state="absent"), check_mode=True)["changed"] is True
    assert "payments" in emu.teams
    assert run(dict(base, team_id="payments", state="absent"))["changed"] is True
    assert not emu.teams
    assert run(dict(base, team_id="payments", state="absent"))["changed"] is False


def test_same_alias_different_ids_are_two_teams(emu, base):
    run(dict(base, team_id="a", team_alias="Shared"))
    run(dict(base, team_id="b", team_alias="Shared"))
    assert sorted(emu.teams) == ["a", "b"]


@pytest.mark.parametrize("args,message", [
    (dict(team_id="t", max_parallel_requests=4), "max_parallel_requests cannot be set on a team"),
    (dict(team_id="t", max_budget=-5), "max_budget must be a finite number >= 0"),
    (dict(team_id="t", budget_duration="fortnight"), "budget_duration 'fortnight' is not a LiteLLM duration"),
    (dict(team_id="t", rpm_limit=-1), "rpm_limit must be >= 0"),
    (dict(team_id=" "), "team_id must be a non-empty string"),
    (dict(team_id="t", members=[dict(user_id="x"), dict(user_id="x", role="admin")]), "duplicate user_id in members"),
])
def test_bad_input(emu, base, args, message):
    result = run(dict(base, **args))
    assert result["failed"] is True and message in result["msg"]
    assert emu.request_count == 0


def test_5xx_is_retried(emu, base):
    emu.fail_next(2)
    assert run(dict(base, **TEAM))["changed"] is True
