"""Pinned versions belong together: each chart with the application release it ships, each CRD-bearing chart with
the release whose CRDs the schema tests validate against (../shared/crds/SOURCES.md), each image with a cited check.

The pairings are cited data (tests/support/upstream_charts.yml: where each chart's appVersion was read); this test
holds playbooks/vars/versions.yml, that data and SOURCES.md to each other, so a chart bump without its CRDs, or a
CRD refresh without the chart, fails here.
"""

import re

import pytest
import yaml

from support.schemas import crds_dir

from .conftest import ROOT

VERSIONS = yaml.safe_load((ROOT / "playbooks" / "vars" / "versions.yml").read_text())
UPSTREAM = yaml.safe_load((ROOT / "tests" / "support" / "upstream_charts.yml").read_text())


def _sources_rows():
    """(CRD folder, local file under it, release ref) for every row of SOURCES.md."""
    rows = []
    for line in (crds_dir() / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 9 or not cells[3].startswith("`") or "/" not in cells[7]:
            continue
        local = cells[7].strip("`")
        rows.append((local.split("/", 1)[0], local.split("/", 1)[1], cells[3].strip("`")))
    return rows


def _bare(version):
    return str(version).removeprefix("v")


def test_sources_table_is_read():
    rows = _sources_rows()
    assert len(rows) > 40 and {"prometheus-operator", "kyverno", "argo-cd"} <= {r[0] for r in rows}


def _pairing_problems(key, pinned):
    if key not in UPSTREAM["charts"]:
        return [f"llmaas_charts.{key}: add its pairing to tests/support/upstream_charts.yml"]
    cited = UPSTREAM["charts"][key]
    problems = [] if cited["source"] else [f"{key}: the pairing names no source"]
    want = None if cited["chart_version"] is None else str(cited["chart_version"])
    have = str(pinned["version"]) if "version" in pinned else None
    if have != want:
        problems.append(f"{key}: chart {have} pinned, the cited chart for app {cited['app_version']} is {want}")
    if "app_version" in pinned and str(pinned["app_version"]) != str(cited["app_version"]):
        problems.append(f"{key}: versions.yml says app {pinned['app_version']}, the chart ships "
                        f"{cited['app_version']}")
    return problems


@pytest.mark.parametrize("key", sorted(VERSIONS["llmaas_charts"]))
def test_chart_pins_match_the_cited_pairing(key):
    assert not _pairing_problems(key, VERSIONS["llmaas_charts"][key])


@pytest.mark.parametrize("key, pinned", [
    # the pins before this change: each claimed an app version its chart does not ship
    ("argo_cd", {"version": "9.1.4", "app_version": "v3.5.1"}),
    ("kube_prometheus_stack", {"version": "79.5.0", "app_version": "v0.93.0"}),
    ("kyverno", {"version": "3.7.0", "app_version": "v1.19.0"}),
    ("cloudnative_pg", {"version": "0.27.0", "app_version": "1.30.0"}),
])
def test_a_mismatched_pair_is_caught(key, pinned):
    assert _pairing_problems(key, pinned)


def _crd_problems(folder, app_version):
    excused = {e["file"] for e in (UPSTREAM.get("crd_release_exceptions") or {}).get(folder, [])}
    rows = [r for r in _sources_rows() if r[0] == folder]
    if not rows:
        return [f"../shared/crds has no {folder}/ rows"]
    return [f"{file} is from {ref}" for _, file, ref in rows
            if _bare(ref) != _bare(app_version) and file not in excused]


@pytest.mark.parametrize("key", sorted(k for k, v in UPSTREAM["charts"].items() if v["crds"]))
def test_validated_crds_come_from_the_pinned_release(key):
    cited = UPSTREAM["charts"][key]
    problems = _crd_problems(cited["crds"], cited["app_version"])
    assert not problems, f"{key} pins {cited['app_version']} but the CRDs the tests validate against differ: {problems}"


def test_an_operator_older_than_its_validated_crds_is_caught():
    """kube-prometheus-stack 79.5.0 ships prometheus-operator v0.86.1 (tests/network/upstream_pods.yml)."""
    assert _crd_problems("prometheus-operator", "v0.86.1")


@pytest.mark.parametrize("key", sorted(VERSIONS["llmaas_images"]))
def test_every_image_is_pinned_and_its_check_cited(key):
    image = VERSIONS["llmaas_images"][key]
    ref, _, digest = image.partition("@")
    repo, _, tag = ref.rpartition(":")
    assert repo and tag and tag != "latest", f"llmaas_images.{key}: {image} has no fixed tag"
    cited = (UPSTREAM.get("images") or {}).get(key)
    assert cited, f"llmaas_images.{key}: add what was checked to tests/support/upstream_charts.yml images"
    assert str(cited["tag"]) == tag and cited["source"]
    # A digest comes from the registry (tools/pin_image_digests.py) or a cited source; either way it is well formed
    # and agrees with a cited one.
    if digest:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"llmaas_images.{key}: {digest!r} is not a digest"
    if cited["digest"]:
        assert digest == cited["digest"], f"llmaas_images.{key}: the cited digest is {cited['digest']}"
