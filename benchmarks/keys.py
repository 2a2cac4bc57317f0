# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: 1,000 LiteLLM keys with litellm_keys: first reconcile, no-op, convergence after each fault,
beside a per-key GET /key/info loop and the bulk listing in pages of 100, all in one run.

Everything runs against the LiteLLM management-API EMULATOR (tests/emulators/litellm_api.py), not a real
proxy: figures measure the module's request pattern and delivery (fsync'd 0600 files), not LiteLLM's database.

  python benchmarks/keys.py [--keys 1000]

After each fault the script counts, from the emulator's state and the delivered files:
duplicates = keys on the gateway beyond one per alias; lost = aliases whose file does not hold their key.
"""

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402,F401  (makes ansible_collections.llmaas.platform importable)
from emulators.litellm_api import BANNER, LiteLLMEmulator, run_module  # noqa: E402
from litellm.proxy._types import hash_token  # noqa: E402

from ansible_collections.llmaas.platform.plugins.module_utils.litellm import LiteLLMClient, list_all_keys  # noqa: E402
from ansible_collections.llmaas.platform.plugins.modules import litellm_keys  # noqa: E402


def specs(n):
    return [dict(key_alias="tenant-%04d" % i, team_id="team-%d" % (i % 10), models=["qwen2.5-coder"],
                 max_budget=10.0, budget_duration="30d", rpm_limit=60) for i in range(n)]


def audit(emu, out, keys):
    aliases = [k["key_alias"] for k in keys]
    on_gateway = [row["key_alias"] for row in emu.keys.values()]
    duplicates = len(on_gateway) - len(set(on_gateway))
    lost = 0
    for alias in aliases:
        path = out / alias / "key"
        token = hash_token(path.read_text().strip()) if path.exists() else None
        if token not in emu.keys or emu.keys[token]["key_alias"] != alias:
            lost += 1
    return duplicates, lost


def reconcile(emu, out, keys, **extra):
    args = dict(api_url=emu.url, master_key=emu.master_key, keys=keys, delivery=dict(path=str(out)), **extra)
    before = emu.request_count
    start = time.perf_counter()
    result = run_module(litellm_keys, args)
    return time.perf_counter() - start, emu.request_count - before, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    keys = specs(args.keys)
    n = args.keys
    print("%s benchmark: %d keys, python %s, %s, %d CPUs, %s" % (
        BANNER, n, platform.python_version(), platform.machine(), os.cpu_count(), time.strftime("%Y-%m-%d %H:%M:%S")))
    rows = []
    out = Path(tempfile.mkdtemp(prefix="llmaas-keys-bench-"))
    try:
        with LiteLLMEmulator() as emu:
            def record(name, measured, fault_run=None):
                wall, requests, result = measured
                assert not result.get("failed"), result.get("msg")
                dup, lost = audit(emu, out, keys)
                rows.append((name, wall, requests, dup, lost, fault_run))
                print("%s   done: %s (%.1f s)" % (BANNER, name, wall), flush=True)

            record("first reconcile (%d creates)" % n, reconcile(emu, out, keys))
            record("no-op reconcile", reconcile(emu, out, keys))

            # 1. gateway down after half the creations (connections refused), then back with its state
            shutil.rmtree(out)
            emu.reset()
            emu.down_after_creations(n // 2)
            failed = reconcile(emu, out, keys, retries=3, retry_backoff=1.0)
            assert failed[2].get("failed")
            emu.come_up()
            record("converge after gateway down at %d creations" % (n // 2), reconcile(emu, out, keys), failed)

            # 2. gateway restarted without its database: every delivered value is dead
            emu.go_down()
            emu.come_up(wipe=True)
            record("converge after gateway restart without its state", reconcile(emu, out, keys))

            # 3. 5xx on /key/generate (3 in a row) during a fresh reconcile: absorbed inside the same run
            shutil.rmtree(out)
            emu.reset()
            emu.fault_on("/key/generate", kind="5xx", count=3, status=503)
            record("reconcile through 3 x 503 on /key/generate", reconcile(emu, out, keys, retry_backoff=0.01))

            # 4. timeouts on /key/generate, applied by the gateway, answers lost (5 of them)
            shutil.rmtree(out)
            emu.reset()
            emu.fault_on("/key/generate", kind="timeout", count=5, delay=0.6, applied=True)
            record("reconcile through 5 lost /key/generate answers",
                   reconcile(emu, out, keys, timeout=0.3, retry_backoff=0.01))

            # 5. 5xx then timeouts on the listing: the run stops before any write, the next one converges
            emu.fault_on("/key/list", kind="5xx", count=10, status=502)
            failed = reconcile(emu, out, keys, retries=2, retry_backoff=0.01)
            assert failed[2].get("failed")
            emu.clear_faults()
            record("converge after the listing failed (3 x 502, retries=2)", reconcile(emu, out, keys), failed)

            # 6. the state a controller killed between create and promote leaves (real SIGKILL: integration test)
            for spec in keys[: n // 10]:
                folder = out / spec["key_alias"]
                (folder / "key").rename(folder / "key.pending")
            record("converge after a kill left %d values pending" % (n // 10), reconcile(emu, out, keys))

            # beside them, measured the same way: one GET /key/info per key vs the listing in pages of 100
            client = LiteLLMClient(emu.url, emu.master_key)
            tokens = list(emu.keys)
            before = emu.request_count
            start = time.perf_counter()
            for token in tokens:
                client.get("/key/info", params={"key": token})
            rows.append(("per-key loop: GET /key/info x %d (terraform-provider-litellm refresh)" % len(tokens),
                         time.perf_counter() - start, emu.request_count - before, None, None, None))
            before = emu.request_count
            start = time.perf_counter()
            listed = list_all_keys(client)
            assert len(listed) == len(tokens)
            rows.append(("bulk listing: GET /key/list pages of 100 (litellm-as-code)", time.perf_counter() - start,
                         emu.request_count - before, None, None, None))
    finally:
        shutil.rmtree(out, ignore_errors=True)

    print("%s %-72s %8s %9s %5s %5s" % (BANNER, "run", "wall s", "requests", "dup", "lost"))
    for name, wall, requests, dup, lost, fault_run in rows:
        if fault_run is not None:
            print("%s %-72s %8.3f %9d %5s %5s" % (BANNER, "  (the faulty run: failed, as it should)", fault_run[0],
                                                  fault_run[1], "-", "-"))
        print("%s %-72s %8.3f %9d %5s %5s" % (BANNER, name, wall, requests, "-" if dup is None else dup,
                                              "-" if lost is None else lost))
    bad = [r for r in rows if r[3] or r[4]]
    print("%s duplicates and lost keys after every fault: %s" % (BANNER, "0" if not bad else "NOT 0: %s" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
