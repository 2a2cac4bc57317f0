# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""litellm_keys (bulk) through main() against the LiteLLM management-API EMULATOR."""

import time

import pytest
from emulators.litellm_api import run_module

from ansible_collections.llmaas.platform.plugins.modules import litellm_keys


def run(args, **kw):
    return run_module(litellm_keys, args, **kw)


def fleet(n, **extra):
    return [dict(key_alias="tenant-%04d" % i, max_budget=10, models=["qwen2.5-coder"], **extra) for i in range(n)]


def test_create_update_noop_and_values_returned_once(emu, base):
    first = run(dict(base, keys=fleet(3)))
    assert first["changed"] is True
    assert sorted(first["created_keys"]) == ["tenant-0000", "tenant-0001", "tenant-0002"]
    assert all(v.startswith("sk-") for v in first["created_keys"].values())
    second = run(dict(base, keys=fleet(3)))
    assert second["changed"] is False and second["created_keys"] == {}
    assert set(second["actions"].values()) == {"none"}
    emu.reset_log()
    specs = fleet(3)
    specs[1]["rpm_limit"] = 5
    third = run(dict(base, keys=specs), diff=True)
    assert third["actions"]["tenant-0001"] == "update" and third["changes"] == {"tenant-0001": ["rpm_limit"]}
    [update] = emu.requests_to("/key/update")
    assert set(update["body"]) == {"key", "rpm_limit"}
    assert third["diff"]["before"]["tenant-0001"] == {"rpm_limit": None}
    for value in first["created_keys"].values():
        assert value not in str(third)


def test_purge_deletes_only_managed_undeclared(emu, base):
    run(dict(base, keys=fleet(3)))
    emu.seed_key(key_alias="hand-made")  # no managed-by marker: never purged
    result = run(dict(base, keys=fleet(2), purge=True))
    assert result["actions"]["tenant-0002"] == "delete"
    assert sorted(emu.aliases()) == ["hand-made", "tenant-0000", "tenant-0001"]
    assert run(dict(base, keys=fleet(2), purge=True))["changed"] is False


def test_purge_limited_to_team(emu, base):
    run(dict(base, keys=[dict(key_alias="a", team_id="t1"), dict(key_alias="b", team_id="t2")]))
    run(dict(base, keys=[], purge=True, purge_team_id="t1"))
    assert emu.aliases() == ["b"]


def test_check_mode_writes_nothing(emu, base):
    run(dict(base, keys=fleet(2)))
    before = emu.snapshot()
    specs = fleet(3)
    specs[0]["max_budget"] = 99
    result = run(dict(base, keys=specs[1:] + [specs[0]], purge=True), check_mode=True)
    assert result["changed"] is True
    assert result["actions"] == {"tenant-0001": "none", "tenant-0002": "create", "tenant-0000": "update"}
    assert emu.snapshot() == before


def test_state_absent_entry(emu, base):
    run(dict(base, keys=fleet(2)))
    result = run(dict(base, keys=[dict(key_alias="tenant-0000", state="absent"),
                                  dict(key_alias="missing", state="absent")]))
    assert result["actions"] == {"tenant-0000": "delete", "missing": "none"}
    assert emu.aliases() == ["tenant-0001"]


def test_duplicate_aliases_fail_before_any_call(emu, base):
    result = run(dict(base, keys=[dict(key_alias="x"), dict(key_alias="y"), dict(key_alias="x")]))
    assert result["failed"] is True
    assert "duplicate key_alias in keys: x (entries 0, 2)" in result["msg"]
    assert emu.request_count == 0


def test_bad_entry_fails_before_any_call(emu, base):
    result = run(dict(base, keys=[dict(key_alias="ok"), dict(key_alias="bad", max_budget=-3, budget_duration="1y")]))
    assert result["failed"] is True
    assert "key 'bad': max_budget must be a finite number >= 0" in result["msg"]
    assert "key 'bad': budget_duration '1y'" in result["msg"]
    assert emu.request_count == 0


def test_alias_on_two_keys_fails_before_writes(emu, base):
    emu.seed_key(key_alias="dup")
    emu.seed_key(key_alias="dup")
    result = run(dict(base, keys=[dict(key_alias="dup"), dict(key_alias="new")]))
    assert result["failed"] is True and "2 keys carry key_alias 'dup'" in result["msg"]
    assert not emu.requests_to("/key/generate")


def test_partial_failure_still_returns_created_values(emu, base):
    emu.slow_next(1, delay=0)  # the listing passes
    emu.fail_next(2, status=500)  # the first generate fails twice: retries exhausted
    result = run(dict(base, keys=fleet(3), retries=1))
    assert result["failed"] is True
    assert list(result["failed_aliases"]) == ["tenant-0000"]
    assert "answered 500" in result["failed_aliases"]["tenant-0000"]
    assert sorted(result["created_keys"]) == ["tenant-0001", "tenant-0002"]
    assert result["changed"] is True
    assert run(dict(base, keys=fleet(3)))["actions"]["tenant-0000"] == "create"


def test_pagination_reads_every_key(emu, base):
    for i in range(250):
        emu.seed_key(key_alias="p-%03d" % i, metadata={"managed-by": "llmaas.platform"})
    emu.reset_log()
    result = run(dict(base, keys=[dict(key_alias="p-%03d" % i) for i in range(250)]))
    assert result["changed"] is False
    assert len(emu.requests_to("/key/list")) == 3
    assert result["summary"]["requests"] == 3


@pytest.mark.slow
def test_noop_reconcile_of_1000_keys_is_fast(emu, base):
    specs = fleet(1000)
    first = run(dict(base, keys=specs))
    assert first["summary"]["create"] == 1000
    start = time.monotonic()
    second = run(dict(base, keys=specs))
    elapsed = time.monotonic() - start
    assert second["changed"] is False and second["summary"]["requests"] == 10
    assert elapsed <= 5.0
