# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""litellm_key through main() against the LiteLLM management-API EMULATOR."""

import random
import stat
from pathlib import Path

import pytest
from litellm.proxy._types import hash_token
from emulators.litellm_api import run_module

from ansible_collections.llmaas.platform.plugins.modules import litellm_key


def run(args, **kw):
    return run_module(litellm_key, args, **kw)


@pytest.fixture
def base(base, tmp_path):
    """Connection options plus file delivery under a fresh folder."""
    return dict(base, delivery=dict(path=str(tmp_path / "keys")))


def delivered_value(base, alias):
    return (Path(base["delivery"]["path"]) / alias / "key").read_text().strip()


SPEC = dict(key_alias="payments-ci", models=["qwen2.5-coder"], max_budget=25, budget_duration="30d", rpm_limit=60,
            guardrails=["pii"], metadata={"owner": "payments"})


def test_create_then_idempotent(emu, base):
    first = run(dict(base, **SPEC))
    assert first["changed"] is True and first["action"] == "create" and first["delivered"] is True
    assert "key" not in first  # the value is delivered, never returned
    value = delivered_value(base, "payments-ci")
    key_file = Path(base["delivery"]["path"]) / "payments-ci" / "key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    [row] = emu.keys.values()
    assert row["token"] == first["token"] == hash_token(value)
    assert value not in str(first)
    assert row["metadata"]["managed-by"] == "llmaas.platform"
    assert row["metadata"]["guardrails"] == ["pii"]  # where LiteLLM stores it
    second = run(dict(base, **SPEC))
    assert second["changed"] is False
    assert "key" not in second  # the value is only given at creation
    assert second["key_info"]["max_budget"] == 25
    assert emu.requests_to("/key/generate").__len__() == 1


def test_check_mode_writes_nothing(emu, base):
    before = emu.snapshot()
    result = run(dict(base, **SPEC), check_mode=True, diff=True)
    assert result["changed"] is True and result["action"] == "create"
    assert emu.snapshot() == before
    assert "key" not in result
    run(dict(base, **SPEC))
    before = emu.snapshot()
    result = run(dict(base, **dict(SPEC, max_budget=50)), check_mode=True)
    assert result["changed"] is True
    assert emu.snapshot() == before
    assert not emu.requests_to("/key/update")


def test_update_sends_only_changed_fields_and_diff_has_no_secret(emu, base):
    created = run(dict(base, **SPEC))
    emu.reset_log()
    result = run(dict(base, **dict(SPEC, max_budget=40, rpm_limit=120)), diff=True)
    assert result["changed"] is True and result["changes"] == ["max_budget", "rpm_limit"]
    [update] = emu.requests_to("/key/update")
    assert update["body"] == {"key": created["token"], "max_budget": 40.0, "rpm_limit": 120}
    assert result["diff"] == {"before": {"max_budget": 25.0, "rpm_limit": 60}, "after": {"max_budget": 40.0,
                                                                                        "rpm_limit": 120}}
    assert delivered_value(base, "payments-ci") not in str(result)
    assert emu.master_key not in str(result)


def test_metadata_change_keeps_guardrails_and_foreign_entries(emu, base):
    run(dict(base, **SPEC))
    [row] = emu.keys.values()
    row["metadata"]["set-by-ui"] = "yes"
    result = run(dict(base, key_alias="payments-ci", metadata={"owner": "platform"}))
    assert result["changes"] == ["metadata"]
    assert row["metadata"].pop("rotated-at")
    assert row["metadata"] == {"owner": "platform", "managed-by": "llmaas.platform", "guardrails": ["pii"],
                               "set-by-ui": "yes"}
    assert run(dict(base, **dict(SPEC, metadata={"owner": "platform"})))["changed"] is False


def test_guardrails_compared_where_litellm_stores_them(emu, base):
    run(dict(base, **SPEC))
    result = run(dict(base, key_alias="payments-ci", guardrails=["pii", "jailbreak"]))
    assert result["changes"] == ["guardrails"]
    [row] = emu.keys.values()
    assert sorted(row["metadata"]["guardrails"]) == ["jailbreak", "pii"]
    assert run(dict(base, key_alias="payments-ci", guardrails=["jailbreak", "pii"]))["changed"] is False


def test_delete_by_alias_then_absent_is_unchanged(emu, base):
    created = run(dict(base, **SPEC))
    gone = run(dict(base, key_alias="payments-ci", state="absent"), diff=True)
    assert gone["changed"] is True and gone["action"] == "delete"
    assert emu.requests_to("/key/delete")[0]["body"] == {"keys": [created["token"]]}
    assert not (Path(base["delivery"]["path"]) / "payments-ci" / "key").exists()  # the dead value goes too
    assert gone["diff"]["after"] == {}
    assert not emu.keys
    again = run(dict(base, key_alias="payments-ci", state="absent"))
    assert again["changed"] is False
    assert len(emu.requests_to("/key/delete")) == 1


def test_absent_in_check_mode_keeps_key(emu, base):
    run(dict(base, **SPEC))
    result = run(dict(base, key_alias="payments-ci", state="absent"), check_mode=True)
    assert result["changed"] is True
    assert len(emu.keys) == 1


def test_more_than_one_key_with_alias_fails(emu, base):
    emu.seed_key(key_alias="dup")
    emu.seed_key(key_alias="dup")
    result = run(dict(base, key_alias="dup", max_budget=1))
    assert result["failed"] is True
    assert "2 keys carry key_alias 'dup'" in result["msg"]
    assert not emu.requests_to("/key/update")


def test_duration_only_at_creation(emu, base):
    first = run(dict(base, key_alias="temp", duration="30d"))
    assert first["key_info"]["expires"]
    assert run(dict(base, key_alias="temp", duration="30d"))["changed"] is False


