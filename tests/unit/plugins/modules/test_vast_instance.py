# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""llmaas.platform.vast_instance against the Vast API EMULATOR (tests/emulators/vast_api.py)."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from emulators.vast_api import VastAPIEmulator

from ansible_collections.llmaas.platform.plugins.module_utils import vast as vast_utils
from ansible_collections.llmaas.platform.plugins.modules import vast_instance

BASE = {
    "label": "llmaas-vast-0",
    "gpu_name": ["RTX_4090"],
    "num_gpus": 2,
    "max_price_per_hour": 1.0,
    "min_reliability": 0.98,
    "disk": 100,
    "image": "ubuntu:22.04",
    "poll_interval": 0.01,
    "wait_timeout": 5,
}


@pytest.fixture
def emulator():
    with VastAPIEmulator(api_key="good-key") as emu:
        yield emu


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    """Retries back off with real sleeps in production; the tests only record them."""
    slept = []
    monkeypatch.setattr(vast_utils.time, "sleep", lambda s: slept.append(s))
    return slept


def run(emu, capsys, check_mode=False, api_key="good-key", **overrides):
    args = dict(BASE, api_url=emu.url, api_key=api_key, **overrides)
    args = {k: v for k, v in args.items() if v is not None}  # an unset option, so env fallbacks apply
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        vast_instance.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exc.value.code
    return result


def mutating(emu):
    return [(m, p) for m, p, _ in emu.requests if m in ("PUT", "DELETE")]


def test_creates_from_cheapest_matching_offer_and_waits_for_running(emulator, capsys):
    result = run(emulator, capsys, env={"-p 6443:6443": "1"})
    assert result["changed"] is True, result
    # 1003 is cheaper but below min_reliability; 1002 is the cheapest offer that matches every filter.
    assert result["offer"]["id"] == 1002
    assert result["instance"]["actual_status"] == "running"
    assert result["instance"]["label"] == "llmaas-vast-0"
    assert result["instance"]["ports"]["6443/tcp"] > 0
    create = [b for m, p, b in emulator.requests if m == "PUT" and p.startswith("/api/v0/asks/")]
    assert create == [{"client_id": "me", "image": "ubuntu:22.04", "label": "llmaas-vast-0", "disk": 100.0,
                       "runtype": "ssh_direct", "env": {"-p 6443:6443": "1"}}]
    search = [b for m, p, b in emulator.requests if p == "/api/v0/bundles/"][0]
    assert search["gpu_name"] == {"in": ["RTX 4090"]}
    assert search["dph_total"] == {"lte": 1.0}
    assert search["order"] == [["dph_total", "asc"]]


def test_second_run_with_same_label_changes_nothing(emulator, capsys):
    first = run(emulator, capsys)
    calls_after_first = len(mutating(emulator))
    second = run(emulator, capsys)
    assert second["changed"] is False
    assert second["instance"]["id"] == first["instance"]["id"]
    assert len(mutating(emulator)) == calls_after_first, "a second run must not rent again"
    assert len(emulator.instances) == 1


def test_check_mode_reports_the_offer_and_rents_nothing(emulator, capsys):
    result = run(emulator, capsys, check_mode=True)
    assert result["changed"] is True
    assert result["offer"]["id"] == 1002
    assert emulator.instances == {}
    assert mutating(emulator) == []


def test_absent_destroys_by_label_and_is_idempotent(emulator, capsys):
    keep = emulator.add_instance("someone-else")
    doomed = emulator.add_instance("llmaas-vast-0")
    result = run(emulator, capsys, state="absent")
    assert result["changed"] is True
    assert result["destroyed"] == [doomed["id"]]
    assert list(emulator.instances) == [keep["id"]]
    again = run(emulator, capsys, state="absent")
    assert again["changed"] is False
    assert again["destroyed"] == []


def test_absent_in_check_mode_destroys_nothing(emulator, capsys):
    doomed = emulator.add_instance("llmaas-vast-0")
    result = run(emulator, capsys, state="absent", check_mode=True)
    assert result["changed"] is True
    assert result["destroyed"] == [doomed["id"]]
    assert doomed["id"] in emulator.instances


