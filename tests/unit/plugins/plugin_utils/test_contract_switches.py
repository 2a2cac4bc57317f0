"""Switches given as text (-e name=value) are typed once by the contract; nested values stay strict."""

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.llmaas.platform.plugins.plugin_utils import contract

ROOT = Path(__file__).resolve().parents[4]
GKE = yaml.safe_load((ROOT / "inventories/gke_l4/group_vars/all/platform.yml").read_text())


def build(**changes):
    shared = dict({k: v for k, v in copy.deepcopy(GKE).items() if k.startswith("llmaas_")}, **changes)
    return contract.build(shared, role_vars={}, layers=[])


@pytest.mark.parametrize("text, value", [("false", False), ("no", False), ("True", True), ("on", True)])
def test_apply_components_given_as_text_is_a_boolean_in_the_contract(text, value):
    assert build(llmaas_apply_components=text)["apply_components"] is value


def test_teardown_switches_have_one_default_and_take_text():
    defaults = build()["teardown"]
    assert defaults == {name[len("llmaas_teardown_"):]: option["default"]
                        for name, option in contract.TEARDOWN.items()}
    assert defaults["delete_volumes"] is False
    found = build(llmaas_teardown_delete_volumes="yes", llmaas_teardown_wait_timeout="60")["teardown"]
    assert found["delete_volumes"] is True and found["wait_timeout"] == 60


@pytest.mark.parametrize("changes, fragment", [
    ({"llmaas_apply_components": "maybe"}, "llmaas_apply_components: got 'maybe' (str); allowed: true or false"),
    ({"llmaas_teardown_delete_volumes": "flase"}, "llmaas_teardown_delete_volumes: got 'flase'"),
    ({"llmaas_teardown_wait_timeout": 0}, "llmaas_teardown_wait_timeout: got 0; allowed: seconds >= 1"),
    ({"llmaas_features": dict(GKE["llmaas_features"], keda="false")}, "llmaas_features.keda: got 'false'"),
])
def test_text_that_is_not_the_type_is_refused_and_nested_text_stays_strict(changes, fragment):
    with pytest.raises(contract.ContractError) as err:
        build(**changes)
    assert [e for e in err.value.errors if fragment in e], err.value.errors


def test_shared_value_is_the_contracts_reading_of_one_variable():
    assert contract.shared_value("llmaas_apply_components", None) is True  # the spec's default
    assert contract.shared_value("llmaas_apply_components", "off") is False
    assert contract.shared_value("llmaas_delivery", None) == "render"
    with pytest.raises(contract.ContractError, match="llmaas_delivery: got 'push'"):
        contract.shared_value("llmaas_delivery", "push")