def test_team_and_blocked(emu, base):
    run(dict(base, key_alias="k", team_id="payments"))
    result = run(dict(base, key_alias="k", team_id="search", blocked=True))
    assert result["changes"] == ["blocked", "team_id"]
    assert run(dict(base, key_alias="k", team_id="search", blocked=True))["changed"] is False


@pytest.mark.parametrize("args,message", [
    (dict(key_alias=""), "key_alias must be a non-empty string"),
    (dict(key_alias="   "), "key_alias must be a non-empty string"),
    (dict(key_alias="a\tb"), "must not contain control characters"),
    (dict(key_alias="k", max_budget=-1), "max_budget must be a finite number >= 0, got -1.0"),
    (dict(key_alias="k", max_budget=float("nan")), "max_budget must be a finite number >= 0"),
    (dict(key_alias="k", budget_duration="monthly-ish"), "budget_duration 'monthly-ish' is not a LiteLLM duration"),
    (dict(key_alias="k", budget_duration="0d"), "budget_duration '0d' is not a LiteLLM duration"),
    (dict(key_alias="k", duration="forever"), "duration 'forever' is not a LiteLLM duration"),
    (dict(key_alias="k", tpm_limit=-1), "tpm_limit must be >= 0"),
    (dict(key_alias="k", rpm_limit=-10), "rpm_limit must be >= 0"),
    (dict(key_alias="k", max_parallel_requests=-1), "max_parallel_requests must be >= 0"),
    (dict(key_alias="k", models=["gpt-9"], allowed_models=["qwen2.5-coder"]), "unknown model(s) gpt-9"),
    (dict(key_alias="k", metadata={"managed-by": "someone-else"}), "reserved for the llmaas.platform marker"),
])
def test_bad_input_fails_before_any_call(emu, base, args, message):
    result = run(dict(base, **args))
    assert result["failed"] is True
    assert message in result["msg"]
    assert emu.request_count == 0


def test_unknown_model_from_model_info(emu, base):
    result = run(dict(base, key_alias="k", models=["gpt-9"], validate_models=True))
    assert result["failed"] is True
    assert "unknown model(s) gpt-9; known models: gemma3-270m, qwen2.5-coder" in result["msg"]
    assert not emu.requests_to("/key/generate")


def test_missing_connection_settings(base, monkeypatch):
    monkeypatch.delenv("LITELLM_API_URL", raising=False)
    result = run(dict(key_alias="k", master_key="x", delivery=base["delivery"]))
    assert result["failed"] and "LITELLM_API_URL" in result["msg"]


def test_env_fallbacks(emu, base, monkeypatch):
    monkeypatch.setenv("LITELLM_API_URL", emu.url)
    monkeypatch.setenv("LITELLM_MASTER_KEY", emu.master_key)
    assert run(dict(key_alias="from-env", retry_backoff=0.001, delivery=base["delivery"]))["changed"] is True


def test_wrong_master_key(emu, base):
    result = run(dict(base, key_alias="k", master_key="sk-nope"))
    assert result["failed"] is True
    assert "answered 401" in result["msg"] and "check master_key" in result["msg"]
    assert result["status"] == 401


def test_api_unreachable(base):
    result = run(dict(base, key_alias="k", api_url="http://127.0.0.1:9", retries=1))
    assert result["failed"] is True
    assert "cannot reach http://127.0.0.1:9" in result["msg"] and "after 2 attempts" in result["msg"]


def test_5xx_storm_retried_then_clear_failure(emu, base):
    emu.fail_next(20, status=503)
    result = run(dict(base, **SPEC, retries=2))
    assert result["failed"] is True
    assert "answered 503" in result["msg"] and "after 3 attempts" in result["msg"]
    assert not emu.keys


def test_short_5xx_burst_is_absorbed(emu, base):
    emu.fail_next(2, status=500)
    assert run(dict(base, **SPEC))["changed"] is True


def test_lost_create_answer_costs_nothing(emu, base):
    """The generate is applied but its answer comes too late: the value was written before the call, the
    lookup finds LiteLLM's token for it, the value is promoted; no second generate, no second key."""
    args = dict(base, **SPEC, timeout=0.3)
    emu.slow_next(1, delay=0.0)  # the lookup passes
    emu.timeout_next(1, delay=0.8, applied=True)
    result = run(args)
    assert not result.get("failed"), result
    assert result["action"] == "create" and result["delivered"] is True
    assert len(emu.requests_to("/key/generate")) == 1
    [row] = emu.keys.values()
    assert row["token"] == hash_token(delivered_value(base, "payments-ci"))
    assert run(dict(base, **SPEC))["changed"] is False
    assert emu.aliases() == ["payments-ci"]


@pytest.mark.slow
def test_convergence_under_random_faults(emu, base):
    """50 runs with random faults and no alias uniqueness in the API (the DB race), then a clean run converges."""
    emu.enforce_unique_alias = False
    rng = random.Random(42)
    aliases = ["tenant-%d" % i for i in range(5)]
    emu.storm(0.3, kinds=("5xx", "timeout", "slow"), delay=0.25, seed=7)
    for _ in range(50):
        alias = rng.choice(aliases)
        state = "absent" if rng.random() < 0.2 else "present"
        run(dict(base, key_alias=alias, state=state, max_budget=rng.choice([5, 10]), timeout=0.2, retries=2))
    emu.storm(None)
    for alias in aliases:
        result = run(dict(base, key_alias=alias, max_budget=10))
        assert not result.get("failed"), result
    for alias in aliases:
        assert run(dict(base, key_alias=alias, max_budget=10))["changed"] is False
    assert sorted(emu.aliases()) == aliases  # exactly one key per alias
