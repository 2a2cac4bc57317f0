"""Every reader takes the contract's values (issue 12): switches given as text on the command line, a play that runs
only some layers, and teardown when the cluster cannot be reached."""

import copy
import filecmp
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.llmaas.platform.plugins.plugin_utils import contract

from .conftest import ROOT, assert_refused, render

GKE = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())


def run(playbook, *args, inventory="gke_l4", timeout=300):
    """ansible-playbook with arguments as a person types them (-e name=value reaches the play as text); inventory: a
    name under inventories/ or a path."""
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories" / inventory),
           str(playbook), *args]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def play(tmp_path, tasks, name="play"):
    """A playbook of the collection's roles and tasks, with the pinned versions site.yml reads."""
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump([{
        "name": name, "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Read the pinned versions",
                   "ansible.builtin.include_vars": {"file": str(ROOT / "playbooks/vars/versions.yml")}}] + tasks,
    }], sort_keys=False))
    return path


def role(name):
    return {"name": f"Layer {name}", "ansible.builtin.import_role": {"name": f"llmaas.platform.{name}"}}


# --- A: boolean switches given as text -----------------------------------------------------------------------

def test_text_switches_on_the_command_line_reach_the_contract_typed(tmp_path):
    checks = play(tmp_path, [role("preflight"), {
        "name": "The contract carries booleans and integers, not the text",
        "ansible.builtin.assert": {"quiet": True, "that": [
            "llmaas_contract.apply_components is sameas false",
            "llmaas_contract.teardown.delete_volumes is sameas true",
            "llmaas_contract.teardown.wait_timeout == 60",
            "llmaas_contract.teardown.wait_timeout is number",
        ]}}])
    proc = run(checks, "-e", f"llmaas_render_dir={tmp_path / 'tree'}", "-e", "llmaas_apply_components=false",
               "-e", "llmaas_teardown_delete_volumes=yes", "-e", "llmaas_teardown_wait_timeout=60")
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.parametrize("switch, value", [
    ("llmaas_apply_components", "maybe"),
    ("llmaas_teardown_delete_volumes", "flase"),
    ("llmaas_teardown_wait_timeout", "5m"),
])
def test_a_switch_that_is_not_its_type_is_refused_before_anything_is_written(tmp_path, switch, value):
    out = tmp_path / "tree"
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories/gke_l4"),
           str(ROOT / "playbooks/site.yml"), "-e", f"llmaas_render_dir={out}", "-e", f"{switch}={value}"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert_refused(proc, out, [f"{switch}: got {value!r}"], switch)


LAYER_WITH_A_CHART = {
    "name": "Deliver a layer whose one component is a chart",
    "llmaas.platform.layer": {"name": "demo", "wave": 1, "components": [
        {"name": "demo-chart", "namespace": "demo", "repo": "https://charts.invalid", "chart": "demo",
         "version": "1.0.0"}]},
    "register": "delivered",
}
SKIPPED = {"name": "The component was skipped, not installed",
           "ansible.builtin.assert": {"quiet": True, "that": [
               "delivered.components | map(attribute='status') | list == "
               "['skipped (llmaas_apply_components is false)']"]}}


@pytest.mark.parametrize("with_preflight", [True, False], ids=["contract", "layer-outside-registry"])
def test_apply_components_false_as_text_installs_no_chart(tmp_path, closed_port, with_preflight):
    """Apply mode with -e llmaas_apply_components=false: helm is never called (it would fail on the closed port)."""
    tasks = ([role("preflight")] if with_preflight else []) + [LAYER_WITH_A_CHART, SKIPPED]
    kubeconfig = write_kubeconfig(tmp_path, closed_port)
    proc = run(play(tmp_path, tasks), "-e", "llmaas_delivery=apply", "-e", "llmaas_apply_components=false",
               "-e", f"llmaas_kubeconfig={kubeconfig}", "-e", f"llmaas_render_dir={tmp_path / 'tree'}")
    assert proc.returncode == 0, proc.stdout[-3000:]


# --- B: a play that runs only some layers keeps every layer's Application ------------------------------------

