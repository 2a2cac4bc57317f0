"""Evaluate tests/network/matrix.yml against nca's connectivity: one list of failed rows per check."""

import ipaddress
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def load():
    return yaml.safe_load((HERE / "matrix.yml").read_text())


def _pick(value, inventory):
    return value[inventory] if isinstance(value, dict) else value


def _applies(row, inventory):
    return inventory in row.get("inventories", [inventory])


def endpoint(matrix, name, inventory):
    spec = matrix["endpoints"][name]
    return {k: _pick(v, inventory) for k, v in spec.items()}


def _port(matrix, row, inventory):
    port = row["port"]
    return _pick(matrix["apiserver_port"], inventory) if port == "apiserver" else int(port)


def _sources(matrix, network, name, inventory):
    if name == "all-pods":
        return [{"namespace": p["namespace"], "pod": p["name"]} for p in network.pods]
    return [endpoint(matrix, name, inventory)]


def _label(row):
    return f"{row['from']} -> {row['to']}:{row.get('port')}/{row.get('protocol', 'TCP')} ({row.get('why', '')})"


def failed_rows(matrix, network, inventory, kind):
    """Rows of `allow` or `deny` that nca contradicts (with the pods a row is about present in the model)."""
    want = kind == "allow"
    failures = []
    for row in matrix[kind]:
        if not _applies(row, inventory):
            continue
        dst = endpoint(matrix, row["to"], inventory)
        port, protocol = _port(matrix, row, inventory), row.get("protocol", "TCP")
        for src in _sources(matrix, network, row["from"], inventory):
            if src == dst:
                continue
            if network.allowed(src, dst, port, protocol) != want:
                who = f"{src.get('namespace')}/{src.get('pod')}" if row["from"] == "all-pods" else ""
                failures.append(f"{_label(row)} {who}".rstrip())
    return failures


def _names(matrix, network, inventory):
    """nca peer names of every matrix endpoint: pod 'ns/name', the address ranges containing an address, or those
    inside a range (`cidr`: an only-row source that is a whole range, such as platform_security_apiserver_cidrs)."""
    names = {}
    for name in matrix["endpoints"]:
        ep = endpoint(matrix, name, inventory)
        if "pod" in ep:
            names.setdefault(f"{ep['namespace']}/{ep['pod']}", set()).add(name)
        elif "cidr" in ep:
            net = [ipaddress.ip_network(ep["cidr"])]
            for peer in network._ip_names():
                if all(_range_within(part, net) for part in peer.split(",")):
                    names.setdefault(peer, set()).add(name)
        else:
            for peer in network._peers(ep):
                names.setdefault(peer, set()).add(name)
    return names


def failed_only(matrix, network, inventory):
    """Connections into an `only` destination from a source or port the row does not list."""
    failures = []
    names = _names(matrix, network, inventory)
    for row in matrix["only"]:
        if not _applies(row, inventory):
            continue
        dst = endpoint(matrix, row["to"], inventory)
        if "pod" not in dst:
            continue
        allowed = {name: set(ports) for name, ports in row["from"].items()}
        for src, protocols, ports in network.sources_of(dst):
            listed = names.get(src, set()) & set(allowed)
            open_ports = _describe(ports)
            ok = listed and ports is not None and all(
                lo == hi and any(lo in allowed[n] for n in listed) for lo, hi in ports)
            if not ok:
                failures.append(f"{src} -> {row['to']} on {sorted(protocols)} {open_ports}: not in the only-list")
    return failures


def failed_outside(matrix, network, inventory, stack_namespaces):
    """Connections from an address into a stack namespace that `outside` does not list."""
    rows = [r for r in matrix["outside"] if _applies(r, inventory)]
    failures = []
    for src, dst, protocols, ports in network.destinations_of_outside():
        namespace = dst.split("/", 1)[0]
        if namespace not in stack_namespaces:
            continue
        ok = False
        for row in rows:
            ep = endpoint(matrix, row["to"], inventory)
            if f"{ep['namespace']}/{ep['pod']}" != dst or ports is None:
                continue
            sources = [row["from"]] if isinstance(row["from"], str) else row["from"]
            nets = [ipaddress.ip_network(s) for s in sources]
            in_range = all(_range_within(part, nets) for part in src.split(","))
            if in_range and all(lo == hi and lo in row["ports"] for lo, hi in ports):
                ok = True
        if not ok:
            failures.append(f"{src} -> {dst} on {sorted(protocols)} {_describe(ports)}: not an edge path")
    return failures


def _range_within(part, nets):
    part = part.strip()
    if "-" in part:
        lo, hi = (ipaddress.ip_address(x) for x in part.split("-"))
    elif "/" in part:
        net = ipaddress.ip_network(part, strict=False)
        lo, hi = net[0], net[-1]
    else:
        lo = hi = ipaddress.ip_address(part)
    return any(lo in n and hi in n for n in nets)


def _describe(ports):
    if ports is None:
        return "all ports"
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ports)
