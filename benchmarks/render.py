#!/usr/bin/env python3
"""Render benchmark: the whole stack for both inventories vs an empty playbook, on the same machine, same run.

Prints median wall times over N repetitions and the ratios. Targets (issue 2): full render <= 3x the empty
playbook; the no-op re-render reports changed=0.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
EMPTY_PLAY = "- name: Empty play\n  hosts: localhost\n  gather_facts: false\n  tasks: []\n"


def run(args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    start = time.perf_counter()
    proc = subprocess.run([str(PLAYBOOK), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-3000:]}")
    changed = re.search(r"changed=(\d+)", proc.stdout)
    return elapsed, int(changed.group(1)) if changed else None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.yml"
        empty.write_text(EMPTY_PLAY)
        baseline = statistics.median(
            run(["-i", "inventories/gke_l4", str(empty)])[0] for _ in range(opts.repeat)
        )
        print(f"empty playbook (gke_l4 inventory): {baseline:6.2f} s  (median of {opts.repeat})")
        worst = 0.0
        for inventory in ("gke_l4", "vast"):
            full, noop, changes = [], [], []
            for i in range(opts.repeat):
                out = Path(tmp) / f"{inventory}-{i}"
                args = ["-i", f"inventories/{inventory}", "playbooks/site.yml", "-e", f"llmaas_render_dir={out}"]
                full.append(run(args)[0])
                seconds, changed = run(args)
                noop.append(seconds)
                changes.append(changed)
            full_s, noop_s = statistics.median(full), statistics.median(noop)
            worst = max(worst, full_s / baseline)
            objects = sum(1 for _ in (Path(tmp) / f"{inventory}-0").rglob("*.yaml"))
            print(f"{inventory:7s} full render: {full_s:6.2f} s  ratio {full_s / baseline:4.2f}x   "
                  f"no-op re-render: {noop_s:6.2f} s  ratio {noop_s / baseline:4.2f}x   "
                  f"changed on no-op: {max(changes)}   files: {objects}")
        verdict = "met" if worst <= 3 else "NOT met"
        print(f"target full render <= 3x empty playbook: {verdict} (worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
