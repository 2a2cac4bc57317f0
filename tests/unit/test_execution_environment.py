# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml: ansible-builder introspects the collection and writes a build context.

No container engine is needed: `introspect` reads the collection's meta/execution-environment.yml and
`create` only writes the Containerfile and the _build context. ansible-builder missing is a failure, not a skip.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "execution-environment.yml"


def _tool(name):
    """The tool next to the running interpreter (the test venv), else on PATH; fail when absent."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (requirements-test.txt pins it); this test does not skip")
    return found


def _run(cmd, cwd=ROOT):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _requirement_names(lines):
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
            line = line.split(sep, 1)[0]
        names.add(line.strip().lower())
    return names


@pytest.fixture(scope="module")
def collection_tarball():
    """The EE installs the collection from build/llmaas-platform-*.tar.gz (what `make build` writes)."""
    _run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", "build/"])
    tarballs = sorted((ROOT / "build").glob("llmaas-platform-*.tar.gz"))
    assert tarballs, "ansible-galaxy collection build wrote no tarball under build/"
    return tarballs[-1]


def test_definition_pins_match_requirements_txt():
    ee = yaml.safe_load(EE_FILE.read_text())
    assert ee["version"] == 3
    base = ee["images"]["base_image"]["name"]
    assert ":" in base.rsplit("/", 1)[-1] and not base.endswith(":latest"), f"base image must carry a tag: {base}"
    pinned = {
        line.split("==")[0].strip().lower(): line.split("==")[1].split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    core = ee["dependencies"]["ansible_core"]["package_pip"]
    expected = f"ansible=={pinned['ansible']}"
    assert core == expected, f"{core} does not match requirements.txt {expected}"
    runner = ee["dependencies"]["ansible_runner"]["package_pip"]
    assert runner.startswith("ansible-runner=="), f"ansible-runner must be pinned, got {runner}"
    assert ee["dependencies"]["python"] == "requirements.txt"
    assert ee["dependencies"]["galaxy"] == "requirements.yml"


def test_introspect_sanitized_as_documented():
    """The command the issue names, run from the repository root."""
    _run([_tool("ansible-builder"), "introspect", "--sanitize", "."])


def test_introspect_finds_the_collection_python_requirements(tmp_path):
    """Introspect a collections path holding this checkout as llmaas.platform."""
    link = tmp_path / "ansible_collections" / "llmaas" / "platform"
    link.parent.mkdir(parents=True)
    os.symlink(ROOT, link)
    out = _run([_tool("ansible-builder"), "introspect", "--sanitize", str(tmp_path)]).stdout
    data = yaml.safe_load(out.split("---", 1)[1])
    python = _requirement_names(data["python"])
    assert {"kubernetes", "jmespath"} <= python, f"introspected python requirements: {data['python']}"
    for line in data["python"]:
        assert "from collection llmaas.platform" in line, line


def test_create_writes_the_build_context(collection_tarball):
    context = ROOT / "build" / "ee"
    if context.exists():
        shutil.rmtree(context)
    _run([_tool("ansible-builder"), "create", "-f", str(EE_FILE), "--context", str(context),
          "--output-filename", "Containerfile"])
    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    assert (build / "collection" / collection_tarball.name).is_file(), "collection tarball not in the build context"
    assert "/build/collection/llmaas-platform-*.tar.gz" in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible==12.3.0 ansible-runner==' in containerfile
    python = _requirement_names((build / "requirements.txt").read_text().splitlines())
    assert {"kubernetes", "jmespath", "ansible"} <= python, python
    bindep = (build / "bindep.txt").read_text()
    for package in ("git-core", "tar", "gzip"):
        assert package in bindep, f"system dependency {package} missing from bindep.txt:\n{bindep}"
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} >= {"kubernetes.core", "google.cloud"}
