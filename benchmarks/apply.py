#!/usr/bin/env python3
"""Apply benchmark: site.yml in apply mode against the REAL control plane vs `kubectl apply --server-side` of the
same rendered objects, each on a fresh control plane prepared alike (same binaries, nodes, CRDs), same run.

Prints the first apply and the no-op re-apply of both, and the ratios. Target (issue 10): the no-op re-apply of
site.yml within 2x of kubectl's. kubectl is given the objects in layer order, as it has no ordering of its own;
site.yml also renders the templates and waits for the workloads, which kubectl does not.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402,F401 - makes the checkout importable as ansible_collections.llmaas.platform
from ansible_collections.llmaas.platform.plugins.plugin_utils.contract import LAYERS  # noqa: E402
from controlplane.launcher import ControlPlane, build  # noqa: E402

BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"


def ansible(args, env, timeout=1800):
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "ansible-playbook"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    changed = re.findall(r"changed=(\d+)", proc.stdout)
    return elapsed, int(changed[-1]) if changed else None


def objects_by_layer(render_dir):
    """Each layer's objects in the registry's wave order, as apply mode sends them (no components, no render-only
    layer): kubectl has no ordering of its own, and a namespace must exist before what it holds."""
    sys.path.insert(0, str(ROOT / "molecule" / "controlplane" / "filter_plugins"))
    from stack import stack_objects  # the molecule scenarios' own statement of what apply mode sends

    layers = {layer["name"]: [] for layer in sorted(LAYERS, key=lambda item: item["wave"])
              if layer["delivery"] != "render"}
    for entry in stack_objects(str(render_dir)):
        layers[entry["layer"]].append(entry["object"])
    return {name: objs for name, objs in layers.items() if objs}


def kubectl_apply(kubeconfig, layer_files):
    start = time.perf_counter()
    for path in layer_files:
        proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), "apply", "--server-side",
                               "--force-conflicts", "--field-manager=llmaas-platform", "-f", str(path)],
                              capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            sys.exit(f"kubectl apply -f {path} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="gke_l4")
    opts = parser.parse_args()
    bindir = build()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   MOLECULE_PROJECT_DIRECTORY=str(ROOT), TMPDIR=str(tmp))
        inventory = ["-i", f"inventories/{opts.inventory}"]
        render_dir = tmp / "rendered"
        nodes_file = tmp / "nodes.json"
        ansible([*inventory, "tests/controlplane/nodes.yml", "-e", f"controlplane_nodes_file={nodes_file}"], env)
        nodes = json.loads(nodes_file.read_text())
        figures = {}
        for tool in ("site.yml", "kubectl"):
            with ControlPlane(tmp / f"cp-{tool}", bindir, nodes) as plane:
                server = plane.version()
                common = ["-e", f"llmaas_kubeconfig={plane.kubeconfig}", "-e", f"llmaas_render_dir={render_dir}"]
                ansible([*inventory, "molecule/controlplane/prepare.yml", *common], env)  # CRDs, volumes
                if tool == "site.yml":
                    args = [*inventory, "playbooks/site.yml", *common, "-e", "llmaas_delivery=apply",
                            "-e", '{"llmaas_apply_components": false}']  # a boolean, not the text "false"
                    first, _ = ansible(args, env)
                    noop, changed = ansible(args, env)
                    figures[tool] = (first, noop, f"changed={changed}")
                else:
                    files = []
                    for layer, objs in objects_by_layer(render_dir).items():
                        path = tmp / f"{len(files):02d}-{layer}.json"
                        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
                        files.append(path)
                    figures[tool] = (kubectl_apply(plane.kubeconfig, files), kubectl_apply(plane.kubeconfig, files),
                                     f"{sum(len(json.loads(f.read_text())['items']) for f in files)} objects")
        version = subprocess.run([str(KUBECTL), "version", "--client", "-o", "json"], capture_output=True,
                                 text=True, check=True).stdout
        print(f"inventory {opts.inventory}; kube-apiserver {server}; "
              f"kubectl {json.loads(version)['clientVersion']['gitVersion']}")
        for tool, (first, noop, note) in figures.items():
            print(f"{tool:9s} first apply {first:7.2f} s   no-op re-apply {noop:7.2f} s   ({note})")
        ratio_first = figures["site.yml"][0] / figures["kubectl"][0]
        ratio_noop = figures["site.yml"][1] / figures["kubectl"][1]
        print(f"ratio site.yml / kubectl: first apply {ratio_first:.2f}x, no-op re-apply {ratio_noop:.2f}x "
              f"(target <= 2x on the no-op: {'met' if ratio_noop <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
