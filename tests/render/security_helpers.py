"""Helpers shared by the security and guardrails render tests: selectors, pod templates, restricted PSS."""


import yaml

from .conftest import ROOT

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def pod_templates(tree):
    """(kind, namespace, name, pod template) for every workload of a rendered tree."""
    out = []
    for obj in tree.objects():
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = obj["spec"]
        template = spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec["template"]
        out.append((obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"], template))
    return out


def selector_matches(selector, labels):
    """Kubernetes label-selector semantics (matchLabels AND matchExpressions)."""
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def restricted_violations(template):
    """Reasons a pod template breaks the restricted Pod Security Standard (empty list = compliant)."""
    spec = template["spec"]
    psc = spec.get("securityContext") or {}
    problems = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{flag} is set")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"hostPath volume {volume['name']}")
    containers = (spec.get("initContainers") or []) + spec["containers"]
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if psc.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    for c in containers:
        csc = c.get("securityContext") or {}
        name = c["name"]
        if csc.get("privileged"):
            problems.append(f"{name}: privileged")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps.get('add')}")
        pod_non_root = psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot") is not False
        if not (csc.get("runAsNonRoot") is True or pod_non_root):
            problems.append(f"{name}: runAsNonRoot not true")
        if csc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (csc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile not RuntimeDefault/Localhost")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def load_inventory(inventory):
    return yaml.safe_load((ROOT / "inventories" / inventory / "group_vars" / "all" / "platform.yml").read_text())
