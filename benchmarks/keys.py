# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: reconcile 1,000 LiteLLM keys with litellm_keys vs a per-key, uri-style loop.

Everything runs against the LiteLLM management-API EMULATOR (tests/emulators/litellm_api.py), not a real
proxy: figures measure the modules' request pattern, not LiteLLM's database.

  python benchmarks/keys.py [--keys 1000] [--playbook-sample 50]

Measured:
1. litellm_keys first reconcile (1,000 creates) and no-op reconcile: wall time, HTTP requests.
2. a per-key loop doing what an ansible.builtin.uri loop does: one request per key to look it up
   (GET /key/list?key_alias=...) plus one create when missing, each through ansible's fetch/open_url with a
   fresh connection and SSL context, as uri does, but without Ansible's per-item task overhead.
3. optionally a real ansible-playbook run of an ansible.builtin.uri loop over a sample of keys (no-op
   lookups), extrapolated linearly to the full count (stated as an extrapolation).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402,F401  (makes ansible_collections.llmaas.platform importable)
from emulators.litellm_api import BANNER, LiteLLMEmulator, run_module  # noqa: E402

from ansible.module_utils.urls import open_url  # noqa: E402
from ansible_collections.llmaas.platform.plugins.modules import litellm_keys  # noqa: E402


def specs(n):
    return [dict(key_alias="tenant-%04d" % i, team_id="team-%d" % (i % 10), models=["qwen2.5-coder"],
                 max_budget=10.0, budget_duration="30d", rpm_limit=60) for i in range(n)]


def timed(emu, fn):
    before = emu.request_count
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, emu.request_count - before, result


def bulk(emu, keys):
    args = dict(api_url=emu.url, master_key=emu.master_key, keys=keys)
    first = timed(emu, lambda: run_module(litellm_keys, args))
    noop = timed(emu, lambda: run_module(litellm_keys, args))
    assert first[2]["summary"]["create"] == len(keys), first[2].get("msg")
    assert noop[2]["changed"] is False
    return first, noop


def uri_style(emu, keys):
    headers = {"Authorization": "Bearer " + emu.master_key, "Content-Type": "application/json"}

    def loop():
        created = 0
        for spec in keys:
            resp = open_url(emu.url + "/key/list?return_full_object=true&key_alias=" + spec["key_alias"],
                            headers=headers, method="GET")
            if not json.loads(resp.read())["keys"]:
                body = dict(spec, metadata={"managed-by": "llmaas.platform"})
                open_url(emu.url + "/key/generate", data=json.dumps(body), headers=headers, method="POST").read()
                created += 1
        return created

    first = timed(emu, loop)
    noop = timed(emu, loop)
    assert first[2] == len(keys) and noop[2] == 0
    return first, noop


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Look every key up (one uri call per key)
      ansible.builtin.uri:
        url: "{{ api_url }}/key/list?return_full_object=true&key_alias={{ item }}"
        headers:
          Authorization: "Bearer {{ master_key }}"
      loop: "{{ aliases }}"
"""


def playbook_sample(emu, keys, n):
    sample = [k["key_alias"] for k in keys[:n]]
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp, "uri.yml")
        book.write_text(PLAYBOOK)
        extra = Path(tmp, "vars.json")
        extra.write_text(json.dumps(dict(api_url=emu.url, master_key=emu.master_key, aliases=sample)))
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               str(book), "-e", "@" + str(extra)]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        before = emu.request_count
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603  fixed argv
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return None, proc.stdout[-2000:] + proc.stderr[-2000:]
    return (elapsed, emu.request_count - before), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--playbook-sample", type=int, default=50, help="0 skips the real ansible-playbook loop")
    args = parser.parse_args()
    keys = specs(args.keys)
    print("%s benchmark: %d keys, python %s, %s, %d CPUs, %s" % (
        BANNER, args.keys, platform.python_version(), platform.machine(), os.cpu_count(),
        time.strftime("%Y-%m-%d %H:%M:%S")))

    with LiteLLMEmulator() as emu:
        (b_first, b_noop) = bulk(emu, keys)
    with LiteLLMEmulator() as emu:
        (u_first, u_noop) = uri_style(emu, keys)
        pb, pb_error = (None, None)
        if args.playbook_sample:
            pb, pb_error = playbook_sample(emu, keys, args.playbook_sample)

    rows = [
        ("litellm_keys first reconcile", b_first[0], b_first[1]),
        ("litellm_keys no-op reconcile", b_noop[0], b_noop[1]),
        ("per-key uri-style loop, first", u_first[0], u_first[1]),
        ("per-key uri-style loop, no-op", u_noop[0], u_noop[1]),
    ]
    if pb:
        factor = args.keys / float(args.playbook_sample)
        rows.append(("ansible-playbook uri loop, no-op, %d keys (measured)" % args.playbook_sample, pb[0], pb[1]))
        rows.append(("ansible-playbook uri loop, no-op, %d keys (extrapolated x%.0f)" % (args.keys, factor),
                     pb[0] * factor, int(pb[1] * factor)))
    print("%s %-62s %10s %10s" % (BANNER, "run", "wall s", "requests"))
    for name, wall, count in rows:
        print("%s %-62s %10.3f %10d" % (BANNER, name, wall, count))
    print("%s ratio no-op: uri-style loop / litellm_keys = %.1fx (wall), %.0fx (requests)" % (
        BANNER, u_noop[0] / b_noop[0], u_noop[1] / float(b_noop[1])))
    if pb:
        print("%s ratio no-op: ansible-playbook uri loop (extrapolated) / litellm_keys = %.0fx (wall)" % (
            BANNER, pb[0] * args.keys / args.playbook_sample / b_noop[0]))
    elif pb_error:
        print("%s ansible-playbook sample failed: %s" % (BANNER, pb_error))
    ok = b_noop[0] <= 5.0 and u_noop[0] / b_noop[0] >= 20
    print("%s targets (no-op <= 5 s, >= 20x faster than the uri-style loop): %s" % (BANNER, "met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
