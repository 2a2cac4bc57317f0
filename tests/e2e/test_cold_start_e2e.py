"""T4: what a tenant sees while a model scaled to zero starts, through the real LiteLLM proxy on the rendered config.

Behind LiteLLM sits a stand-in for the inference route (a local HTTP server, not the endpoint picker itself) that
behaves as the picker does at zero replicas (ADR 0005): it holds the request, then either a replica came up (200)
or the queue TTL ran out: 503 with the body "request timed out in queue" and no Retry-After (GIE v1.5.0 flow
control answers an evicted request so). The proxy runs the rendered litellm-config ConfigMap as the pod does: its
config.yaml and, beside it, the callback module config.yaml names, with the Deployment's environment. Checked:
- a held request is answered once the model answers: LiteLLM's timeout outlasts the hold;
- a 503 reaches the tenant at once as 503 with Retry-After (never 404, never a hang, not retried: a retry would
  hold the tenant one more queue TTL);
- an upstream Retry-After, when there is one, is the value the tenant gets.
"""

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import MASTER_KEY, Server, free_port, litellm_env, litellm_files, stop, wait_http

pytestmark = pytest.mark.e2e

HOLD_SECONDS = 3


class _ColdRoute(BaseHTTPRequestHandler):
    """Holds every request HOLD_SECONDS, then answers as `outcome` says: warm (200) or ttl (503)."""

    outcome = "warm"
    calls = 0

    def do_POST(self):  # noqa: N802 - http.server API
        type(self).calls += 1
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        time.sleep(HOLD_SECONDS)
        if type(self).outcome in ("ttl", "ttl-hinted"):
            payload = b"request timed out in queue"
            self.send_response(503)
            if type(self).outcome == "ttl-hinted":
                self.send_header("Retry-After", "7")
        else:
            payload = json.dumps({
                "id": "cold-1", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def cold_gateway(rendered_gateway, tmp_path_factory):
    route = ThreadingHTTPServer(("127.0.0.1", free_port()), _ColdRoute)
    threading.Thread(target=route.serve_forever, daemon=True).start()
    tree, config = rendered_gateway
    config = json.loads(json.dumps(config))
    for entry in config["model_list"]:
        entry["litellm_params"]["api_base"] = f"http://127.0.0.1:{route.server_address[1]}/v1"
    workdir = tmp_path_factory.mktemp("litellm-cold")
    config_path = litellm_files(tree, config, workdir)
    port = free_port()
    env = litellm_env(tree)
    litellm = str(Path(sys.executable).with_name("litellm"))
    server = Server("litellm", [litellm, "--config", str(config_path), "--host", "127.0.0.1",
                                "--port", str(port)], workdir / "litellm.log", env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", server, timeout=120)
        yield {"base": f"http://127.0.0.1:{port}", "model": config["model_list"][0]["model_name"],
               "retry_after": env["LLMAAS_RETRY_AFTER_SECONDS"]}
    finally:
        stop(server)
        route.shutdown()


def _chat(gw):
    request = urllib.request.Request(
        f"{gw['base']}/v1/chat/completions",
        data=json.dumps({"model": gw["model"], "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=300) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read()), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}"), time.monotonic() - started


def test_a_held_request_is_answered_once_the_model_is_up(cold_gateway):
    _ColdRoute.outcome, _ColdRoute.calls = "warm", 0
    status, _, body, took = _chat(cold_gateway)
    assert status == 200, body
    assert took >= HOLD_SECONDS and _ColdRoute.calls == 1, "LiteLLM gave up on (or retried) a held request"


def test_a_cold_start_past_the_queue_ttl_reaches_the_tenant_as_503_with_retry_after(cold_gateway):
    _ColdRoute.outcome, _ColdRoute.calls = "ttl", 0
    status, headers, body, took = _chat(cold_gateway)
    assert status == 503, f"the tenant got {status}, not 503: {body}"
    assert body["error"]["code"] == "503"
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    assert retry_after == cold_gateway["retry_after"], headers
    # not retried: one hold, answered at once after it
    assert _ColdRoute.calls == 1, f"LiteLLM sent the request {_ColdRoute.calls} times"
    assert took < HOLD_SECONDS + 30


def test_an_upstream_retry_after_is_what_the_tenant_gets(cold_gateway):
    _ColdRoute.outcome, _ColdRoute.calls = "ttl-hinted", 0
    status, headers, body, _ = _chat(cold_gateway)
    assert status == 503, body
    assert {k.lower(): v for k, v in headers.items()}.get("retry-after") == "7", headers
    assert _ColdRoute.calls == 1
