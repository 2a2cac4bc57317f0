"""Render both inventories once per test session and give tests the objects, by layer and kind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ("gke_l4", "vast")


class Tree:
    """A rendered tree: {layer: {file name: object}} plus helpers to find objects."""

    def __init__(self, path):
        self.path = Path(path)
        self.layers = {}
        for layer_dir in sorted(p for p in self.path.iterdir() if p.is_dir()):
            files = {}
            for f in sorted(layer_dir.glob("*.yaml")):
                docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
                assert len(docs) == 1, f"{f} holds {len(docs)} documents, expected one object per file"
                files[f.name] = docs[0]
            self.layers[layer_dir.name] = files

    def objects(self, kind=None, layer=None, name=None, namespace=None):
        found = []
        for layer_name, files in self.layers.items():
            if layer is not None and layer_name != layer:
                continue
            for file_name, obj in files.items():
                if file_name == "kustomization.yaml":
                    continue
                meta = obj.get("metadata", {})
                if kind is not None and obj.get("kind") != kind:
                    continue
                if name is not None and meta.get("name") != name:
                    continue
                if namespace is not None and meta.get("namespace") != namespace:
                    continue
                found.append(obj)
        return found

    def one(self, kind, name, layer=None):
        matches = self.objects(kind=kind, name=name, layer=layer)
        assert len(matches) == 1, f"expected exactly one {kind}/{name}, found {len(matches)}"
        return matches[0]


def render(inventory, render_dir, extra_vars=None, check=False):
    """Run site.yml for an inventory into render_dir; returns the CompletedProcess (output kept for asserts).

    extra_vars values keep their types (they are passed as one JSON document).
    """
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i", str(ROOT / "inventories" / inventory),
        str(ROOT / "playbooks" / "site.yml"),
        "-e", f"llmaas_render_dir={render_dir}",
    ]
    if extra_vars:
        # JSON keeps types: numbers, booleans, lists and dicts reach the play as such
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """{inventory name: Tree} for both inventories, rendered once per session."""
    trees = {}
    for inventory in INVENTORIES:
        out = tmp_path_factory.mktemp(f"rendered-{inventory}")
        proc = render(inventory, out)
        assert proc.returncode == 0, f"rendering {inventory} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        trees[inventory] = Tree(out)
    return trees


def assert_refused(proc, render_dir, fragments, case=""):
    """Bad input: the run failed, its output names every fragment, and nothing at all was written.

    preflight runs every layer's checks before the first layer renders, so a refused run leaves render_dir empty.
    """
    text = proc.stdout + proc.stderr
    label = f"{case}: " if case else ""
    assert proc.returncode != 0, f"{label}bad input was accepted"
    for fragment in fragments:
        assert fragment in text, f"{label}message lacks {fragment!r}:\n{text[-2500:]}"
    render_dir = Path(render_dir)
    written = sorted(str(p.relative_to(render_dir)) for p in render_dir.rglob("*")) if render_dir.exists() else []
    assert not written, f"{label}files were written before validation failed: {written[:5]}"