def _enabled_layers(inventory):
    shared = {k: v for k, v in copy.deepcopy(inventory).items() if k.startswith("llmaas_")}
    found = contract.build(shared, role_vars={}, layers=[])
    return [la["name"] for la in found["layers"] if la["enabled"] and la["name"] != "argocd"]


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "tree"
    proc = render("gke_l4", out)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return out


@pytest.mark.parametrize("roles", [
    ("preflight", "vllm_serving", "gitops"),
    ("platform_base", "gitops"),  # without preflight: each layer checks itself
    ("platform_security", "litellm_gateway", "gitops"),  # their defaults read switches, Ansible's check templates them
    ("gitops",),
], ids="+".join)
def test_a_play_of_some_layers_renders_the_whole_app_of_apps(tmp_path, full_tree, roles):
    out = tmp_path / "tree"
    proc = run(play(tmp_path, [role(r) for r in roles]), "-e", f"llmaas_render_dir={out}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    apps = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in (out / "argocd").glob("application-*.yaml")}
    cluster = GKE["llmaas_cluster_name"]
    assert apps == {f"{cluster}-root"} | {f"{cluster}-{name}" for name in _enabled_layers(GKE)}
    files = sorted(p.name for p in (full_tree / "argocd").iterdir())
    assert files == sorted(p.name for p in (out / "argocd").iterdir())
    _, mismatch, errors = filecmp.cmpfiles(full_tree / "argocd", out / "argocd", files, shallow=False)
    assert not mismatch and not errors, f"the app-of-apps differs from the full render: {mismatch or errors}"


def test_a_play_of_some_layers_leaves_the_full_tree_as_it_was(tmp_path, full_tree):
    tree = tmp_path / "tree"
    shutil.copytree(full_tree, tree)
    proc = run(play(tmp_path, [role("preflight"), role("platform_base"), role("gitops")]),
               "-e", f"llmaas_render_dir={tree}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "changed=0" in proc.stdout, proc.stdout[-2000:]
    before = sorted(p.relative_to(full_tree).as_posix() for p in full_tree.rglob("*") if p.is_file())
    assert before == sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(full_tree, tree, before, shallow=False)
    assert not mismatch and not errors, mismatch or errors


def test_a_partial_features_mapping_on_the_command_line_is_completed_by_the_contract(tmp_path):
    """-e replaces the inventory's llmaas_features; every reader takes the contract's completed switches."""
    out = tmp_path / "tree"
    proc = run(ROOT / "playbooks/site.yml", "-e", f"llmaas_render_dir={out}",
               "-e", '{"llmaas_features": {"kueue": false}}')
    assert proc.returncode == 0, proc.stdout[-3000:]
    switches = contract.role_spec("preflight", "inventory")["llmaas_features"]["options"]
    assert not list(out.glob("*/*kueue*")) and not list(out.glob("*/*queue-*"))
    assert (out / "serving" / "scaledobject-vllm-qwen-coder.yaml").is_file() == switches["keda"]["default"]
    assert (out / "benchmark").is_dir() == switches["benchmark"]["default"]


def test_a_layer_switched_off_removes_what_it_wrote_before(tmp_path, full_tree):
    tree = tmp_path / "tree"
    shutil.copytree(full_tree, tree)
    assert list((tree / "benchmark").iterdir())
    features = dict(GKE["llmaas_features"], benchmark=False, kyverno=False)
    proc = run(ROOT / "playbooks/site.yml", "-e", f"llmaas_render_dir={tree}",
               "-e", yaml.safe_dump({"llmaas_features": features}, default_flow_style=True).strip())
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert list((tree / "benchmark").iterdir()) == [], "the benchmark layer's files of the earlier run stay"
    assert not list((tree / "security").glob("*kyverno*")) + list((tree / "security").glob("clusterpolicy-*")), \
        "the Kyverno chart and policies stay"
    assert not (tree / "argocd" / f"application-{GKE['llmaas_cluster_name']}-benchmark.yaml").exists()


# --- D: a default the inventory leaves out is the default every reader sees --------------------------------

def _defaults(value, option, keep):
    """value with each setting that has a spec default removed (keep=False) or spelled out (keep=True)."""
    options = option.get("options")
    if isinstance(value, list) and options:
        return [_defaults(item, option, keep) for item in value]
    if not (isinstance(value, dict) and options):
        return value
    out = {}
    for key, sub in options.items():
        if key in value:
            if keep or "default" not in sub or value[key] != sub["default"]:
                out[key] = _defaults(value[key], sub, keep)
        elif keep and "default" in sub:
            out[key] = sub["default"]
    return dict(out, **{k: v for k, v in value.items() if k not in options})


def _files(tree):
    return sorted(p.relative_to(tree).as_posix() for p in Path(tree).rglob("*") if p.is_file())


@pytest.mark.parametrize("keep", [False, True], ids=["defaults-left-out", "defaults-spelled-out"])
@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_an_inventory_renders_the_same_with_its_defaults_left_out_or_spelled_out(tmp_path, rendered, inventory,
                                                                                 keep):
    """Each default of the preflight spec (llmaas_secrets.store, llmaas_gpu.time_slicing, a model's
    gpu_memory_utilization, llmaas_delivery...) is what the layers render with when the inventory omits it."""
    spec = contract.role_spec("preflight", "inventory")
    source = ROOT / "inventories" / inventory
    copy_dir = tmp_path / inventory
    shutil.copytree(source, copy_dir)
    platform = copy_dir / "group_vars/all/platform.yml"
    values = yaml.safe_load(platform.read_text())
    changed = {}
    for name, value in values.items():
        option = spec.get(name, {})
        if not keep and "default" in option and value == option["default"]:
            continue
        changed[name] = _defaults(value, option, keep)
    for name, option in spec.items():
        if keep and name not in changed and "default" in option:
            changed[name] = option["default"]
    assert changed != values, "the inventory has no default to leave out or spell out"
    platform.write_text(yaml.safe_dump(changed, sort_keys=False))
    out = tmp_path / "tree"
    proc = run(ROOT / "playbooks/site.yml", "-e", f"llmaas_render_dir={out}", inventory=copy_dir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    expected = rendered[inventory].path
    assert _files(out) == _files(expected)
    _, mismatch, errors = filecmp.cmpfiles(expected, out, _files(expected), shallow=False)
    assert not mismatch and not errors, f"files differ from the inventory as written: {mismatch or errors}"


# --- C: teardown that cannot reach the cluster removes nothing and says so, in bounded time ------------------

@pytest.fixture
def closed_port():
    """A local port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (as a firewalled or hung API server does)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the kernel completes the handshake; nobody reads or writes
    yield sock.getsockname()[1]
    sock.close()


def write_kubeconfig(tmp_path, port):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-credential"}}],
    }))
    return path


@pytest.mark.parametrize("endpoint", ["closed_port", "silent_port"])
def test_teardown_that_cannot_reach_the_cluster_fails_and_removes_nothing(tmp_path, request, endpoint):
    kubeconfig = write_kubeconfig(tmp_path, request.getfixturevalue(endpoint))
    started = time.monotonic()
    # the switches as text, as a person types them: teardown reads the contract's typed values
    proc = run(ROOT / "playbooks/teardown.yml", "-e", f"llmaas_render_dir={tmp_path / 'tree'}",
               "-e", f"llmaas_kubeconfig={kubeconfig}", "-e", "llmaas_apply_components=false",
               "-e", "llmaas_teardown_delete_volumes=false", "-e", "llmaas_teardown_connect_timeout=5", timeout=240)
    elapsed = time.monotonic() - started
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-3000:]
    assert f"teardown cannot reach the cluster (llmaas_kubeconfig {kubeconfig}" in text, text[-3000:]
    assert "Nothing was removed." in text
    assert elapsed < 120, f"teardown took {elapsed:.0f}s to give up"
    removal = text[text.index("PLAY [Remove the stack"):]
    for task in ("Remove each layer's objects", "Uninstall each layer's Helm releases", "Remove the namespaces",
                 "Report the teardown"):
        assert f"TASK [{task}" not in removal, f"{task} ran against a cluster that never answered"
    assert "removed:" not in removal
