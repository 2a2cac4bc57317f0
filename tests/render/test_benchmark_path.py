"""The benchmark measures the path tenants' traffic takes, and wakes a model scaled to zero before measuring.

- GuideLLM's target is the model's inference route, <llmaas_inference_url>/<model>: the route (HTTPRoute prefix
  /<model>) exists, leads to the model's InferencePool, and the Job's pods may reach the inference gateway while
  the NetworkPolicies keep them off vLLM (tests/network checks the same with network-config-analyzer).
- Before GuideLLM starts, the rendered wake-up script (run here for real with python against a local HTTP server)
  waits for a 200 from /v1/models of the target, through answers the endpoint picker gives while a replica starts,
  and fails within its bound with a message naming the target when none comes.
"""

import http.server
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import pytest
import yaml

from .conftest import ROOT, assert_refused, render

INVENTORY = {
    name: yaml.safe_load((ROOT / "inventories" / name / "group_vars" / "all" / "platform.yml").read_text())
    for name in ("gke_l4", "vast")
}


def _container(tree):
    job = tree.one("Job", "guidellm-benchmark", layer="benchmark")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _env(container):
    return {e["name"]: e.get("value") for e in container["env"]}


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_the_benchmark_targets_the_model_route(rendered, inventory):
    tree = rendered[inventory]
    env = _env(_container(tree))
    model = INVENTORY[inventory]["llmaas_models"][0]["name"]
    target = urlsplit(env["GUIDELLM_TARGET"])
    assert f"{target.scheme}://{target.netloc}" == INVENTORY[inventory]["llmaas_inference_url"].rstrip("/")
    (rule,) = tree.one("HTTPRoute", model, layer="routing")["spec"]["rules"]
    assert rule["matches"][0]["path"] == {"type": "PathPrefix", "value": target.path}
    assert rule["backendRefs"][0]["kind"] == "InferencePool" and rule["backendRefs"][0]["name"] == model
    assert "vllm-" not in env["GUIDELLM_TARGET"], "the Job would bypass the gateway and the picker"


def test_the_wake_up_comes_before_the_measurement(rendered):
    container = _container(rendered["gke_l4"])
    script = container["args"][0]
    assert script.index('python3 -c "$LLMAAS_WAKE" &&') < script.index("guidellm benchmark")
    assert int(_env(container)["LLMAAS_WAKE_SECONDS"]) > 0


class _ColdModel(http.server.BaseHTTPRequestHandler):
    """A model route that answers 503 (as the picker does while no replica is Ready) until it has warmed up."""

    cold_answers = 0
    seen = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).seen.append(self.path)
        if len(type(self).seen) <= type(self).cold_answers:
            self.send_response(503)
            self.send_header("Retry-After", "10")
            self.end_headers()
            return
        body = b'{"object": "list", "data": [{"id": "qwen"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def cold_model():
    _ColdModel.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ColdModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _run_wake(rendered, url, seconds):
    script = _env(_container(rendered["gke_l4"]))["LLMAAS_WAKE"]
    env = {"GUIDELLM_TARGET": url, "LLMAAS_WAKE_SECONDS": str(seconds), "PATH": "/usr/bin:/bin"}
    # sleep is 10 s between attempts in the Job; the test shortens it without touching the logic
    script = script.replace("time.sleep(min(10,", "time.sleep(min(0.2,")
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_wake_up_waits_through_a_cold_start(rendered, cold_model):
    _ColdModel.cold_answers = 3
    url = f"http://127.0.0.1:{cold_model.server_address[1]}/qwen-coder"
    proc = _run_wake(rendered, url, 30)
    assert proc.returncode == 0, proc.stderr
    assert _ColdModel.seen == ["/qwen-coder/v1/models"] * 4
    assert "answered 200" in proc.stdout


def test_the_wake_up_gives_up_within_its_bound(rendered, cold_model):
    _ColdModel.cold_answers = 10_000
    url = f"http://127.0.0.1:{cold_model.server_address[1]}/qwen-coder"
    proc = _run_wake(rendered, url, 2)
    assert proc.returncode == 1
    assert f"{url}/v1/models gave no 200 within 2 s (last: HTTP 503)" in proc.stderr


def test_a_deadline_without_room_for_the_wake_up_is_refused(tmp_path):
    proc = render("vast", tmp_path / "tree", extra_vars={"serving_benchmark_wake_seconds": 1700})
    assert_refused(proc, tmp_path / "tree", ["serving_benchmark_deadline_seconds", "wake_seconds"])
