# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""LiteLLMClient against the LiteLLM management-API EMULATOR: retries, error shapes, timeouts."""

import socket

import pytest

from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    LiteLLMClient,
    LiteLLMError,
    LiteLLMTimeout,
    parse_error_body,
    valid_duration,
    validate_key_spec,
)


@pytest.fixture
def client(emu):
    emu.reset()
    return LiteLLMClient(emu.url, emu.master_key, timeout=2, retries=3, retry_backoff=0.001)


def test_retries_5xx_then_succeeds(emu, client):
    emu.fail_next(2, status=503)
    assert client.get("/key/list")["keys"] == []
    assert len(emu.requests_to("/key/list")) == 3


def test_5xx_storm_gives_up_with_status_endpoint_and_attempts(emu, client):
    emu.fail_next(10, status=502)
    with pytest.raises(LiteLLMError) as err:
        client.get("/key/list")
    assert err.value.status == 502
    assert "GET /key/list answered 502" in str(err.value)
    assert "after 4 attempts" in str(err.value)
    assert len(emu.requests_to("/key/list")) == 4


def test_4xx_is_never_retried(emu, client):
    with pytest.raises(LiteLLMError) as err:
        client.post("/key/generate", {"key_alias": "x", "max_budget": -1})
    assert err.value.status == 400
    assert "max_budget must be a non-negative finite number" in str(err.value)
    assert len(emu.requests_to("/key/generate")) == 1


def test_wrong_master_key_is_401_with_hint(emu):
    emu.reset()
    bad = LiteLLMClient(emu.url, "sk-wrong", retries=3, retry_backoff=0.001)
    with pytest.raises(LiteLLMError) as err:
        bad.get("/key/list")
    assert err.value.status == 401
    assert "Invalid proxy server token" in str(err.value)
    assert "LITELLM_MASTER_KEY" in str(err.value)
    assert len(emu.requests_to("/key/list")) == 1
    assert "sk-wrong" not in str(err.value)


def test_unreachable_api_is_retried_then_clear():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    calls = []
    client = LiteLLMClient("http://127.0.0.1:%d" % port, "sk-x", retries=2, retry_backoff=0.5, sleep=calls.append)
    with pytest.raises(LiteLLMError) as err:
        client.get("/key/list")
    assert "cannot reach http://127.0.0.1:%d" % port in str(err.value)
    assert "after 3 attempts" in str(err.value)
    assert calls == [0.5, 1.0]  # exponential backoff


def test_timeout_retried_for_reads(emu, client):
    client.timeout = 0.3
    emu.timeout_next(1, delay=0.8)
    assert client.get("/key/list")["total_count"] == 0
    assert len(emu.requests_to("/key/list")) == 2


def test_timeout_not_retried_for_non_idempotent_post(emu, client):
    client.timeout = 0.3
    emu.timeout_next(1, delay=0.8)
    with pytest.raises(LiteLLMTimeout) as err:
        client.post("/key/generate", {"key_alias": "t"}, idempotent=False)
    assert "no answer within 0.3s" in str(err.value)
    assert len(emu.requests_to("/key/generate")) == 1


def test_validation_error_detail_list_is_readable(emu, client):
    with pytest.raises(LiteLLMError) as err:
        client.post("/key/generate", {"max_budget": "lots"})
    assert err.value.status == 422
    assert "max_budget: Input should be a valid number" in str(err.value)


def test_parse_both_error_shapes():
    assert parse_error_body(b'{"error": {"message": "boom", "type": "t", "param": "p", "code": "400"}}') == (
        "boom", "t", "p")
    assert parse_error_body(b'{"detail": {"error": "bad"}}')[0] == "bad"
    assert parse_error_body(b'{"error": {"message": "{\'error\': \'No keys found\'}"}}')[0] == "No keys found"
    assert parse_error_body(b"<html>gateway</html>")[0] == "<html>gateway</html>"


@pytest.mark.parametrize("value,ok", [("30s", True), ("30m", True), ("24h", True), ("30d", True), ("2w", True),
                                      ("1mo", True), ("monthly", True), ("0d", False), ("30x", False),
                                      ("d30", False), ("", False), ("-1d", False)])
def test_durations(value, ok):
    assert valid_duration(value) is ok


def test_key_spec_validation_messages():
    problems = validate_key_spec({"key_alias": "", "max_budget": -1, "tpm_limit": -5, "budget_duration": "soon",
                                  "models": ["nope"]}, allowed_models=["qwen2.5-coder"])
    text = "; ".join(problems)
    assert "key_alias must be a non-empty string" in text
    assert "max_budget must be a finite number >= 0" in text
    assert "tpm_limit must be >= 0" in text
    assert "budget_duration 'soon' is not a LiteLLM duration" in text
    assert "unknown model(s) nope" in text


def test_429_honours_retry_after(emu):
    emu.reset()
    slept = []
    client = LiteLLMClient(emu.url, emu.master_key, retries=3, retry_backoff=0.001, sleep=slept.append)
    emu.fail_next(1, status=429, retry_after=7)
    assert client.get("/key/list")["keys"] == []
    assert slept == [7.0]  # the server's delay, not the 0.001 s backoff


def test_retry_after_as_http_date():
    from ansible_collections.llmaas.platform.plugins.module_utils._http import parse_retry_after
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("soon") is None


def test_one_retry_budget_for_the_whole_client(emu):
    emu.reset()
    slept = []
    client = LiteLLMClient(emu.url, emu.master_key, retries=5, retry_backoff=1.0, retry_budget=4.0,
                           sleep=slept.append)
    emu.fail_next(100, status=503)
    for _ in range(3):
        with pytest.raises(LiteLLMError):
            client.get("/key/list")
    # 1 + 2 s fit in the budget, 4 s does not: the later requests are tried once and fail at once
    assert slept == [1.0, 2.0]
    assert len(emu.requests_to("/key/list")) == 3 + 2


def test_non_idempotent_5xx_is_left_to_the_caller(emu, client):
    emu.fail_next(1, status=502)
    with pytest.raises(LiteLLMError) as err:
        client.post("/key/generate", {"key_alias": "t"}, idempotent=False)
    assert err.value.status == 502
    assert len(emu.requests_to("/key/generate")) == 1
