# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU capacity of the stack, derived once: the Kueue quota, the autoscalers' maxima and the refusal of an
inventory that asks for more replicas than the GPU pool can hold all come from here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def gpu_slots(gpu, max_nodes):
    """nvidia.com/gpu the pool offers at its largest: nodes x the contract's slots_per_node (GPUs per node x pods
    per GPU when time-sliced)."""
    return int(max_nodes) * int(gpu["slots_per_node"])


def replica_caps(models, slots):
    """{model name: most replicas it can run in `slots` GPU slots} while every other model keeps its base replicas.

    models: the contract's models (name, gpus, replicas = the base count the profile or inventory sets).
    """
    held = {m["name"]: int(m.get("replicas", 1)) * int(m.get("gpus", 1)) for m in models}
    total = sum(held.values())
    return {m["name"]: (slots - (total - held[m["name"]])) // max(int(m.get("gpus", 1)), 1) for m in models}


def capacity_errors(models, slots, keda_max, keda_on):
    """Refusals: base replicas that do not fit, or an explicit KEDA maximum above what the pool can hold."""
    caps = replica_caps(models, slots)
    errors = []
    needed = sum(int(m.get("replicas", 1)) * int(m.get("gpus", 1)) for m in models)
    if needed > slots:
        errors.append(f"llmaas_models: the base replicas need {needed} GPU slots; the GPU pool offers {slots} "
                      "(gpu_node_max_nodes x llmaas_gpu.gpus_per_node x clients_per_gpu when time-sliced)")
    if keda_on and keda_max:
        for m in models:
            if keda_max > caps[m["name"]]:
                errors.append(f"vllm_serving_keda.max_replicas: got {keda_max}; allowed: at most {caps[m['name']]} "
                              f"for {m['name']!r} ({slots} GPU slots in the pool, {m.get('gpus', 1)} per replica, "
                              "the other models at their base replicas), or 0 to derive it")
    return errors
