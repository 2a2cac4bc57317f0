# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""litellm_key_info through main() against the LiteLLM management-API EMULATOR."""

from emulators.litellm_api import run_module

from ansible_collections.llmaas.platform.plugins.modules import litellm_key, litellm_key_info


def test_read_by_alias_without_secret(emu, base, tmp_path):
    created = run_module(litellm_key, dict(base, key_alias="a", team_id="t1", guardrails=["pii"], max_budget=3,
                                           delivery=dict(path=str(tmp_path))))
    result = run_module(litellm_key_info, dict(base, key_alias="a"))
    assert result["changed"] is False and result["count"] == 1
    [key] = result["virtual_keys"]
    assert key["token"] == created["token"] and key["guardrails"] == ["pii"] and key["max_budget"] == 3
    assert (tmp_path / "a" / "key").read_text().strip() not in str(result)
    assert "api_key" not in key
    assert "keys" not in result  # renamed: result.keys is dict.keys in Jinja


def test_documented_example_works_in_jinja(emu, base, tmp_path):
    """The module's EXAMPLES read payments.virtual_keys[0]; with the old name `keys` Jinja found dict.keys."""
    from jinja2 import Environment
    run_module(litellm_key, dict(base, key_alias="payments-ci", max_budget=25, delivery=dict(path=str(tmp_path))))
    payments = run_module(litellm_key_info, dict(base, key_alias="payments-ci"))
    assert Environment().from_string("{{ payments.virtual_keys[0].max_budget == 25 }}").render(
        payments=payments) == "True"


def test_list_by_team_and_managed_marker(emu, base, tmp_path):
    run_module(litellm_key, dict(base, key_alias="a", team_id="t1", delivery=dict(path=str(tmp_path))))
    run_module(litellm_key, dict(base, key_alias="b", team_id="t2", delivery=dict(path=str(tmp_path))))
    emu.seed_key(key_alias="c", team_id="t1")
    team = run_module(litellm_key_info, dict(base, team_id="t1"))["virtual_keys"]
    assert sorted(k["key_alias"] for k in team) == ["a", "c"]
    managed = run_module(litellm_key_info, dict(base, managed_only=True))["virtual_keys"]
    assert sorted(k["key_alias"] for k in managed) == ["a", "b"]
    assert run_module(litellm_key_info, dict(base, key_alias="missing"))["virtual_keys"] == []


def test_info_works_in_check_mode_and_reports_errors(emu, base):
    assert run_module(litellm_key_info, dict(base), check_mode=True)["count"] == 0
    result = run_module(litellm_key_info, dict(base, master_key="sk-bad"))
    assert result["failed"] and "answered 401" in result["msg"]
