#!/usr/bin/env python3
"""Render benchmark: the whole stack for both inventories vs an empty playbook, on the same machine, same run.

Prints median wall times over N repetitions and the ratios. Targets (issues 2 and 12): full render <= 3x the
empty playbook; the no-op re-render reports changed=0. With --before DIR (another checkout of this repository, with
its .collections link) the same runs are made from that checkout too, interleaved, so before and after share the
machine's conditions.
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


def run(args, root=ROOT):
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    start = time.perf_counter()
    proc = subprocess.run([str(PLAYBOOK), *args], cwd=root, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-3000:]}")
    changed = re.search(r"changed=(\d+)", proc.stdout)
    return elapsed, int(changed.group(1)) if changed else None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout to measure in the same run")
    opts = parser.parse_args()
    roots = [("after", ROOT)] + ([("before", opts.before.resolve())] if opts.before else [])

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.yml"
        empty.write_text(EMPTY_PLAY)
        # The empty playbook is measured between the renders too, so a busy machine weighs on both sides alike.
        empties = [run(["-i", "inventories/gke_l4", str(empty)])[0] for _ in range(opts.repeat)]
        results = []
        for inventory in ("gke_l4", "vast"):
            timings = {label: {"full": [], "noop": [], "changed": []} for label, _ in roots}
            for i in range(opts.repeat):
                for label, root in roots:
                    out = Path(tmp) / f"{label}-{inventory}-{i}"
                    args = ["-i", f"inventories/{inventory}", "playbooks/site.yml", "-e", f"llmaas_render_dir={out}"]
                    timings[label]["full"].append(run(args, root)[0])
                    seconds, changed = run(args, root)
                    timings[label]["noop"].append(seconds)
                    timings[label]["changed"].append(changed)
                empties.append(run(["-i", "inventories/gke_l4", str(empty)])[0])
            results.append((inventory, timings))
        baseline = statistics.median(empties)
        print(f"empty playbook (gke_l4 inventory): {baseline:6.2f} s  (median of {len(empties)}, interleaved)")
        worst = 0.0
        for inventory, timings in results:
            for label, _ in roots:
                full_s = statistics.median(timings[label]["full"])
                noop_s = statistics.median(timings[label]["noop"])
                if label == "after":
                    worst = max(worst, full_s / baseline)
                objects = sum(1 for _ in (Path(tmp) / f"{label}-{inventory}-0").rglob("*.yaml"))
                print(f"{label:6s} {inventory:7s} full render: {full_s:6.2f} s  ratio {full_s / baseline:5.2f}x   "
                      f"no-op re-render: {noop_s:6.2f} s  ratio {noop_s / baseline:5.2f}x   "
                      f"changed on no-op: {max(timings[label]['changed'])}   files: {objects}")
        verdict = "met" if worst <= 3 else "NOT met"
        print(f"target full render <= 3x empty playbook: {verdict} (worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
