"""Arithmetic of the cost estimate (plugins/filter/cost.py) and the real figure for the gke_l4 inventory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.llmaas.platform.plugins.filter.cost import (
    active_hours,
    cost_estimate,
    cost_report_lines,
)

ROOT = Path(__file__).resolve().parents[4]

PRICES = {
    "machines": {
        "cpu-1": {"on_demand": 0.10, "spot": 0.04},
        "gpu-1": {"on_demand": 1.00, "spot": 0.40},
    },
    "disks_per_gb_month": {"pd-balanced": 0.10},
    "cluster_management_per_hour": 0.10,
    "cluster_free_tier_per_month": 74.40,
    "forwarding_rule_per_hour": 0.025,
}
COST = {
    "currency": "USD",
    "hours_per_month": 730,
    "prices": PRICES,
    "volumes": [{"name": "prom", "size_gb": 10, "disk_type": "pd-balanced"}],
    "load_balancers": 2,
    "schedule": {"scenarios": [{"name": "office", "hours_per_weekday": 8, "weekdays": 5}]},
}
CPU = {"name": "platform", "machine_type": "cpu-1", "min_nodes": 1, "max_nodes": 3, "spot": False,
       "disk_size_gb": 50, "disk_type": "pd-balanced", "scales": False}
GPU = {"name": "gpu", "machine_type": "gpu-1", "min_nodes": 0, "max_nodes": 2, "spot": False,
       "disk_size_gb": 100, "disk_type": "pd-balanced", "scales": True}


def test_idle_is_every_pool_at_its_minimum():
    est = cost_estimate([CPU, GPU], COST, regional=False)
    by_item = {line["item"].split(":")[0]: line["usd"] for line in est["idle"]["lines"]}
    assert by_item["cluster management (zonal)"] == 0.0          # 73.00 fee minus the 74.40 credit, floored at 0
    assert by_item["pool platform"] == 73.0                       # 1 node x 730 h x 0.10
    assert by_item["pool platform boot disks"] == 5.0             # 50 GB x 0.10
    assert by_item["volume prom"] == 1.0
    assert by_item["load balancer forwarding rules"] == 36.5      # 2 x 0.025 x 730
    assert not any("gpu" in line["item"] for line in est["idle"]["lines"])   # scale-to-zero: GPU pool at 0
    assert est["idle"]["total"] == 115.5


def test_regional_cluster_pays_the_management_fee():
    est = cost_estimate([CPU], COST, regional=True)
    assert est["idle"]["lines"][0]["usd"] == 73.0
    assert est["idle"]["total"] == 188.5


def test_scenario_adds_the_active_hours_of_scaled_pools_only():
    est = cost_estimate([CPU, GPU], COST)
    (office,) = est["scenarios"]
    hours = 8 * 5 * 52 / 12                                        # 173.33 h
    assert office["hours"] == round(hours, 2)
    gpu = round(2 * hours * 1.00, 2)                               # 2 extra nodes (max - min) on demand
    disks = round(2 * 100 * 0.10 * hours / 730, 2)
    assert [line["usd"] for line in office["lines"]] == [gpu, disks]
    assert office["total"] == round(115.5 + gpu + disks, 2)
    assert office["total_if_spot"] == round(115.5 + round(2 * hours * 0.40, 2) + disks, 2)


def test_fixed_hosts_run_all_month():
    est = cost_estimate([], {"prices": {}, "hosts": [{"name": "h", "count": 2, "price_per_hour": 0.5}]})
    assert est["idle"]["total"] == 730.0


@pytest.mark.parametrize("bad, message", [
    ({"machine_type": "nope"}, "no price for machine type"),
    ({"disk_type": "floppy"}, "no price for disk type"),
    ({"min_nodes": 4}, "min_nodes exceeds max_nodes"),
])
def test_bad_inputs_are_named(bad, message):
    with pytest.raises(Exception, match=message):
        cost_estimate([dict(CPU, **bad)], COST)


def test_schedule_bounds():
    assert active_hours({"hours_per_weekday": 24, "weekdays": 7}) == pytest.approx(728.0)
    with pytest.raises(Exception, match="hours_per_weekday"):
        active_hours({"name": "x", "hours_per_weekday": 25, "weekdays": 5})


def test_report_lines_show_idle_and_totals():
    lines = cost_report_lines(cost_estimate([CPU, GPU], COST))
    assert lines[0].startswith("Idle")
    assert any("IDLE TOTAL" in line and "115.50" in line for line in lines)
    assert any("TOTAL per month" in line and "spot" in line for line in lines)


def _inventory_estimate(inventory, tmp_path):
    out = tmp_path / f"{inventory}.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(ROOT / "inventories" / inventory),
         str(ROOT / "playbooks" / "cost_report.yml"), "-e", f"llmaas_cost_report_file={out}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "IDLE TOTAL per month" in proc.stdout
    return json.loads(out.read_text())


def test_gke_l4_idle_estimate(tmp_path):
    """The honest idle floor of gke_l4 with the pools its inventory provisions.

    DESIGN.md states about $30-35/month idle. The cost profile takes a zonal cluster (management fee waived by the
    free tier) and one e2-standard-4 spot platform node; with the inference Gateway's forwarding rule ($18.25) the
    floor is about $61. adrs/0009 explains the gap and what would close it. This test pins the real figure instead
    of bending prices; it fails when pools or prices change, so the ADR and the claim get revisited.
    """
    est = _inventory_estimate("gke_l4", tmp_path)
    assert not any("gpu-l4" in line["item"] for line in est["idle"]["lines"]), "GPU pool must be at 0 when idle"
    assert 55 <= est["idle"]["total"] <= 65, est["idle"]
    office = next(s for s in est["scenarios"] if s["name"] == "office hours")
    assert office["total"] > est["idle"]["total"]


def test_lean_gke_variant_stays_within_the_stated_idle_budget():
    """What the $30-35 idle claim needs (lands at about $24.56): zonal cluster, 1 x e2-standard-2 spot platform
    node, 30 GB boot disk, Prometheus + Postgres volumes, no paid load balancer (prices of the gke_l4 cost.yml)."""
    import yaml

    cost = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/cost.yml").read_text())["llmaas_cost"]
    lean = dict(cost, load_balancers=0)
    pool = {"name": "platform", "machine_type": "e2-standard-2", "min_nodes": 1, "max_nodes": 1, "spot": True,
            "disk_size_gb": 30, "disk_type": "pd-balanced", "scales": False}
    est = cost_estimate([pool], lean, regional=False)
    assert 20 <= est["idle"]["total"] <= 35, est["idle"]
