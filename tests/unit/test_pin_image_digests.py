"""tools/pin_image_digests.py against the OCI registry EMULATOR (tests/emulators/oci_registry.py): every image of
the real versions.yml resolved through the token flow, written as tag@digest with nothing else touched, a no-op
second run, a moved tag reported by --check, and one unresolvable image writing nothing."""

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from emulators.oci_registry import OciRegistry

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("pin_image_digests", ROOT / "tools" / "pin_image_digests.py")
pin = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pin)
IMAGES = yaml.safe_load((ROOT / "playbooks/vars/versions.yml").read_text())["llmaas_images"]


@pytest.fixture
def registry():
    with OciRegistry() as reg:
        yield reg


@pytest.fixture
def versions(tmp_path):
    path = tmp_path / "versions.yml"
    path.write_text((ROOT / "playbooks/vars/versions.yml").read_text())
    return path


def _args(registry, versions, *extra):
    registries = sorted({pin.parse(ref)[0] for ref in IMAGES.values()})
    return ["--file", str(versions), *(f"--mirror={r}={registry.url}" for r in registries), *extra]


def _push_all(registry):
    digests = {}
    for key, ref in IMAGES.items():
        _, repository, tag, _ = pin.parse(ref)
        digests[key] = registry.push(f"{repository}:{tag}")
    return digests


def test_references_parse_as_a_pull_does():
    assert pin.parse("docker.io/library/redis:7.4.6-alpine") == ("docker.io", "library/redis", "7.4.6-alpine", None)
    assert pin.parse("busybox:1.37.0") == ("docker.io", "library/busybox", "1.37.0", None)
    assert pin.parse("ghcr.io/a/b:v1@sha256:" + "0" * 64)[3] == "sha256:" + "0" * 64
    assert pin.parse("localhost:5000/x:1")[:3] == ("localhost:5000", "x", "1")
    with pytest.raises(ValueError, match="no tag"):
        pin.parse("ghcr.io/a/b")


def test_every_image_is_pinned_and_nothing_else_changes(registry, versions, capsys):
    before = versions.read_text()
    digests = _push_all(registry)
    assert pin.main(_args(registry, versions)) == 0
    after = versions.read_text()
    pinned = yaml.safe_load(after)["llmaas_images"]
    assert pinned == {key: f"{IMAGES[key]}@{digests[key]}" for key in IMAGES}
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == len(IMAGES), "only the image lines may change"
    assert f"{len(IMAGES)} of {len(IMAGES)} images updated" in capsys.readouterr().out
    # every request after the first per repository carried a token the emulator issued for that repository
    assert ("GET", "/token") in registry.requests

    # a second run is a no-op, and --check agrees
    assert pin.main(_args(registry, versions)) == 0
    assert versions.read_text() == after
    assert pin.main(_args(registry, versions, "--check")) == 0


def test_a_moved_tag_is_reported_by_check_and_written_by_a_run(registry, versions, capsys):
    _push_all(registry)
    assert pin.main(_args(registry, versions)) == 0
    pinned = versions.read_text()
    _, repository, tag, _ = pin.parse(IMAGES["redis"])
    moved = registry.push(f"{repository}:{tag}")  # the tag now points at another index
    capsys.readouterr()
    assert pin.main(_args(registry, versions, "--check")) == 1
    assert versions.read_text() == pinned, "--check wrote"
    assert f"llmaas_images.redis: {IMAGES['redis']}@" in capsys.readouterr().out
    assert pin.main(_args(registry, versions)) == 0
    assert yaml.safe_load(versions.read_text())["llmaas_images"]["redis"] == f"{IMAGES['redis']}@{moved}"


def test_one_unresolvable_image_writes_nothing_and_names_it(registry, versions, capsys):
    _push_all(registry)
    _, repository, tag, _ = pin.parse(IMAGES["dex"])
    del registry.manifests[(repository, tag)]
    before = versions.read_text()
    assert pin.main(_args(registry, versions)) == 2
    assert versions.read_text() == before
    err = capsys.readouterr().err
    assert "llmaas_images.dex:" in err and "answered 404" in err and "nothing written" in err


def test_an_unreachable_registry_fails_in_one_line_per_image(versions, capsys):
    args = ["--file", str(versions)] + [f"--mirror={r}=http://127.0.0.1:9" for r in
                                        sorted({pin.parse(ref)[0] for ref in IMAGES.values()})]
    assert pin.main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(IMAGES) + 1 and all(line.startswith("llmaas_images.") for line in err[:-1])


def test_a_head_without_digest_falls_back_to_the_manifest_and_throttling_is_retried(registry, versions):
    digests = _push_all(registry)
    registry.omit_head_digest = True
    registry.throttle_next(2)
    assert pin.main(_args(registry, versions)) == 0
    pinned = yaml.safe_load(versions.read_text())["llmaas_images"]
    assert pinned["vllm"] == f"{IMAGES['vllm']}@{digests['vllm']}"
    body = registry.manifests[tuple(pin.parse(IMAGES["vllm"])[1:3])]
    assert digests["vllm"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert sum(1 for method, _ in registry.requests if method == "GET") >= len(IMAGES)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
