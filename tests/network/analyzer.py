"""Feed network-config-analyzer (nca, PyPI) one inventory's network and read back every allowed connection.

The input is what a cluster would hold: the rendered NetworkPolicies, one pod per rendered workload (its pod
template's labels), the pods that charts and controllers create (tests/network/upstream_pods.yml, labels cited
from upstream) and every namespace with the label the API server sets on it (kubernetes.io/metadata.name).
nca computes the connectivity of that set offline; this module only parses its answer. nca pins PyYAML exactly,
against the main venv's kubernetes, so it runs from its own venv: LLMAAS_NCA (default .venv-nca/bin/nca).
"""

import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
NCA = Path(os.environ.get("LLMAAS_NCA", HERE.parents[1] / ".venv-nca" / "bin" / "nca"))
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
NS_LABEL = "kubernetes.io/metadata.name"


def _template(obj):
    spec = obj["spec"]
    return spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec["template"]


def _fill(value, **names):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {_fill(k, **names): _fill(v, **names) for k, v in value.items()}
    return value


def upstream_pods(tree):
    """Pods of tests/network/upstream_pods.yml that exist for this rendered tree."""
    components = yaml.safe_load((HERE / "upstream_pods.yml").read_text())["components"]
    apps = {a["metadata"]["name"]: a for a in tree.objects(kind="Application")}
    pods = []
    for comp in components:
        when = comp["when"]
        if when.get("application") and when["application"] not in apps:
            continue
        app_ns = apps[when["application"]]["spec"]["destination"]["namespace"] if when.get("application") else ""
        per = comp.get("per")
        if per:
            for obj in tree.objects(kind=per["kind"]):
                if per.get("gateway_class") and obj["spec"].get("gatewayClassName") != per["gateway_class"]:
                    continue
                meta = obj["metadata"]
                pods.append(_fill(comp["pod"], name=meta["name"], namespace=meta.get("namespace", ""),
                                  app_namespace=app_ns))
        for pod in comp.get("pods") or []:
            pods.append(_fill(pod, name="", namespace="", app_namespace=app_ns))
    return pods


