# SPDX-License-Identifier: Apache-2.0
"""Estimate the monthly bill of a stack from its node pools, a price list and a scale-to-zero schedule.

Pure arithmetic on the inventory: no cloud API is called. The idle figure is the floor (every pool at its
minimum, the GPU pool at 0 on a scale-to-zero stack); each schedule scenario adds the hours the scaled pools
spend at their maximum.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover
    AnsibleFilterError = ValueError

WEEKS_PER_MONTH = 52 / 12


def _round(value):
    return round(float(value) + 1e-9, 2)


def _machine_price(prices, pool, spot):
    machine = pool.get("machine_type")
    table = (prices.get("machines") or {}).get(machine)
    if table is None:
        raise AnsibleFilterError(
            f"no price for machine type {machine!r} (pool {pool.get('name')!r}) in llmaas_cost.prices.machines"
        )
    key = "spot" if spot else "on_demand"
    if key not in table:
        raise AnsibleFilterError(f"llmaas_cost.prices.machines[{machine!r}] lacks {key!r}")
    return float(table[key])


def _disk_price(prices, disk_type):
    table = prices.get("disks_per_gb_month") or {}
    if disk_type not in table:
        raise AnsibleFilterError(f"no price for disk type {disk_type!r} in llmaas_cost.prices.disks_per_gb_month")
    return float(table[disk_type])


def active_hours(scenario):
    """Hours per month a scenario keeps the scaled pools up: hours per active day x active days per week."""
    hours, days = float(scenario["hours_per_weekday"]), float(scenario["weekdays"])
    if not 0 <= hours <= 24 or not 0 <= days <= 7:
        raise AnsibleFilterError(
            f"scenario {scenario.get('name')!r}: hours_per_weekday must be 0..24 and weekdays 0..7"
        )
    return hours * days * WEEKS_PER_MONTH


def _pool_lines(pool, prices, nodes, hours, spot, label):
    price = _machine_price(prices, pool, spot)
    lines = []
    if nodes:
        lines.append({
            "item": f"{label} {pool['name']}: {nodes} x {pool['machine_type']}"
                    f"{' spot' if spot else ''} x {hours:.1f} h @ {price:.4f}/h",
            "usd": nodes * hours * price,
        })
        size = float(pool.get("disk_size_gb") or 0)
        if size:
            disk = _disk_price(prices, pool.get("disk_type", "pd-balanced"))
            lines.append({
                "item": f"{label} {pool['name']} boot disks: {nodes} x {size:g} GB "
                        f"{pool.get('disk_type', 'pd-balanced')} x {hours:.1f} h",
                "usd": nodes * size * disk * hours / float(prices.get("hours_per_month", 730)),
            })
    return lines


def cost_estimate(pools, cost, regional=False):
    """Monthly estimate: {'currency', 'idle': {lines, total}, 'scenarios': [{name, hours, lines, total,
    total_if_spot}]}.

    pools: list of {name, machine_type, min_nodes, max_nodes, spot, disk_size_gb, disk_type, scales (bool: follows
    the schedule)}. cost: the inventory's llmaas_cost (prices, volumes, load_balancers, hosts, schedule).
    regional: a regional GKE cluster (the free tier covers one zonal or Autopilot cluster only).
    """
    prices = dict(cost.get("prices") or {})
    month = float(cost.get("hours_per_month", 730))
    prices["hours_per_month"] = month
    idle = []

    fee = float(prices.get("cluster_management_per_hour", 0)) * month
    if fee:
        credit = 0.0 if regional else float(prices.get("cluster_free_tier_per_month", 0))
        idle.append({
            "item": f"cluster management ({'regional' if regional else 'zonal'}): {fee:.2f} - free tier {credit:.2f}",
            "usd": max(fee - credit, 0.0),
        })
    for pool in pools:
        if int(pool.get("min_nodes", 0)) > int(pool.get("max_nodes", 0)):
            raise AnsibleFilterError(f"pool {pool.get('name')!r}: min_nodes exceeds max_nodes")
        idle += _pool_lines(pool, prices, int(pool.get("min_nodes", 0)), month, bool(pool.get("spot")), "pool")
    for host in cost.get("hosts") or []:
        idle.append({
            "item": f"host {host['name']}: {host.get('count', 1)} x {float(host['price_per_hour']):.4f}/h "
                    f"x {month:g} h",
            "usd": int(host.get("count", 1)) * float(host["price_per_hour"]) * month,
        })
    for volume in cost.get("volumes") or []:
        idle.append({
            "item": f"volume {volume['name']}: {float(volume['size_gb']):g} GB "
                    f"{volume.get('disk_type', 'pd-balanced')}",
            "usd": float(volume["size_gb"]) * _disk_price(prices, volume.get("disk_type", "pd-balanced")),
        })
    balancers = int(cost.get("load_balancers", 0))
    if balancers:
        rule = float(prices.get("forwarding_rule_per_hour", 0))
        idle.append({
            "item": f"load balancer forwarding rules: {balancers} x {rule:.4f}/h x {month:g} h",
            "usd": balancers * rule * month,
        })
    idle = [dict(line, usd=_round(line["usd"])) for line in idle]
    idle_total = _round(sum(line["usd"] for line in idle))

    scenarios = []
    for scenario in (cost.get("schedule") or {}).get("scenarios") or []:
        hours = active_hours(scenario)
        extra, extra_spot = [], []
        for pool in pools:
            if not pool.get("scales"):
                continue
            nodes = int(pool.get("max_nodes", 0)) - int(pool.get("min_nodes", 0))
            extra += _pool_lines(pool, prices, nodes, hours, bool(pool.get("spot")), "active")
            extra_spot += _pool_lines(pool, prices, nodes, hours, True, "active")
        extra = [dict(line, usd=_round(line["usd"])) for line in extra]
        scenarios.append({
            "name": scenario["name"],
            "hours": _round(hours),
            "lines": extra,
            "total": _round(idle_total + sum(line["usd"] for line in extra)),
            "total_if_spot": _round(idle_total + sum(_round(line["usd"]) for line in extra_spot)),
        })
    return {"currency": cost.get("currency", "USD"), "idle": {"lines": idle, "total": idle_total},
            "scenarios": scenarios}


def cost_report_lines(estimate):
    """Human-readable lines of an estimate, for a debug msg."""
    cur = estimate["currency"]
    out = ["Idle (every pool at its minimum; a scale-to-zero GPU pool at 0 nodes):"]
    out += [f"  {line['usd']:>9.2f} {cur}  {line['item']}" for line in estimate["idle"]["lines"]]
    out.append(f"  {estimate['idle']['total']:>9.2f} {cur}  IDLE TOTAL per month")
    for scenario in estimate["scenarios"]:
        out.append(f"Scenario '{scenario['name']}' ({scenario['hours']:.1f} active GPU hours per month): idle plus")
        out += [f"  {line['usd']:>9.2f} {cur}  {line['item']}" for line in scenario["lines"]]
        out.append(f"  {scenario['total']:>9.2f} {cur}  TOTAL per month "
                   f"({scenario['total_if_spot']:.2f} {cur} if the scaled pools ran on spot)")
    return out


class FilterModule:
    def filters(self):
        return {"cost_estimate": cost_estimate, "cost_report_lines": cost_report_lines}
