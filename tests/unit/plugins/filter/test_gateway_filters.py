# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""agentgateway_parameters (plugins/filter/gateway.py) and the GPU capacity derivation (plugin_utils/gpu_capacity)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.filter.gateway import agentgateway_parameters
from ansible_collections.llmaas.platform.plugins.plugin_utils import gpu_capacity


def test_parameters_make_the_proxy_pod_restricted_and_size_it():
    params = agentgateway_parameters("llmaas-inference", "llm-routing", 2, "ClusterIP")
    pod = params["spec"]["deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert params["spec"]["deployment"]["spec"]["replicas"] == 2
    assert params["spec"]["service"]["spec"]["type"] == "ClusterIP"
    assert params["spec"]["podDisruptionBudget"] == {"spec": {"minAvailable": 1}}
    assert "podDisruptionBudget" not in agentgateway_parameters("e", "ns", 1)["spec"]


@pytest.mark.parametrize("replicas, service, word", [(0, "ClusterIP", "replicas"), ("two", "ClusterIP", "replicas"),
                                                     (1, "ExternalName", "service_type")])
def test_parameters_refuse_bad_input(replicas, service, word):
    with pytest.raises(AnsibleFilterError, match=word):
        agentgateway_parameters("g", "ns", replicas, service)


def test_slots_and_caps():
    # the contract's gpu: slots_per_node = GPUs per node x pods per GPU (checked in test_contract.py)
    assert gpu_capacity.gpu_slots({"slots_per_node": 1}, 1) == 1
    assert gpu_capacity.gpu_slots({"slots_per_node": 4}, 3) == 12
    models = [{"name": "a", "gpus": 1, "replicas": 2}, {"name": "b", "gpus": 2, "replicas": 1}]
    # 8 slots: a may grow to 8 - 2 (b's base) = 6; b to (8 - 2) // 2 = 3
    assert gpu_capacity.replica_caps(models, 8) == {"a": 6, "b": 3}


def test_capacity_errors_name_the_variable_and_the_figure():
    one = [{"name": "qwen", "gpus": 1, "replicas": 1}]
    assert gpu_capacity.capacity_errors(one, 1, 0, True) == []
    (error,) = gpu_capacity.capacity_errors(one, 1, 4, True)
    assert "vllm_serving_keda.max_replicas: got 4; allowed: at most 1" in error
    assert gpu_capacity.capacity_errors(one, 1, 4, False) == [], "no KEDA, no autoscaler maximum to check"
    (error,) = gpu_capacity.capacity_errors([dict(one[0], replicas=2)], 1, 0, True)
    assert "need 2 GPU slots" in error and "offers 1" in error
