# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""litellm_keys (bulk) through main() against the LiteLLM management-API EMULATOR.

The fault tests end with `assert_converged`: every declared alias has exactly one key on the gateway and its
delivered value is that key (sha256 = LiteLLM's token): 0 duplicate keys, 0 lost keys.
"""

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from emulators.litellm_api import run_module
from litellm.proxy._types import hash_token

from ansible_collections.llmaas.platform.plugins.modules import litellm_keys


def run(args, **kw):
    return run_module(litellm_keys, args, **kw)


@pytest.fixture
def base(base, tmp_path):
    return dict(base, delivery=dict(path=str(tmp_path / "keys")))


def fleet(n, **extra):
    return [dict(key_alias="tenant-%04d" % i, max_budget=10, models=["qwen2.5-coder"], **extra) for i in range(n)]


def value(base, alias):
    path = Path(base["delivery"]["path"]) / alias / "key"
    return path.read_text().strip() if path.exists() else None


def assert_converged(emu, base, aliases):
    on_gateway = sorted(emu.aliases())
    duplicates = len(on_gateway) - len(set(on_gateway))
    lost = [a for a in aliases if value(base, a) is None
            or hash_token(value(base, a)) not in emu.keys or emu.keys[hash_token(value(base, a))]["key_alias"] != a]
    assert duplicates == 0 and lost == [], (duplicates, lost)
    assert sorted(set(on_gateway)) == sorted(aliases)


def test_create_update_noop_and_values_never_returned(emu, base):
    first = run(dict(base, keys=fleet(3)))
    assert first["changed"] is True and first["summary"]["create"] == 3
    assert first["delivered"] == ["tenant-0000", "tenant-0001", "tenant-0002"]
    assert "created_keys" not in first
    for alias in first["delivered"]:
        assert value(base, alias) not in str(first)
    assert_converged(emu, base, first["delivered"])
    second = run(dict(base, keys=fleet(3)))
    assert second["changed"] is False and set(second["actions"].values()) == {"none"}
    assert second["summary"]["requests"] == 1
    emu.reset_log()
    specs = fleet(3)
    specs[1]["rpm_limit"] = 5
    third = run(dict(base, keys=specs), diff=True)
    assert third["actions"]["tenant-0001"] == "update" and third["changes"] == {"tenant-0001": ["rpm_limit"]}
    [update] = emu.requests_to("/key/update")
    assert set(update["body"]) == {"key", "rpm_limit"}
    assert third["diff"]["before"]["tenant-0001"] == {"rpm_limit": None}
    for alias in first["delivered"]:
        assert value(base, alias) not in str(third)


def test_purge_deletes_only_managed_undeclared(emu, base):
    run(dict(base, keys=fleet(3)))
    emu.seed_key(key_alias="hand-made")  # no managed-by marker: never purged
    result = run(dict(base, keys=fleet(2), purge=True))
    assert result["actions"]["tenant-0002"] == "delete"
    assert sorted(emu.aliases()) == ["hand-made", "tenant-0000", "tenant-0001"]
    assert value(base, "tenant-0002") is None
    assert run(dict(base, keys=fleet(2), purge=True))["changed"] is False


def test_check_mode_writes_nothing_and_diff_has_no_value(emu, base):
    run(dict(base, keys=fleet(2)))
    before = emu.snapshot()
    files = sorted(p.name for p in Path(base["delivery"]["path"]).rglob("*"))
    specs = fleet(3)
    specs[0]["max_budget"] = 99
    specs[1]["rotation"] = "now"
    result = run(dict(base, keys=specs, purge=True), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["actions"] == {"tenant-0000": "update", "tenant-0001": "rotate", "tenant-0002": "create"}
    assert emu.snapshot() == before
    assert sorted(p.name for p in Path(base["delivery"]["path"]).rglob("*")) == files
    assert "sk-" not in str(result["diff"])


def test_duplicate_aliases_and_bad_entries_fail_before_any_call(emu, base):
    result = run(dict(base, keys=[dict(key_alias="x"), dict(key_alias="y"), dict(key_alias="x")]))
    assert "duplicate key_alias in keys: x (entries 0, 2)" in result["msg"]
    result = run(dict(base, keys=[dict(key_alias="ok"), dict(key_alias="bad", max_budget=-3, budget_duration="1y"),
                                  dict(key_alias="a/b")], rotate_after="soon"))
    assert "key 'bad': max_budget must be a finite number >= 0" in result["msg"]
    assert "key 'bad': budget_duration '1y'" in result["msg"]
    assert "key_alias 'a/b' cannot name a folder" in result["msg"]
    assert "rotate_after 'soon' is not a LiteLLM duration" in result["msg"]
    result = run(dict(base, keys=[dict(key_alias="x")], delivery=None))
    assert "delivery is required" in result["msg"]
    assert emu.request_count == 0


def test_alias_on_two_keys_fails_before_writes(emu, base):
    emu.seed_key(key_alias="dup")
    emu.seed_key(key_alias="dup")
    result = run(dict(base, keys=[dict(key_alias="dup"), dict(key_alias="new")]))
    assert result["failed"] is True and "2 keys carry key_alias 'dup'" in result["msg"]
    assert not emu.requests_to("/key/generate")


def test_missing_file_is_reported_then_regenerated_explicitly(emu, base):
    run(dict(base, keys=fleet(3)))
    Path(base["delivery"]["path"], "tenant-0001", "key").unlink()
    specs = fleet(4)
    result = run(dict(base, keys=specs))
    assert result["failed"] is True
    assert "tenant-0001" in result["msg"] and "missing_value=regenerate" in result["msg"]
    assert result["undelivered"] == ["tenant-0001"]
    # everything else converged in the same run, the undelivered key was left alone
    assert result["actions"]["tenant-0003"] == "create" and "tenant-0003" in result["delivered"]
    assert len(emu.keys) == 4
    fixed = run(dict(base, keys=specs, missing_value="regenerate"))
    assert not fixed.get("failed"), fixed
    assert fixed["actions"]["tenant-0001"] == "regenerate"
    assert_converged(emu, base, [s["key_alias"] for s in specs])
    assert run(dict(base, keys=specs))["changed"] is False


def test_rotation_on_demand_is_idempotent_open_source_recreates(emu, base):
    run(dict(base, keys=fleet(2)))
    old = value(base, "tenant-0000")
    specs = fleet(2)
    specs[0]["rotation"] = "2026-12-01"
    result = run(dict(base, keys=specs))
    assert result["actions"]["tenant-0000"] == "rotate" and result["actions"]["tenant-0001"] == "none"
    assert value(base, "tenant-0000") != old and hash_token(old) not in emu.keys
    # LiteLLM 1.108 without a licence refuses regenerate (one request), then delete + create
    assert len(emu.requests_to("/key/%s/regenerate" % hash_token(old))) == 1
    assert_converged(emu, base, ["tenant-0000", "tenant-0001"])
    again = run(dict(base, keys=specs))
    assert again["changed"] is False


def test_rotation_by_age_with_regenerate_and_grace_period(emu, base):
    emu.premium = True
    run(dict(base, keys=fleet(2)))
    old = value(base, "tenant-0000")
    row = emu.keys[hash_token(old)]
    long_ago = (datetime.now(timezone.utc) - timedelta(days=91)).replace(tzinfo=None).isoformat() + "Z"
    row["metadata"]["rotated-at"] = long_ago
    result = run(dict(base, keys=fleet(2), rotate_after="90d", grace_period="24h"))
    assert result["actions"] == {"tenant-0000": "rotate", "tenant-0001": "none"}
    assert result["reasons"]["tenant-0000"] == "older than 90d"
    new = value(base, "tenant-0000")
    assert emu.keys[hash_token(new)]["key_alias"] == "tenant-0000"
    assert emu.deprecated_keys[hash_token(old)]["active_token"] == hash_token(new)  # old value valid 24 h
    assert not emu.requests_to("/key/delete")
    assert run(dict(base, keys=fleet(2), rotate_after="90d"))["changed"] is False
    assert_converged(emu, base, ["tenant-0000", "tenant-0001"])


def test_gateway_down_fails_fast_and_rerun_finishes(emu, base):
    specs = fleet(30)
    emu.down_after_creations(6)
    start = time.monotonic()
    result = run(dict(base, keys=specs, retries=3, retry_backoff=0.2))
    elapsed = time.monotonic() - start
    assert result["failed"] is True
    assert "created and delivered 6 key(s)" in result["msg"] and "Run again to finish" in result["msg"]
    assert elapsed < 5, elapsed  # one retry budget, not a backoff for each of the 24 remaining keys
    assert sum(1 for m in result["failed_aliases"].values() if m.startswith("not attempted")) == 23
    assert len(result["delivered"]) == 6
    emu.come_up()
    again = run(dict(base, keys=specs))
    assert not again.get("failed"), again
    assert_converged(emu, base, [s["key_alias"] for s in specs])


def test_gateway_restarted_without_its_database(emu, base):
    specs = fleet(5)
    run(dict(base, keys=specs))
    emu.go_down()
    time.sleep(0.2)
    emu.come_up(wipe=True)
    result = run(dict(base, keys=specs))
    assert set(result["actions"].values()) == {"create"}  # the old files hold dead values: replaced
    assert_converged(emu, base, [s["key_alias"] for s in specs])


@pytest.mark.parametrize("kind", ["5xx", "timeout"])
@pytest.mark.parametrize("path", ["/key/generate", "/key/list"])
def test_fault_on_an_endpoint_converges(emu, base, kind, path):
    specs = fleet(8)
    emu.fault_on(path, kind=kind, count=3, delay=0.6, applied=True)
    result = run(dict(base, keys=specs, timeout=0.3, retries=1, retry_backoff=0.01))
    if result.get("failed"):
        emu.clear_faults()
        result = run(dict(base, keys=specs))
        assert not result.get("failed"), result
    assert_converged(emu, base, [s["key_alias"] for s in specs])
    assert len(emu.requests_to("/key/generate")) <= 8 + 3  # never a blind second create


def test_interrupted_after_create_before_promote_converges_without_api_write(emu, base):
    """The state a killed controller leaves: the key exists with the pending value, no current file."""
    run(dict(base, keys=fleet(1)))
    folder = Path(base["delivery"]["path"]) / "tenant-0000"
    (folder / "key").rename(folder / "key.pending")
    emu.reset_log()
    result = run(dict(base, keys=fleet(1)))
    assert result["actions"] == {"tenant-0000": "deliver"}
    assert [r["path"] for r in emu.request_log] == ["/key/list"]
    assert_converged(emu, base, ["tenant-0000"])


def test_pagination_reads_every_key(emu, base):
    specs = [dict(key_alias="p-%03d" % i) for i in range(250)]
    run(dict(base, keys=specs))
    emu.reset_log()
    result = run(dict(base, keys=specs))
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


@pytest.mark.parametrize("premium", [True, False])
def test_lost_rotation_answer_converges(emu, base, premium):
    """The rotation is applied but its answer is lost: the new value was staged first, the lookup finds it."""
    emu.premium = premium
    run(dict(base, keys=fleet(2)))
    specs = fleet(2)
    specs[0]["rotation"] = "r1"
    path = "/key/" if premium else "/key/generate"  # regenerate, or the create of delete + create
    emu.fault_on(path, kind="timeout", count=1, delay=0.6, applied=True, method="POST")
    result = run(dict(base, keys=specs, timeout=0.3, retry_backoff=0.01))
    if result.get("failed"):  # the lookup itself may have met the slow answer: the re-run finishes
        result = run(dict(base, keys=specs))
    assert not result.get("failed"), result
    assert_converged(emu, base, ["tenant-0000", "tenant-0001"])
    assert run(dict(base, keys=specs))["changed"] is False


@pytest.mark.parametrize("path", ["/key/update", "/key/delete"])
def test_5xx_storm_on_update_or_delete_stops_then_converges(emu, base, path):
    run(dict(base, keys=fleet(4)))
    specs = fleet(3, rpm_limit=7)  # 3 updates, 1 purge delete
    emu.fault_on(path, kind="5xx", count=10, status=502)
    failed = run(dict(base, keys=specs, purge=True, retries=1, retry_backoff=0.01))
    assert failed["failed"] is True and "Run again to finish" in failed["msg"]
    emu.clear_faults()
    again = run(dict(base, keys=specs, purge=True))
    assert not again.get("failed"), again
    assert_converged(emu, base, [s["key_alias"] for s in specs])
    assert all(row["rpm_limit"] == 7 for row in emu.keys.values())
