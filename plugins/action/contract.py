# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check the whole inventory in one pass and publish the platform contract (fact llmaas_contract)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.llmaas.platform.plugins.plugin_utils import contract as platform
from ansible_collections.llmaas.platform.plugins.plugin_utils.action import LocalAction, trusted
from ansible_collections.llmaas.platform.plugins.plugin_utils.manifests import HEADER_PREFIX

ARGUMENT_SPEC = {
    # Layers whose own rules run (default: every enabled layer). A layer role used on its own checks itself.
    "layers": {"type": "list", "elements": "str"},
}


class ActionModule(LocalAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run(self, tmp=None, task_vars=None):
        task_vars, result, args = self.start(tmp, task_vars)
        found = check_inventory(self, task_vars, args["layers"])
        result["changed"] = False
        if args["layers"] is None:  # a check of some layers only does not stand for the whole contract
            result["ansible_facts"] = {
                "llmaas_contract": found,
                # the pins under their usual names (the switches are read as llmaas_contract.features: an -e
                # llmaas_features, partial or as text, would hide a fact of that name)
                **found["versions"],
            }
        result["msg"] = (f"inventory accepted: {len(found['models'])} models, layers "
                         + ", ".join(la["name"] for la in found["layers"] if la["enabled"]))
        return result


def check_inventory(action, task_vars, layers=None):
    """The contract for the play's variables, or AnsibleActionFail listing every refusal (the layer action calls
    this too when a layer role runs without preflight)."""
    unknown = sorted(set(layers or []) - set(platform.LAYER_BY_NAME))
    if unknown:
        raise AnsibleActionFail(f"contract: unknown layers {unknown}; allowed: {sorted(platform.LAYER_BY_NAME)}")

    # Role variables: the inventory's value where it sets one, else the role default, templated with all
    # of them in view (defaults refer to shared variables and to each other).
    available = dict(task_vars)
    for name, value in platform.pinned_versions().items():
        available.setdefault(name, value)  # -e (or a play's vars_files) first; site.yml reads the pins only here
    for layer in platform.LAYERS:
        for name, value in platform.role_defaults(layer["role"]).items():
            if name not in available:
                available[name] = trusted(value)
    templar = action._templar.copy_with_new_env(available_variables=available)

    errors = []
    shared = {}
    for name in [n for n in available if isinstance(n, str) and n.startswith("llmaas_")]:
        shared[name] = _value(templar, name, available, errors)
    if errors:
        raise AnsibleActionFail(_refusal(errors))
    inventory_names, extra_names = _inventory_names(action, task_vars)
    retired = [n for n in platform.RETIRED if n in task_vars]
    try:  # the shared values first: role defaults are computed from them
        values = platform.check_shared(shared, inventory_names, extra_names, retired)
    except platform.ContractError as err:
        raise AnsibleActionFail(_refusal(err.errors)) from None
    # role defaults read the completed switches where the layers read them (llmaas_contract.features)
    available["llmaas_contract"] = {"features": values["llmaas_features"]}
    templar = action._templar.copy_with_new_env(available_variables=available)
    role_vars = {}
    for layer in platform.LAYERS:
        role = layer["role"]
        role_vars[role] = {n: _value(templar, n, available, errors)
                           for n in platform.role_spec(role) if n in available}
    if errors:
        raise AnsibleActionFail(_refusal(errors))

    render_dir = shared.get("llmaas_render_dir")
    tree, tree_errors = {}, []
    if shared.get("llmaas_delivery", "render") == "render" and isinstance(render_dir, str) and render_dir:
        tree_errors, tree = platform.scan_tree(render_dir, HEADER_PREFIX)
    try:
        found = platform.build(shared, role_vars, layers=layers, inventory_names=inventory_names,
                               extra_names=extra_names, existing_tree=tree, retired_given=retired)
    except platform.ContractError as err:
        raise AnsibleActionFail(_refusal(tree_errors + err.errors)) from None
    errors = tree_errors + _filter_checks(found, role_vars, shared, layers)
    if found["delivery"] == "render" and layers is None:
        errors += platform.gitops_path_rules(render_dir, found["gitops"]["path"])
    if errors:
        raise AnsibleActionFail(_refusal(errors))
    found["versions"] = {name: shared[name] for name in platform.PINNED}
    return found


def _refusal(errors):
    lines = list(dict.fromkeys(errors))
    return (f"the inventory was refused ({len(lines)} problem{'s' if len(lines) > 1 else ''}, nothing was "
            "written):\n- " + "\n- ".join(lines))


def _value(templar, name, available, errors):
    try:
        return templar.template(available[name])
    except AnsibleError as err:
        errors.append(f"{name}: cannot be evaluated ({getattr(err, 'message', None) or err})")
        return None


def _inventory_names(action, task_vars):
    """Names the inventory sets (hosts file, group_vars, host_vars) and names given with -e: pinned versions may
    come only from the latter. Read from the inventory's sources, not from the play's merged variables."""
    from ansible.vars.plugins import get_vars_from_inventory_sources

    manager = action._task.get_variable_manager()
    if manager is None:
        return (), ()
    try:
        inventory = manager._inventory
        host = inventory.get_host(task_vars.get("inventory_hostname"))
        entities = list(host.get_groups()) + [host]
        names = set()
        for entity in entities:
            names.update(entity.get_vars())
        for stage in ("inventory", "task"):
            names.update(get_vars_from_inventory_sources(action._loader, inventory._sources, entities, stage))
        return [n for n in platform.PINNED if n in names], list(manager.extra_vars)
    except Exception:  # noqa: BLE001 - best effort: without the inventory view this one check is skipped
        return (), ()


def _filter_checks(found, role_vars, shared, layers):
    """Rules that live in the filters which build the objects: run them now, before anything is written."""
    from ansible_collections.llmaas.platform.plugins.filter.gpu import gke_gpu_node_pool
    from ansible_collections.llmaas.platform.plugins.filter.guardrails import litellm_guardrails
    from ansible_collections.llmaas.platform.plugins.filter.vllm import vllm_args

    checked = set(layers) if layers is not None else {la["name"] for la in found["layers"] if la["enabled"]}
    errors = []

    def attempt(call):
        try:
            call()
        except Exception as err:  # noqa: BLE001 - the filters raise AnsibleFilterError with a full message
            errors.append(getattr(err, "message", None) or str(err))

    if "serving" in checked:
        for model, derived in zip(shared["llmaas_models"], found["models"], strict=True):
            def args(m=model, d=derived):
                d["args"] = vllm_args(m, port=found["serving"]["port"])  # derived once, read by the serving layer
            attempt(args)
    if "gpu" in checked and shared["llmaas_substrate"] == "gke":
        g = role_vars["gpu_node"]
        settings = {k: g.get(f"gpu_node_{k}") for k in (
            "min_nodes", "max_nodes", "spot", "driver_version", "image_type", "disk_size_gb", "disk_type",
            "auto_upgrade", "service_account", "labels", "machine_type")}
        settings["name"] = g.get("gpu_node_pool_name")
        attempt(lambda: gke_gpu_node_pool(found["gpu"], settings, shared["llmaas_cluster_name"],
                                          shared.get("llmaas_gcp")))
    if "guardrails" in checked and found["features"]["guardrails"]:
        def guardrails_on():
            if not litellm_guardrails(found["namespaces"], shared.get("llmaas_guardrails") or {},
                                      shared["llmaas_profile"]):
                raise ValueError("llmaas_guardrails: every guardrail is off while llmaas_features.guardrails is true; "
                                 "allowed: at least one guardrail on (or llmaas_features.guardrails false)")
        attempt(guardrails_on)
    return errors
