"""Gateway overhead: latency through the real LiteLLM proxy vs. directly against the model server.

Starts llama-cpp-python's OpenAI server (gemma3-270m on CPU) and LiteLLM with the config the litellm_gateway
role renders for gke_l4 (api_base rewritten to the local server, master key from the environment, no database:
the same setup as tests/e2e), then sends the same prompts with small max_tokens to both at concurrency 1 and 8
and prints p50/p95 and the added milliseconds.

With --backend stub the model server is replaced by an instant OpenAI-compatible stub in its own process: the
difference then is LiteLLM's own cost per request, without two CPU cores shared with llama.cpp blurring it.

Usage: LLMAAS_MODEL_PYTHON=/path/to/model-venv/bin/python python benchmarks/gateway_overhead.py [--requests N]
       python benchmarks/gateway_overhead.py --backend stub
"""

import argparse
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import conftest as _collection  # noqa: E402,F401  (makes ansible_collections.llmaas.platform importable)
from e2e import conftest as e2e  # noqa: E402

PROMPTS = [f"Write a one-line Python comment about the number {i}." for i in range(16)]


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run(url, model, headers, concurrency, total, max_tokens, overheads):
    def one(i):
        body = {"model": model, "max_tokens": max_tokens, "temperature": 0,
                "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]}
        start = time.perf_counter()
        resp = requests.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=120)
        elapsed = (time.perf_counter() - start) * 1000
        resp.raise_for_status()
        overheads.append(float(resp.headers.get("x-litellm-overhead-duration-ms", "nan")))
        return elapsed

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(min(4, total))))  # warm-up (caches, connection pools)
        return list(pool.map(one, range(total)))


class _InstantModel(BaseHTTPRequestHandler):
    """A stub OpenAI-compatible model: answers every chat completion at once with a fixed two-token reply."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment with TCP_NODELAY: otherwise Nagle's algorithm and the client's
    # delayed ACK add ~40 ms per request on a kept-alive connection, which would be charged to LiteLLM.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def _send(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self._send({"id": "stub", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "ok ok"}}],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}})

    def do_GET(self):  # noqa: N802
        self._send({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    def log_message(self, *args):
        pass


def _serve_stub(port):
    ThreadingHTTPServer(("127.0.0.1", port), _InstantModel).serve_forever()


def _start_stub():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = multiprocessing.Process(target=_serve_stub, args=(port,), daemon=True)
    proc.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc, f"http://127.0.0.1:{port}"
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise TimeoutError("the stub model did not start within 10 s")


class _Factory:
    """Minimal stand-in for pytest's tmp_path_factory so the e2e fixtures' logic is reused as-is."""

    def __init__(self, base):
        self.base = Path(base)

    def mktemp(self, name):
        path = self.base / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per mode and concurrency")
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--backend", choices=["model", "stub"], default="model",
                        help="model: llama-cpp-python with gemma3 on CPU; stub: an instant stub (gateway cost only)")
    parser.add_argument("--without-guardrails", action="store_true",
                        help="drop the rendered guardrails block, to attribute the overhead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        factory = _Factory(tmp)
        rendered = e2e.rendered_gateway.__wrapped__(factory)
        print(f"guardrails in the rendered config: {[g['guardrail_name'] for g in rendered[1].get('guardrails', [])]}"
              f"{' (dropped for this run)' if args.without_guardrails else ''}")
        if args.without_guardrails:
            rendered[1].pop("guardrails", None)
        if args.backend == "stub":
            stub, server = _start_stub()
            server_gen = iter(())
            print(f"backend: instant stub model at {server} (no tokens are generated)")
        else:
            stub = None
            gguf = e2e.gguf.__wrapped__()
            server_gen = e2e.model_server.__wrapped__(gguf, rendered, factory)
            server = next(server_gen)
            print("backend: llama-cpp-python, gemma3-270m Q4_K_M on CPU")
        gateway_gen = e2e.gateway.__wrapped__(server, rendered, factory)
        gateway = next(gateway_gen)
        try:
            _, config = rendered
            public = next(e["model_name"] for e in config["model_list"] if e["model_name"].endswith("-chat"))
            served = "stub" if args.backend == "stub" else next(
                e["litellm_params"]["model"].split("/", 1)[1] for e in config["model_list"])
            auth = {"Authorization": f"Bearer {e2e.MASTER_KEY}"}
            print(f"{'concurrency':>11} {'path':>8} {'p50 ms':>8} {'p95 ms':>8}")
            for concurrency in (1, 8):
                direct = run(server, served, {}, concurrency, args.requests, args.max_tokens, [])
                reported = []
                via = run(gateway, public, auth, concurrency, args.requests, args.max_tokens, reported)
                for name, values in (("direct", direct), ("litellm", via)):
                    p50, p95 = statistics.median(values), percentile(values, 95)
                    print(f"{concurrency:>11} {name:>8} {p50:>8.1f} {p95:>8.1f}")
                print(f"{concurrency:>11} {'added':>8} {statistics.median(via) - statistics.median(direct):>8.1f} "
                      f"{percentile(via, 95) - percentile(direct, 95):>8.1f}")
                reported = reported[-args.requests:]
                print(f"{concurrency:>11} {'self-rep':>8} {statistics.median(reported):>8.1f} "
                      f"{percentile(reported, 95):>8.1f}   (LiteLLM's x-litellm-overhead-duration-ms)")
        finally:
            for gen in (gateway_gen, server_gen):
                next(gen, None)
            if stub is not None:
                stub.terminate()


if __name__ == "__main__":
    main()
