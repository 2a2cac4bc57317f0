"""The layer action run by ansible-playbook on throwaway templates: its guards and its check/diff behaviour."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]

PLAY = """
- name: Layer action under test
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Deliver
      llmaas.platform.layer:
        name: demo
        wave: 1
        templates: {templates}
        components: {components}
        render_dir: {render_dir}
"""

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: demo\ndata:\n  k: '{value}'\n"


def run(tmp_path, templates, components="[]", extra=()):
    paths = []
    for i, text in enumerate(templates):
        path = tmp_path / f"t{i}.yaml.j2"
        path.write_text(text)
        paths.append(str(path))
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(templates=paths, components=components, render_dir=tmp_path / "out"))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    playbook = str(Path(sys.executable).with_name("ansible-playbook"))
    cmd = [playbook, "-i", "localhost,", "-c", "local", str(play), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("text, message", [
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: demo}\nstringData: {password: hunter2}\n",
     "carries values"),
    (CONFIGMAP.format(name="a", value="1") + "---\n" + CONFIGMAP.format(name="a", value="2"), "defined twice"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n", "not valid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: demo\n", "lacks metadata.name"),
    ("{{ undefined_variable_here }}\n", "failed to render"),
])
def test_guards_stop_the_layer_and_write_nothing(tmp_path, text, message):
    proc = run(tmp_path, [text])
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-2000:]
    assert "hunter2" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


def test_component_without_chart_or_path_is_refused(tmp_path):
    proc = run(tmp_path, [CONFIGMAP.format(name="a", value="1")],
               components='[{"name": "x", "namespace": "x", "repo": "r", "version": "1"}]')
    assert proc.returncode != 0
    assert "needs either chart or path" in proc.stdout


def test_check_and_diff_show_the_change_without_writing(tmp_path):
    proc = run(tmp_path, [CONFIGMAP.format(name="a", value="1")], extra=("--check", "--diff"))
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "+kind: ConfigMap" in proc.stdout and "changed=1" in proc.stdout
    assert not (tmp_path / "out").exists()
    proc = run(tmp_path, [CONFIGMAP.format(name="a", value="1")])
    assert "changed=1" in proc.stdout
    assert (tmp_path / "out/demo/configmap-a.yaml").is_file()
    proc = run(tmp_path, [CONFIGMAP.format(name="a", value="2")], extra=("--check", "--diff"))
    assert "-  k: '1'" in proc.stdout and "+  k: '2'" in proc.stdout
    assert "k: '1'" in (tmp_path / "out/demo/configmap-a.yaml").read_text()
