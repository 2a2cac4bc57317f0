# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AgentgatewayParameters of every agentgateway Gateway of the stack, defined once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# agentgateway v1.4.1 gives its proxy pods no seccompProfile and no pod-level runAsNonRoot (controller/pkg/helm/
# agentgateway/templates: pod securityContext holds only the ip_unprivileged_port_start sysctl), which the
# restricted Pod Security level and the stack's non-root Kyverno policy refuse. The controller merges
# spec.deployment.spec over its Deployment with strategic merge patch (the AgentgatewayParameters CRD), so the
# sysctl and the container's own settings stay.
_PROXY_POD_SECURITY = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}

_SERVICE_TYPES = ("ClusterIP", "LoadBalancer", "NodePort")


def agentgateway_parameters(name, namespace, replicas=1, service_type="LoadBalancer"):
    """AgentgatewayParameters named after its Gateway: restricted-compliant proxy pods, replicas, Service type.

    replicas > 1 also gets a PodDisruptionBudget (minAvailable 1). service_type ClusterIP keeps a Gateway that only
    in-cluster clients call off the node's ports (k3s ServiceLB opens a host port for every LoadBalancer Service).
    """
    try:
        replicas = int(replicas)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"agentgateway_parameters: replicas must be an integer, got {replicas!r}") from exc
    if replicas < 1:
        raise AnsibleFilterError(f"agentgateway_parameters: replicas must be >= 1, got {replicas}")
    if service_type not in _SERVICE_TYPES:
        raise AnsibleFilterError(
            f"agentgateway_parameters: service_type must be one of {list(_SERVICE_TYPES)}, got {service_type!r}")
    spec = {
        "deployment": {"spec": {
            "replicas": replicas,
            "template": {"spec": {"securityContext": dict(_PROXY_POD_SECURITY)}},
        }},
        "service": {"spec": {"type": service_type}},
    }
    if replicas > 1:
        spec["podDisruptionBudget"] = {"spec": {"minAvailable": 1}}
    return {
        "apiVersion": "agentgateway.dev/v1alpha1",
        "kind": "AgentgatewayParameters",
        "metadata": {"name": str(name), "namespace": str(namespace), "labels": {"app.kubernetes.io/part-of": "llmaas"}},
        "spec": spec,
    }


class FilterModule(object):
    def filters(self):
        return {"agentgateway_parameters": agentgateway_parameters}
