"""The connectivity matrix (tests/network/matrix.yml) holds for both rendered inventories, as computed by the real
NetworkPolicy analyser network-config-analyzer on the rendered policies, workloads and upstream-made pods."""

import pytest

from render.conftest import INVENTORIES
from render.security_helpers import load_inventory, selector_matches

from .analyzer import analyse
from .matrix import failed_only, failed_outside, failed_rows, load


@pytest.fixture(scope="module")
def networks(rendered, tmp_path_factory):
    return {inv: analyse(rendered[inv], tmp_path_factory.mktemp(f"nca-{inv}")) for inv in INVENTORIES}


# Namespaces the stack does not install: the cluster's own (CoreDNS) and Argo CD's (a prerequisite, ADR 0002).
NOT_OURS = ("kube-system", "argocd")


def _ours(network, inventory):
    """Every namespace the stack installs: its own (llmaas_namespaces) and those of the charts it installs."""
    stack = {v for k, v in load_inventory(inventory)["llmaas_namespaces"].items() if k != "argocd"}
    return (stack | {p["namespace"] for p in network.pods}) - set(NOT_OURS)


def _report(failures, networks, inventory):
    return f"{inventory}: {len(failures)} rows contradicted by nca:\n" + "\n".join(failures)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_endpoint_of_the_matrix_is_in_the_model(networks, inventory):
    """A row about a pod that is not rendered (or not cited upstream) would hold vacuously: refuse it."""
    matrix = load()
    pods = {f"{p['namespace']}/{p['name']}" for p in networks[inventory].pods}
    applies = [r for kind in ("allow", "deny", "only") for r in matrix[kind]
               if inventory in r.get("inventories", [inventory])]
    used = {r[k] for r in applies for k in ("from", "to") if isinstance(r[k], str)}
    missing = []
    for name in sorted(used - {"all-pods"}):
        spec = matrix["endpoints"][name]
        if "pod" in spec:
            pod = spec["pod"][inventory] if isinstance(spec["pod"], dict) else spec["pod"]
            if f"{spec['namespace']}/{pod}" not in pods:
                missing.append(f"{name} ({spec['namespace']}/{pod})")
    assert not missing, f"{inventory}: matrix endpoints not in the model: {missing}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_required_paths_are_open(networks, inventory):
    failures = failed_rows(load(), networks[inventory], inventory, "allow")
    assert not failures, _report(failures, networks, inventory)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_forbidden_paths_are_closed(networks, inventory):
    failures = failed_rows(load(), networks[inventory], inventory, "deny")
    assert not failures, _report(failures, networks, inventory)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_only_the_listed_callers_reach_each_only_row_destination(networks, inventory):
    """vLLM, the pickers, Postgres, the inference Gateway and every controller pod: no source or port but the listed."""
    failures = failed_only(load(), networks[inventory], inventory)
    assert not failures, _report(failures, networks, inventory)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_from_outside_only_the_edge_is_reachable(networks, inventory):
    failures = failed_outside(load(), networks[inventory], inventory, _ours(networks[inventory], inventory))
    assert not failures, _report(failures, networks, inventory)


def _container_port(template, target):
    if isinstance(target, int):
        return target
    for container in template["spec"]["containers"]:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return port["containerPort"]
    return None


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_prometheus_reaches_every_rendered_scrape_target(rendered, networks, inventory):
    """Each ServiceMonitor endpoint whose Service and pods are rendered: Prometheus -> pod:containerPort is open."""
    tree = rendered[inventory]
    matrix = load()
    prometheus = {k: v for k, v in matrix["endpoints"]["prometheus"].items()}
    templates = [(o["metadata"]["namespace"], o["metadata"]["name"], o["spec"]["template"])
                 for o in tree.objects() if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]
    checked, failures = [], []
    for monitor in tree.objects(kind="ServiceMonitor"):
        spec = monitor["spec"]
        names = (spec.get("namespaceSelector") or {}).get("matchNames") or [monitor["metadata"]["namespace"]]
        for service in tree.objects(kind="Service"):
            meta = service["metadata"]
            if meta["namespace"] not in names or not selector_matches(spec["selector"], meta.get("labels") or {}):
                continue
            for endpoint in spec["endpoints"]:
                port = next((p for p in service["spec"]["ports"] if p.get("name") == endpoint.get("port")), None)
                if port is None:
                    continue
                for ns, name, template in templates:
                    labels = template["metadata"].get("labels") or {}
                    if ns != meta["namespace"] or not selector_matches(
                            {"matchLabels": service["spec"].get("selector") or {"-": "-"}}, labels):
                        continue
                    target = _container_port(template, port.get("targetPort", port["port"]))
                    checked.append(f"{monitor['metadata']['name']} -> {ns}/{name}:{target}")
                    if not networks[inventory].allowed(prometheus, {"namespace": ns, "pod": name}, int(target)):
                        failures.append(checked[-1])
    assert checked, f"{inventory}: no ServiceMonitor resolved to a rendered pod"
    assert not failures, f"{inventory}: Prometheus cannot scrape:\n" + "\n".join(failures)