def test_no_matching_offer_names_the_filters(emulator, capsys):
    result = run(emulator, capsys, gpu_name=["H100 SXM"], max_price_per_hour=0.5)
    assert result["failed"] is True
    assert "No rentable Vast offer matches" in result["msg"]
    assert 'gpu_name in ["H100 SXM"]' in result["msg"]
    assert "dph_total lte 0.5" in result["msg"]
    assert emulator.instances == {}


def test_wrong_api_key_is_a_clear_error(emulator, capsys):
    result = run(emulator, capsys, api_key="wrong-key")
    assert result["failed"] is True
    assert "API key rejected" in result["msg"]
    assert "HTTP 401" in result["msg"]
    assert "wrong-key" not in result["msg"]


def test_missing_api_key_is_a_clear_error(emulator, capsys, monkeypatch):
    monkeypatch.delenv("VAST_API_KEY", raising=False)
    result = run(emulator, capsys, api_key=None)
    assert result["failed"] is True
    assert "VAST_API_KEY" in result["msg"]


def test_api_key_from_environment(emulator, capsys, monkeypatch):
    monkeypatch.setenv("VAST_API_KEY", "good-key")
    result = run(emulator, capsys, api_key=None, state="absent")
    assert "failed" not in result, result


def test_stuck_in_loading_fails_within_the_bound(capsys):
    with VastAPIEmulator(api_key="good-key", stuck_in_loading=True) as emu:
        result = run(emu, capsys, wait_timeout=1, poll_interval=0.05)
        assert result["failed"] is True
        assert "still 'loading' after 1s" in result["msg"]
        assert "Pulling image" in result["msg"]
        assert result["instance"]["actual_status"] == "loading"
        # The instance is left for the user to inspect or destroy; it is not silently dropped.
        assert len(emu.instances) == 1


def test_retries_5xx_and_429_then_succeeds(emulator, capsys, no_backoff_sleep):
    emulator.fail_next(503, times=1, path_prefix="/bundles/")
    emulator.fail_next(429, times=1, path_prefix="/asks/")
    result = run(emulator, capsys)
    assert result["changed"] is True, result
    assert len(no_backoff_sleep) >= 2


def test_429_waits_as_long_as_retry_after_says(emulator, capsys, no_backoff_sleep):
    emulator.fail_next(429, times=1, path_prefix="/bundles/", retry_after=5)
    result = run(emulator, capsys)
    assert result["changed"] is True, result
    assert no_backoff_sleep[0] == 5.0  # the API's delay, not the 1 s first backoff


def test_does_not_retry_client_errors(emulator, capsys, no_backoff_sleep):
    emulator.fail_next(400, times=5, path_prefix="/bundles/")
    result = run(emulator, capsys)
    assert result["failed"] is True
    assert "HTTP 400" in result["msg"]
    assert no_backoff_sleep == []


def test_gives_up_after_bounded_retries(emulator, capsys, no_backoff_sleep):
    emulator.fail_next(502, times=10, path_prefix="/instances/")
    result = run(emulator, capsys, retries=2)
    assert result["failed"] is True
    assert "HTTP 502" in result["msg"] and "after 3 attempts" in result["msg"]
    assert len(no_backoff_sleep) == 2


def test_connection_drop_is_retried(emulator, capsys):
    emulator.drop_next(1)
    result = run(emulator, capsys, state="absent")
    assert "failed" not in result, result


def test_unreachable_api_is_a_clear_error(capsys):
    with VastAPIEmulator() as emu:
        dead_url = emu.url
    result = run(type("E", (), {"url": dead_url})(), capsys, retries=1)
    assert result["failed"] is True
    assert "Cannot reach the Vast API" in result["msg"]


def test_vm_only_considers_vm_capable_offers(emulator, capsys):
    result = run(emulator, capsys, vm=True, max_price_per_hour=None, min_reliability=0.9)
    # 1003 is the cheapest 2x4090 at reliability >= 0.9 but cannot host VMs.
    assert result["offer"]["id"] == 1002
    create = [b for m, p, b in emulator.requests if p.startswith("/api/v0/asks/")][0]
    assert create["vm"] is True


def test_present_without_image_fails_before_renting(emulator, capsys):
    result = run(emulator, capsys, image=None)
    assert result["failed"] is True
    assert "image must be set" in result["msg"]
    assert mutating(emulator) == []
