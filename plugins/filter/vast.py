# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Computed settings for the k3s_node role on Vast hosts: k3s install arguments, node labels, time-slicing config.

Kept here (not in Jinja) so the logic is unit-tested and the output is deterministic: same input, same
arguments in the same order, so the k3s install guard and the GitOps diffs stay quiet on a second run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types


_LABEL_VALUE_MAX = 63
_TAINT_RE = re.compile(r"^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$")
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def k8s_label_value(value):
    """Any string -> a valid label value ([A-Za-z0-9-_.], at most 63 chars, alphanumeric at both ends)."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", "%s" % ("" if value is None else value))
    text = text[:_LABEL_VALUE_MAX].strip("-_.")
    return text


def _check_labels(labels):
    if not isinstance(labels, dict):
        raise AnsibleFilterError("node labels must be a mapping, got %r" % (labels,))
    for key in labels:
        if not _LABEL_KEY_RE.match("%s" % key):
            raise AnsibleFilterError("invalid Kubernetes label key %r" % (key,))


def k3s_gpu_node_labels(hostvars, extra=None, time_slicing_replicas=1, substrate="vast"):
    """Node labels from the vast inventory host vars (gpu_name, num_gpus, gpu_ram, cuda_version)."""
    hostvars = hostvars or {}
    labels = {
        "llmaas.io/substrate": k8s_label_value(substrate),
        "nvidia.com/gpu.present": "true",
    }
    if hostvars.get("gpu_name"):
        labels["llmaas.io/gpu-model"] = k8s_label_value(hostvars["gpu_name"])
    if hostvars.get("num_gpus") is not None:
        labels["llmaas.io/gpu-count"] = "%d" % int(hostvars["num_gpus"])
    if hostvars.get("gpu_ram"):
        labels["llmaas.io/gpu-memory-gib"] = "%d" % int(round(float(hostvars["gpu_ram"]) / 1024.0))
    if hostvars.get("cuda_version") is not None:
        labels["llmaas.io/cuda-max"] = k8s_label_value(hostvars["cuda_version"])
    if int(time_slicing_replicas) > 1:
        labels["llmaas.io/gpu-sharing"] = "time-slicing"
    for key, value in (extra or {}).items():
        labels[key] = k8s_label_value(value)
    _check_labels(labels)
    return dict(sorted(labels.items()))


def k3s_install_args(role, node_name, labels=None, taints=None, node_external_ip=None, tls_san=None,
                     default_runtime="nvidia", disable=None, flannel_backend=None, extra_args=None):
    """The INSTALL_K3S_EXEC argument list, in a fixed order. Join and token are passed as K3S_URL/K3S_TOKEN."""
    if role not in ("server", "agent"):
        raise AnsibleFilterError("k3s role must be 'server' or 'agent', got %r" % (role,))
    if not node_name:
        raise AnsibleFilterError("k3s node name must not be empty")
    args = [role, "--node-name=%s" % node_name]
    if node_external_ip:
        args.append("--node-external-ip=%s" % node_external_ip)
    if default_runtime:
        args.append("--default-runtime=%s" % default_runtime)
    if role == "server":
        for item in sorted(set(disable or [])):
            args.append("--disable=%s" % item)
        for san in sorted(set(tls_san or [])):
            args.append("--tls-san=%s" % san)
        if flannel_backend:
            args.append("--flannel-backend=%s" % flannel_backend)
        args.append("--write-kubeconfig-mode=0600")
    labels = labels or {}
    _check_labels(labels)
    for key in sorted(labels):
        args.append("--node-label=%s=%s" % (key, labels[key]))
    for taint in sorted(set(taints or [])):
        if not _TAINT_RE.match(taint):
            raise AnsibleFilterError("invalid taint %r: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute"
                                     % (taint,))
        args.append("--node-taint=%s" % taint)
    for extra in extra_args or []:
        if not isinstance(extra, string_types):
            raise AnsibleFilterError("k3s extra args must be strings, got %r" % (extra,))
        args.append(extra)
    return args


def nvidia_time_slicing_config(replicas, resource="nvidia.com/gpu", rename_by_default=False,
                               fail_requests_greater_than_one=False, mig_strategy="none"):
    """NVIDIA device plugin config (version v1) that advertises each GPU ``replicas`` times."""
    try:
        replicas = int(replicas)
    except (TypeError, ValueError):
        raise AnsibleFilterError("time-slicing replicas must be an integer, got %r" % (replicas,))
    if replicas < 1:
        raise AnsibleFilterError("time-slicing replicas must be >= 1, got %d" % replicas)
    config = {"version": "v1", "flags": {"migStrategy": mig_strategy}}
    if replicas > 1:
        config["sharing"] = {
            "timeSlicing": {
                "renameByDefault": bool(rename_by_default),
                "failRequestsGreaterThanOne": bool(fail_requests_greater_than_one),
                "resources": [{"name": resource, "replicas": replicas}],
            }
        }
    return config


def k3s_api_endpoint(hostvars, api_port=6443, prefer="public"):
    """https://host:port of the k3s API as reachable from outside, using the port Vast maps to api_port."""
    hostvars = hostvars or {}
    ports = hostvars.get("vast_ports") or {}
    mapped = ports.get("%d/tcp" % int(api_port))
    host = hostvars.get("vast_public_ipaddr") if prefer == "public" else None
    host = host or hostvars.get("ansible_host")
    if not host:
        raise AnsibleFilterError("cannot work out the k3s API address: no vast_public_ipaddr or ansible_host")
    return "https://%s:%d" % (host, int(mapped or api_port))


def k3s_public_kubeconfig(kubeconfig, server_url, name="llmaas-vast"):
    """The k3s.yaml of the server, pointed at server_url, with cluster/user/context renamed to ``name``."""
    if not isinstance(kubeconfig, dict) or not kubeconfig.get("clusters"):
        raise AnsibleFilterError("not a kubeconfig: no clusters")
    if not server_url:
        raise AnsibleFilterError("k3s_public_kubeconfig needs the public server URL")
    config = dict(kubeconfig)
    config["clusters"] = [{"name": name, "cluster": dict(c.get("cluster") or {}, server=server_url)}
                          for c in kubeconfig["clusters"][:1]]
    config["users"] = [{"name": name, "user": u.get("user") or {}} for u in (kubeconfig.get("users") or [])[:1]]
    config["contexts"] = [{"name": name, "context": {"cluster": name, "user": name}}]
    config["current-context"] = name
    return config


class FilterModule(object):
    def filters(self):
        return {
            "k8s_label_value": k8s_label_value,
            "k3s_gpu_node_labels": k3s_gpu_node_labels,
            "k3s_install_args": k3s_install_args,
            "nvidia_time_slicing_config": nvidia_time_slicing_config,
            "k3s_api_endpoint": k3s_api_endpoint,
            "k3s_public_kubeconfig": k3s_public_kubeconfig,
        }