def rendered_pods(tree):
    """One pod per rendered workload, named after the workload, with its pod template's labels."""
    pods = []
    for obj in tree.objects():
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        labels = _template(obj).get("metadata", {}).get("labels") or {}
        pods.append({"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "labels": labels})
    return pods


@dataclass
class Network:
    """Allowed connections as nca reports them: (source, destination) -> list of (protocols, port ranges)."""

    pods: list
    connections: dict = field(default_factory=dict)
    raw: str = ""

    def _peers(self, endpoint):
        """Names under which nca reports an endpoint: 'ns/pod' for a pod, the IP ranges holding an address."""
        if "pod" in endpoint:
            return [f"{endpoint['namespace']}/{endpoint['pod']}"]
        address = ipaddress.ip_address(endpoint["ip"])
        return [name for name in self._ip_names() if _in_ranges(address, name)]

    def _ip_names(self):
        names = set()
        for src, dst in self.connections:
            for name in (src, dst):
                if "/" not in name or re.match(r"^[0-9.]+/\d+$", name):
                    names.add(name)
        return names

    def allowed(self, src, dst, port, protocol="TCP"):
        """True when nca allows src -> dst on port/protocol (endpoints: {namespace, pod} or {ip})."""
        for s in self._peers(src):
            for d in self._peers(dst):
                for protocols, ports in self.connections.get((s, d), []):
                    if protocol in protocols and (ports is None or any(lo <= port <= hi for lo, hi in ports)):
                        return True
        return False

    def sources_of(self, dst):
        """Every (source, protocols, ports) nca allows into a pod endpoint."""
        target = f"{dst['namespace']}/{dst['pod']}"
        return [(s, protos, ports) for (s, d), conns in self.connections.items() if d == target
                for protos, ports in conns]

    def destinations_of_outside(self):
        """(ip range source, pod destination, protocols, ports) for every connection that enters from outside."""
        out = []
        for (s, d), conns in self.connections.items():
            if _is_ip(s) and not _is_ip(d):
                out.extend((s, d, protos, ports) for protos, ports in conns)
        return out


def _is_ip(name):
    return bool(re.match(r"^[0-9a-fA-F.:]+(-[0-9a-fA-F.:]+|/\d+)?(,|$)", name))


def _in_ranges(address, name):
    for part in name.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-")
            if ipaddress.ip_address(lo) <= address <= ipaddress.ip_address(hi):
                return True
        elif "/" in part:
            if address in ipaddress.ip_network(part, strict=False):
                return True
        elif part and ipaddress.ip_address(part) == address:
            return True
    return False


def _parse_connections(text):
    """'{protocols:TCP, UDP,dst_ports:53,443}' groups or 'All connections' -> [(protocols, [(lo, hi)] | None)]."""
    if text.strip() == "All connections":
        return [({"TCP", "UDP", "SCTP", "ICMP"}, None)]
    out = []
    for group in re.findall(r"\{([^}]*)\}", text):
        protocols_part, _, ports_part = group.partition("dst_ports:")
        protocols = {p.strip() for p in protocols_part.replace("protocols:", "").split(",") if p.strip()}
        ports = []
        for item in ports_part.split(","):
            item = item.strip()
            if not item:
                continue
            lo, _, hi = item.partition("-")
            ports.append((int(lo), int(hi or lo)))
        out.append((protocols, ports or None))
    if not out:
        raise ValueError(f"cannot read nca connections {text!r}")
    return out


def _write_inputs(tree, directory):
    pods = rendered_pods(tree) + upstream_pods(tree)
    policies = [p for p in tree.objects(kind="NetworkPolicy")]
    namespaces = sorted({p["namespace"] for p in pods} | {p["metadata"]["namespace"] for p in policies}
                        | {n["metadata"]["name"] for n in tree.objects(kind="Namespace")})
    docs = [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": n, "labels": {NS_LABEL: n}}} for n in namespaces]
    (directory / "namespaces.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=True))
    pod_docs = [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": p["labels"]},
                 "spec": {"containers": [{"name": "c", "image": "x"}]}} for p in pods]
    (directory / "pods.yaml").write_text(yaml.safe_dump_all(pod_docs, sort_keys=True))
    (directory / "policies.yaml").write_text(yaml.safe_dump_all(policies, sort_keys=True))
    return pods


def analyse(tree, workdir):
    """Run nca --connectivity on the tree's network; returns a Network."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pods = _write_inputs(tree, workdir)
    out = workdir / "connectivity.txt"
    out.unlink(missing_ok=True)  # nca appends to --file_out
    if not NCA.exists():
        raise FileNotFoundError(f"network-config-analyzer not found at {NCA}: run `make setup-test` or set LLMAAS_NCA")
    cmd = [str(NCA), "--connectivity", str(workdir / "policies.yaml"),
           "--pod_list", str(workdir / "pods.yaml"), "--ns_list", str(workdir / "namespaces.yaml"),
           "--output_format", "txt_no_fw_rules", "--file_out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"nca failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    text = out.read_text()
    network = Network(pods=pods, raw=text)
    for line in text.splitlines():
        if " => " not in line:
            continue
        pair, _, conns = line.partition(" : ")
        src, _, dst = (re.sub(r"\[\w+\]$", "", part.strip()) for part in pair.partition(" => "))
        network.connections.setdefault((src, dst), []).extend(_parse_connections(conns))
    return network


def upstream_services(tree):
    """Services of tests/network/upstream_pods.yml that exist for this rendered tree."""
    components = yaml.safe_load((HERE / "upstream_pods.yml").read_text())["components"]
    apps = {a["metadata"]["name"]: a for a in tree.objects(kind="Application")}
    out = []
    for comp in components:
        app = comp["when"].get("application")
        if app and app not in apps:
            continue
        app_ns = apps[app]["spec"]["destination"]["namespace"] if app else ""
        out.extend(_fill(s, name="", namespace="", app_namespace=app_ns) for s in comp.get("services") or [])
    return out
