# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform contract: the inventory checked in one pass, normalised, with every shared derived value.

Pure Python (no Ansible objects), so the action plugin, the filters and the unit tests call the same code.
Schemas are the argument specs the roles already publish (roles/<role>/meta/argument_specs.yml): the shared
llmaas_* variables in the preflight role's spec, each layer role's own variables in that role's spec. The
checks here are strict where Ansible's argument spec is lenient (a quoted number is refused, not converted)
and name the variable, the list entry, the value and what is allowed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import os
import re

import yaml

from ansible_collections.llmaas.platform.plugins.module_utils._key_delivery import DNS_SUBDOMAIN
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import valid_duration
from ansible_collections.llmaas.platform.plugins.plugin_utils import gpu_capacity, tenant_guardrails

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the specs are large
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The layer registry: every layer of the stack in sync-wave order. `feature` switches the whole layer (and its
# Argo CD Application) on or off; `delivery` limits a layer to one delivery mode. The app-of-apps lists every
# enabled layer from here, whatever subset of roles a play ran.
LAYERS = (
    {"name": "platform", "wave": 0, "role": "platform_base", "feature": None, "delivery": None},
    {"name": "security", "wave": 5, "role": "platform_security", "feature": None, "delivery": None},
    {"name": "gpu", "wave": 10, "role": "gpu_node", "feature": None, "delivery": None},
    {"name": "serving", "wave": 20, "role": "vllm_serving", "feature": None, "delivery": None},
    {"name": "routing", "wave": 30, "role": "inference_routing", "feature": None, "delivery": None},
    {"name": "guardrails", "wave": 40, "role": "guardrails", "feature": None, "delivery": None},
    {"name": "gateway", "wave": 50, "role": "litellm_gateway", "feature": None, "delivery": None},
    {"name": "observability", "wave": 60, "role": "observability", "feature": "observability", "delivery": None},
    {"name": "benchmark", "wave": 70, "role": "serving_benchmark", "feature": "benchmark", "delivery": None},
    {"name": "argocd", "wave": 100, "role": "gitops", "feature": None, "delivery": "render"},
)
LAYER_BY_NAME = {layer["name"]: layer for layer in LAYERS}

# What llmaas_profile sizes: the one table of the profiles' figures. Templates read the row as
# llmaas_contract.profile; role defaults and task arguments, templated before any contract exists in a role used on
# its own, with the filter llmaas.platform.profile. A role variable the inventory sets wins over its row.
PROFILES = {
    "cost": {"gateway_replicas": 1, "gateway_redis": False, "gateway_budget_fail_closed": False,
             "postgres_instances": 1, "postgres_storage_size": "5Gi", "epp_replicas": 1, "guardrails_replicas": 1,
             "external_secrets_replicas": 1, "kyverno_admission_replicas": 1, "kyverno_action": "Audit"},
    "prod": {"gateway_replicas": 2, "gateway_redis": True, "gateway_budget_fail_closed": True,
             "postgres_instances": 3, "postgres_storage_size": "20Gi", "epp_replicas": 2, "guardrails_replicas": 2,
             "external_secrets_replicas": 2, "kyverno_admission_replicas": 3, "kyverno_action": "Enforce"},
}

# The pins of playbooks/vars/versions.yml. Preflight reads the file (pinned_versions) and publishes them; -e may
# replace one for a run, the inventory may not (it would lose to the playbook's copy silently).
PINNED = ("llmaas_images", "llmaas_charts", "llmaas_host_packages", "llmaas_kubernetes_version")
VERSIONS_FILE = os.path.join(COLLECTION_ROOT, "playbooks", "vars", "versions.yml")
# llmaas_* names that are not inventory inputs but are legitimately set: the pins, facts the stack publishes,
# per-playbook switches.
OTHER_NAMES = PINNED + (
    "llmaas_contract", "llmaas_layers", "llmaas_teardown", "llmaas_cost_report_file", "llmaas_cost_estimate",
)
# playbooks/teardown.yml's switches (argument-spec form): typed here like the inventory's, so
# `-e llmaas_teardown_delete_volumes=false` is false; teardown reads them from llmaas_contract.teardown.
TEARDOWN = {
    "llmaas_teardown_delete_volumes": {"type": "bool", "default": False},
    "llmaas_teardown_volume_kinds": {"type": "list", "elements": "str",
                                     "default": ["PersistentVolumeClaim", "Cluster"]},
    "llmaas_teardown_wait_timeout": {"type": "int", "default": 300},
    # seconds for the first call to the cluster: an endpoint that accepts and never answers must not hang teardown
    "llmaas_teardown_connect_timeout": {"type": "int", "default": 30},
}

# Variables that once re-defined a shared value: refused with the one to set instead, never silently ignored.
RETIRED = {
    "vllm_serving_http_add_on": "scale to zero no longer uses the KEDA HTTP add-on: the endpoint picker holds requests "
                                "(set inference_routing_queue_ttl for how long)",
    "inference_routing_http_add_on": "the model routes always go to the InferencePool; set inference_routing_queue_ttl "
                                     "for how long the endpoint picker holds a request at zero replicas",
    "inference_routing_target_port": "the InferencePools target vllm_serving_port (llmaas_contract.serving.port); "
                                     "set vllm_serving_port instead",
    "litellm_gateway_postgres_backup_enabled": "Postgres backups run when litellm_gateway_postgres_backup_destination "
                                               "names an object store (volume snapshots had no snapshot class on k3s "
                                               "and no WAL archive)",
    "observability_gpu_metrics_sources": "the GPU monitor follows the exporter the gpu layer deploys "
                                         "(llmaas_contract.gpu.metrics, from llmaas_gpu.stack, gpu_node_namespace "
                                         "and gpu_node_dcgm_exporter)",
    "litellm_gateway_postgres_volume_snapshot_class": "backups go to litellm_gateway_postgres_backup_destination "
                                                      "(barman-cloud with WAL archiving), not volume snapshots",
}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MODEL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
DURATION = re.compile(r"^[1-9][0-9]*[smhdw]$")
BACKUP_DESTINATION = re.compile(r"^(s3|gs)://[a-z0-9][-a-z0-9._]{1,61}[a-z0-9](/[^\s]*)?$")
QUANTITY = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
MACHINE_TYPE = re.compile(
    r"^([a-z][a-z0-9]*-[a-z]+-[0-9]+[a-z]*|[a-z][a-z0-9]*-(micro|small|medium)|([a-z][a-z0-9]*-)?custom-[0-9]+-[0-9]+"
    r"(-ext)?)$"
)
GIT_URL = re.compile(r"^(https?://|ssh://|git@)\S+$")
KEY_ALIAS_LENGTH = 200  # the alias names a file and is part of a Secret name

_TYPE_WORDS = {"int": "an integer", "float": "a number (float)", "bool": "true or false (bool)", "str": "a string",
               "path": "a path (string)", "list": "a list", "dict": "a mapping"}


class ContractError(Exception):
    """Bad input: carries every refusal found in one pass."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


# --- schemas -----------------------------------------------------------------------------------------------

_SPECS = {}


def role_spec(role, entry="main"):
    """The options of a role's argument spec entry point (cached; roles ship inside the collection)."""
    key = (role, entry)
    if key not in _SPECS:
        path = os.path.join(COLLECTION_ROOT, "roles", role, "meta", "argument_specs.yml")
        with open(path, encoding="utf-8") as handle:
            specs = (yaml.load(handle, Loader=_SAFE_LOADER) or {}).get("argument_specs") or {}  # noqa: S506
        _SPECS[key] = (specs.get(entry) or {}).get("options") or {}
    return _SPECS[key]


_PINS = {}


def pinned_versions():
    """playbooks/vars/versions.yml, the one place versions are pinned (read once per process)."""
    if not _PINS:
        with open(VERSIONS_FILE, encoding="utf-8") as handle:
            _PINS.update(yaml.load(handle, Loader=_SAFE_LOADER) or {})  # noqa: S506 - a safe loader
    return _PINS


def role_defaults(role):
    """A role's defaults/main.yml as written (Jinja expressions unrendered)."""
    path = os.path.join(COLLECTION_ROOT, "roles", role, "defaults", "main.yml")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_SAFE_LOADER) or {}  # noqa: S506 - a safe loader


def shared_names():
    """Every llmaas_* name an inventory may set (the preflight spec) plus the names the stack sets itself."""
    return sorted(n for n in role_spec("preflight", "inventory") if n.startswith("llmaas_")) + sorted(
        OTHER_NAMES + tuple(TEARDOWN))


# --- one strict walk over a value and its spec -------------------------------------------------------------

def _show(value):
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, (dict, list)) and len(repr(value)) > 60:
        return type(value).__name__
    return repr(value)


def _entry(item, index):
    for key in ("name", "team_id", "key_alias"):
        if isinstance(item, dict) and isinstance(item.get(key), str) and item.get(key):
            return f"[{item[key]!r}]"
    return f"[{index}]"


def _type_ok(kind, value):
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    return True  # raw


def _type_error(where, kind, value):
    allowed = _TYPE_WORDS.get(kind, kind)
    hint = ""
    if kind in ("int", "float") and isinstance(value, str) and re.match(r"^-?[0-9.]+$", value.strip()):
        hint = f" (write {value.strip()} without quotes)"
    kind_name = next((t.__name__ for t in (bool, int, float, str, list, dict) if isinstance(value, t)),
                     type(value).__name__)
    return f"{where}: got {_show(value)} ({kind_name}); allowed: {allowed}{hint}"


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _from_string(kind, value):
    """A role variable given as text (ansible-playbook -e name=value) in the declared type, else unchanged."""
    text = value.strip()
    if kind == "int" and re.match(r"^-?[0-9]+$", text):
        return int(text)
    if kind == "float" and re.match(r"^-?[0-9]+([.][0-9]*)?$", text):
        return float(text)
    if kind == "bool" and text.lower() in _TRUE + _FALSE:
        return text.lower() in _TRUE
    return value


def normalise(value, spec, where, errors, text_ok=False):
    """Check value against one option spec; return it with defaults filled (None when absent and optional).

    text_ok: a top-level string may stand for an int, float or bool (a variable passed with -e name=value is
    text); the value returned is the typed one, so readers take it from the contract, never the raw variable.
    Values inside a list or mapping are never converted: a quoted number there is refused.
    """
    kind = spec.get("type", "str")
    if value is None:
        if "default" in spec:
            value = spec["default"]
        else:
            return None
    if text_ok and isinstance(value, str) and kind in ("int", "float", "bool"):
        value = _from_string(kind, value)
    if not _type_ok(kind, value):
        errors.append(_type_error(where, kind, value))
        return value
    if kind == "list":
        out = []
        elements = spec.get("elements")
        for index, item in enumerate(value):
            label = f"{where}{_entry(item, index)}"
            if elements and not _type_ok(elements, item):
                errors.append(_type_error(label, elements, item))
                out.append(item)
            elif elements == "dict" and spec.get("options"):
                out.append(normalise_options(item, spec["options"], label, errors))
            else:
                if spec.get("choices") and item not in spec["choices"]:
                    errors.append(f"{label}: got {_show(item)}; allowed: {', '.join(map(str, spec['choices']))}")
                out.append(item)
        return out
    if kind == "dict" and spec.get("options"):
        return normalise_options(value, spec["options"], where, errors)
    if spec.get("choices") and value not in spec["choices"]:
        errors.append(f"{where}: got {_show(value)}; allowed: {', '.join(map(str, spec['choices']))}")
    return value


def normalise_options(mapping, options, where, errors):
    out = {}
    for key in mapping:
        if key not in options:
            near = difflib.get_close_matches(str(key), list(options), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            errors.append(f"{where}: unknown setting {key!r}{hint} (known: {', '.join(sorted(options))})")
    for key, sub in options.items():
        label = f"{where}.{key}"
        if mapping.get(key) is None and sub.get("required"):
            errors.append(f"{label} is required ({sub.get('type', 'str')})")
            continue
        value = normalise(mapping.get(key), sub, label, errors)
        if value is not None or key in mapping:
            out[key] = value
    return out


# --- the contract ------------------------------------------------------------------------------------------

def ha_replicas(features):
    """Replicas of a component that follows llmaas_features.ha (2 with ha, else 1): one definition for the model
    servers' default and the agentgateway proxies."""
    return 2 if features["ha"] else 1


def _replicas(model, serving):
    if model.get("replicas") is not None:
        return model["replicas"]
    return serving["vllm_serving_replicas"] if serving["vllm_serving_replicas"] > 0 else serving["_ha_replicas"]


def unknown_names(names):
    """Refusals for llmaas_* names nobody reads, with the nearest valid name."""
    known = shared_names()
    errors = []
    for name in sorted(n for n in names if n.startswith("llmaas_") and n not in known):
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {near[0]}?" if near else ""
        errors.append(f"{name}: unknown variable{hint} (nothing reads it)")
    return errors


def shared_value(name, value):
    """One shared llmaas_* value as the contract has it (default filled, text given with -e typed), or
    ContractError: for readers that run without the whole contract (a layer outside the registry)."""
    errors = []
    out = normalise(value, role_spec("preflight", "inventory")[name], name, errors, text_ok=True)
    if errors:
        raise ContractError(errors)
    return out


def check_shared(shared, inventory_names=(), extra_names=(), retired_given=()):
    """The shared llmaas_* values checked and normalised (raises ContractError with every refusal)."""
    errors = []
    values = {}
    for name, option in role_spec("preflight", "inventory").items():
        if not name.startswith("llmaas_"):
            continue
        given = shared.get(name)
        if given is None and option.get("required"):
            errors.append(f"{name} is required ({_TYPE_WORDS.get(option.get('type', 'str'), 'a string')})")
            continue
        # top level: `-e llmaas_apply_components=false` is the text 'false'; the contract carries the boolean
        values[name] = normalise(given, option, name, errors, text_ok=True)
    for name, option in TEARDOWN.items():
        values[name] = normalise(shared.get(name), option, name, errors, text_ok=True)
        if option["type"] == "int" and isinstance(values[name], int) and values[name] < 1:
            errors.append(f"{name}: got {values[name]}; allowed: seconds >= 1")
    errors += unknown_names(list(shared))
    for name in sorted(set(retired_given or ()) & set(RETIRED)):
        errors.append(f"{name}: no longer read; {RETIRED[name]}")
    pins = pinned_versions()
    for name in PINNED:
        if name in inventory_names and name not in extra_names:
            errors.append(f"{name}: set in the inventory, but playbooks/vars/versions.yml pins it and wins; "
                          f"allowed: change the pin in playbooks/vars/versions.yml (or pass -e {name}=... for one "
                          "run)")
        elif name in extra_names and isinstance(pins[name], dict):
            # -e replaces the whole mapping: a partial one would leave the layers without the other pins
            given = shared.get(name)
            missing = sorted(set(pins[name]) - set(given)) if isinstance(given, dict) else sorted(pins[name])
            if missing:
                errors.append(f"{name}: the -e mapping lacks {', '.join(missing)}; allowed: a mapping with every key "
                              "of playbooks/vars/versions.yml (-e replaces the whole mapping)")
    images = shared.get("llmaas_images")
    for key, image in sorted((images if isinstance(images, dict) else {}).items()):
        errors += image_rules(f"llmaas_images.{key}", str(image))
    if errors:
        raise ContractError(errors)
    return values


def build(shared, role_vars=None, layers=None, inventory_names=(), extra_names=(), existing_tree=None,
          retired_given=()):
    """Validate and normalise. Returns the contract dict or raises ContractError with every refusal.

    shared: the llmaas_* values as the play sees them; role_vars: {role: {variable: value}} (defaults
    overlaid by the inventory, already templated); layers: names of the layers whose own rules apply
    (default every enabled layer); inventory_names: variable names set by the inventory (not by -e);
    existing_tree: {layer: {file: owned?}} of the render directory as found.
    """
    values = check_shared(shared, inventory_names, extra_names, retired_given)
    errors = []
    features = values["llmaas_features"]
    enabled_layers = [
        dict(layer, enabled=(layer["feature"] is None or bool(features.get(layer["feature"])))
             and (layer["delivery"] is None or layer["delivery"] == values["llmaas_delivery"]))
        for layer in LAYERS
    ]
    checked = set(layers) if layers is not None else {layer["name"] for layer in enabled_layers if layer["enabled"]}

    role_vars = role_vars or {}
    roles = {}
    for layer in LAYERS:
        if layer["name"] not in checked:
            continue
        role = layer["role"]
        given = role_vars.get(role, {})
        roles[role] = {}
        for name, option in role_spec(role).items():
            roles[role][name] = normalise(given.get(name), option, name, errors, text_ok=True)
    errors += _shared_rules(values)
    if errors:
        raise ContractError(errors)

    serving_vars = dict(roles.get("vllm_serving") or _role_defaults(role_vars, "vllm_serving"),
                        _ha_replicas=ha_replicas(features))
    contract = _derive(values, serving_vars, enabled_layers)
    # GPU slots of the pool at its largest: Kueue's quota, the autoscalers' maxima and the serving refusals use it
    max_nodes = (roles.get("gpu_node") or {}).get("gpu_node_max_nodes")
    if not isinstance(max_nodes, int):
        max_nodes = role_vars.get("gpu_node", {}).get("gpu_node_max_nodes", role_spec("gpu_node")[
            "gpu_node_max_nodes"].get("default", 1))
    contract["gpu"]["slots"] = gpu_capacity.gpu_slots(contract["gpu"], max_nodes)
    contract["gpu"]["metrics"] = gpu_metrics(contract["gpu"]["stack"], roles.get("gpu_node") or
                                             _role_defaults(role_vars, "gpu_node"))
    contract["network"] = network(values, roles.get("platform_security") or
                                  _role_defaults(role_vars, "platform_security"))
    # what the other layers must know of the gateway (the security layer opens Redis' port only when it runs)
    gateway = roles.get("litellm_gateway") or _role_defaults(role_vars, "litellm_gateway")
    redis = gateway["litellm_gateway_redis_enabled"]
    contract["gateway"] = {"redis": contract["profile"]["gateway_redis"] if redis is None else bool(redis)}
    for layer_name in sorted(checked, key=lambda n: LAYER_BY_NAME[n]["wave"]):
        rule = LAYER_RULES.get(layer_name)
        if rule:
            errors += rule(values, roles[LAYER_BY_NAME[layer_name]["role"]], contract)
    errors += _tree_rules(values, existing_tree)
    if errors:
        raise ContractError(errors)
    return contract


def _role_defaults(role_vars, role):
    """A role's variables for a layer whose own rules did not run: the inventory's values over the spec defaults."""
    given = role_vars.get(role, {})
    out = {}
    for name, option in role_spec(role).items():
        out[name] = given.get(name, option.get("default"))
    return out


# The DCGM exporter each GPU stack runs (the gpu layer deploys it, the observability layer scrapes it): the operator
# ships nvidia-dcgm-exporter (gpu-operator chart, Service port gpu-metrics); on gke-managed the gpu layer installs
# the dcgm-exporter chart (Service port metrics) when gpu_node_dcgm_exporter is on. docs/layers.md "GPU metrics".
_DCGM_EXPORTERS = {
    "operator": {"source": "gpu-operator-dcgm-exporter", "service": "nvidia-dcgm-exporter", "port": "gpu-metrics",
                 "selector": {"app": "nvidia-dcgm-exporter"}},
    "gke-managed": {"source": "dcgm-exporter-chart", "service": "dcgm-exporter", "port": "metrics",
                    "selector": {"app.kubernetes.io/name": "dcgm-exporter"}},
}


def gpu_metrics(stack, gpu_node):
    """Where the GPU metrics come from: the exporter the gpu layer deploys, or {'source': 'none'}."""
    if stack not in _DCGM_EXPORTERS or (stack == "gke-managed" and not gpu_node.get("gpu_node_dcgm_exporter")):
        return {"source": "none"}
    exporter = _DCGM_EXPORTERS[stack]
    return {"source": exporter["source"], "namespace": gpu_node["gpu_node_namespace"], "service": exporter["service"],
            "port": exporter["port"], "selector": dict(exporter["selector"])}


def network(values, security):
    """What the NetworkPolicies of every layer share, from the security layer's settings: the layers that install a
    chart in a namespace of its own render that namespace's policies with it (plugin_utils/network_policies.py)."""
    namespaces = values["llmaas_namespaces"]
    return {
        "enabled": bool(values["llmaas_features"]["network_policies"]),
        "stack_namespaces": sorted({ns for role, ns in namespaces.items() if role != "argocd"}),
        "apiserver_cidrs": list(security["platform_security_apiserver_cidrs"]),
        "prometheus": {"namespace": namespaces["observability"],
                       "pod_labels": dict(security["platform_security_prometheus_pod_labels"])},
    }


def _derive(values, serving_vars, layers):
    features = values["llmaas_features"]
    namespaces = values["llmaas_namespaces"]
    gpu = values["llmaas_gpu"]
    slicing = gpu.get("time_slicing") or normalise({}, role_spec("preflight", "inventory")["llmaas_gpu"]["options"]
                                                   ["time_slicing"], "llmaas_gpu.time_slicing", [])
    gpu = dict(gpu, time_slicing=slicing)
    per_gpu = slicing["clients_per_gpu"] if slicing["enabled"] else 1
    mode = serving_vars["vllm_serving_mode"]
    port = serving_vars["vllm_serving_port"]
    keda = serving_vars.get("vllm_serving_keda") or {}
    scale_to_zero = bool(features["keda"] and features["scale_to_zero"] and mode == "raw")
    models = []
    for model in values["llmaas_models"]:
        replicas = _replicas(model, serving_vars)
        service = f"vllm-{model['name']}"
        models.append(dict(
            model,
            served_name=model.get("served_name") or model["name"],
            replicas=replicas,
            service=service,
            url=f"http://{service}.{namespaces['serving']}.svc.cluster.local:{port}",
            autoscaling={
                "min": 0 if scale_to_zero else replicas,
                "max": max(keda.get("max_replicas", replicas), replicas) if features["keda"] else replicas,
            },
        ))
    return {
        "layers": layers,
        "features": features,
        "ha_replicas": ha_replicas(features),
        "profile": dict(PROFILES[values["llmaas_profile"]], name=values["llmaas_profile"]),
        "delivery": values["llmaas_delivery"],
        "apply_components": values["llmaas_apply_components"],
        "kubeconfig": values["llmaas_kubeconfig"],
        "kube_context": values["llmaas_kube_context"],
        "substrate": values["llmaas_substrate"],
        "cluster_name": values["llmaas_cluster_name"],
        "domain": values["llmaas_domain"],
        "inference_url": values["llmaas_inference_url"],
        "render_dir": os.path.abspath(os.path.expanduser(str(values["llmaas_render_dir"]))),
        "namespaces": namespaces,
        "secrets": values["llmaas_secrets"],
        "gitops": values["llmaas_gitops"],
        "gcp": values.get("llmaas_gcp"),  # with defaults (network); none on a substrate without GCP
        "argocd": {"namespace": namespaces["argocd"], "project": values["llmaas_gitops"]["project"]},
        # pods that share one GPU (clients_per_gpu when time-sliced): the one definition of a GPU slot
        "gpu": dict(gpu, slots_per_gpu=per_gpu, slots_per_node=gpu["gpus_per_node"] * per_gpu),
        "serving": {"mode": mode, "port": port, "scale_to_zero": scale_to_zero, "namespace": namespaces["serving"]},
        "models": models,
        "tenants": values["llmaas_tenants"] or [],
        "labels": {"app.kubernetes.io/part-of": "llmaas"},
        "teardown": {name[len("llmaas_teardown_"):]: values[name] for name in TEARDOWN},
    }


# --- cross-field rules: each returns a list of refusals ----------------------------------------------------

def _shared_rules(v):
    errors = []
    ns = v["llmaas_namespaces"]
    for key, name in ns.items():
        if not DNS_LABEL.match(str(name)):
            errors.append(f"llmaas_namespaces.{key}: got {_show(name)}; allowed: a DNS label (lowercase a-z, 0-9, "
                          "'-', at most 63 characters, starting and ending alphanumeric)")
    gitops = v["llmaas_gitops"]
    for key in ("repo_url", "path", "revision", "project"):
        if not str(gitops.get(key) or "").strip():
            errors.append(f"llmaas_gitops.{key}: got {_show(gitops.get(key))}; allowed: a non-empty string")
    if gitops.get("repo_url") and not GIT_URL.match(gitops["repo_url"]):
        errors.append(f"llmaas_gitops.repo_url: got {_show(gitops['repo_url'])}; allowed: a Git URL (https://, "
                      "ssh:// or git@host:path)")
    if v["llmaas_substrate"] == "gke" and not (v.get("llmaas_gcp") or {}).get("project"):
        errors.append("llmaas_gcp.project is required when llmaas_substrate is 'gke'")
    secrets = v["llmaas_secrets"]
    if secrets["backend"] == "kubernetes" and not secrets.get("source_namespace"):
        errors.append("llmaas_secrets: backend 'kubernetes' needs source_namespace")
    if secrets["backend"] == "vault" and not secrets.get("vault_server"):
        errors.append("llmaas_secrets: backend 'vault' needs vault_server")
    if secrets.get("source_namespace") and not DNS_LABEL.match(secrets["source_namespace"]):
        errors.append(f"llmaas_secrets.source_namespace: got {_show(secrets['source_namespace'])}; allowed: a DNS "
                      "label")
    errors += _model_rules(v["llmaas_models"])
    errors += _tenant_rules(v["llmaas_tenants"], v["llmaas_models"])
    return errors


def _model_rules(models):
    errors = []
    if not models:
        return ["llmaas_models must declare at least one model"]
    names = [m["name"] for m in models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        errors.append(f"llmaas_models: names must be unique; duplicates: {dup}")
    for m in models:
        where = f"llmaas_models[{m['name']!r}]"
        if not MODEL_NAME.match(m["name"]):
            errors.append(f"{where}.name: got {m['name']!r}; allowed: a lowercase DNS label (a-z, 0-9, '-', at most "
                          "40 characters, starting with a letter)")
        if m["gpus"] < 1:
            errors.append(f"{where}: gpus must be >= 1 (got {m['gpus']})")
        tp = m["tensor_parallel_size"]
        if not 1 <= tp <= max(m["gpus"], 1):
            errors.append(f"{where}.tensor_parallel_size: got {tp}; allowed: 1 to gpus ({m['gpus']})")
        if not m["tiers"]:
            errors.append(f"{where}.tiers: got []; allowed: a non-empty list of chat, fim, agent, embed")
        if "agent" in m["tiers"] and not m.get("tool_call_parser"):
            errors.append(f"{where}: the agent tier needs tool_call_parser (the vLLM tool call parser name)")
        if "fim" in m["tiers"] and not m.get("fim"):
            errors.append(f"{where}: the fim tier needs fim tokens (fim.prefix, fim.suffix, fim.middle)")
        if not 0 < m["gpu_memory_utilization"] <= 1:
            errors.append(f"{where}.gpu_memory_utilization: got {m['gpu_memory_utilization']}; allowed: (0, 1]")
        for key in ("input_per_token", "output_per_token"):
            if m["cost"][key] < 0:
                errors.append(f"{where}.cost.{key}: got {m['cost'][key]}; allowed: >= 0")
        if m.get("replicas") is not None and m["replicas"] < 0:
            errors.append(f"{where}.replicas: got {m['replicas']}; allowed: >= 0")
        if m.get("image"):
            errors += image_rules(f"{where}.image", m["image"])
    return errors


def image_rules(where, image):
    """An image reference must carry a pinned tag (not latest) or a digest."""
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    if "@sha256:" in image:
        return []
    if not tag or tag == "latest":
        return [f"{where}: got {image!r}; allowed: a pinned tag other than latest (or a @sha256 digest)"]
    return []


def gateway_names(models):
    return [f"{m['name']}-{tier}" for m in models for tier in m.get("tiers") or []]


def _tenant_rules(tenants, models):
    errors = []
    offered = gateway_names(models)
    teams = [t["team_id"] for t in tenants]
    aliases = [k["key_alias"] for t in tenants for k in t.get("keys") or []]
    dup_teams = sorted({t for t in teams if teams.count(t) > 1})
    dup_aliases = sorted({a for a in aliases if aliases.count(a) > 1})
    if dup_teams:
        errors.append(f"llmaas_tenants: team_id must be unique; duplicate teams {dup_teams}")
    if dup_aliases:
        errors.append(f"llmaas_tenants: key_alias must be unique; duplicate aliases {dup_aliases}")
    for team in tenants:
        where = f"llmaas_tenants[{team['team_id']!r}]"
        if not team["team_id"].strip():
            errors.append(f"{where}.team_id: got ''; allowed: a non-empty id")
        entries = [(where, team)] + [(f"{where}.keys[{k['key_alias']!r}]", k) for k in team.get("keys") or []]
        for label, entry in entries:
            if "key_alias" in entry and not entry["key_alias"].strip():
                errors.append(f"{label}.key_alias: got ''; allowed: a non-empty alias")
            elif "key_alias" in entry and not (len(entry["key_alias"]) <= KEY_ALIAS_LENGTH
                                               and DNS_SUBDOMAIN.match(entry["key_alias"])):
                errors.append(f"{label}.key_alias: got {_show(entry['key_alias'])}; allowed: lowercase letters, "
                              f"digits, '-' and '.', at most {KEY_ALIAS_LENGTH} characters (it names a file or a "
                              "Secret)")
            unknown = [m for m in entry.get("models") or [] if m not in offered]
            if unknown:
                errors.append(f"{label}.models: unknown {unknown}; models must be among {offered}")
            for key in ("max_budget", "tpm_limit", "rpm_limit", "max_parallel_requests"):
                if entry.get(key) is not None and entry[key] < 0:
                    word = "budgets >= 0" if key == "max_budget" else "limits >= 0"
                    errors.append(f"{label}.{key}: got {entry[key]}; allowed: {word}")
            for key in ("budget_duration", "duration"):
                if entry.get(key) is not None and not valid_duration(entry[key]):
                    errors.append(f"{label}.{key}: got {_show(entry[key])}; allowed: a LiteLLM duration (30s, 24h, "
                                  "30d, 1mo, daily, ...)")
    return errors


def _tree_rules(v, existing_tree):
    """Never overwrite what we did not write. Every layer writes kustomization.yaml, so a foreign one is refused
    here, before any layer; a foreign file under another name is left alone, and the layer action refuses it
    should the layer ever want that name."""
    errors = []
    for layer, files in sorted((existing_tree or {}).items()):
        for name, owned in sorted(files.items()):
            if not owned and name == "kustomization.yaml":
                errors.append(f"llmaas_render_dir: {os.path.join(layer, name)} exists without the 'Rendered by "
                              f"llmaas.platform' header; the {layer} folder is written by the stack, move that file "
                              "out (nothing was written)")
    return errors


def scan_tree(render_dir, header_prefix):
    """(refusals, {layer: {file: owned}}) for the render directory as found on disk."""
    errors, tree = [], {}
    render_dir = os.path.abspath(os.path.expanduser(str(render_dir)))
    if os.path.exists(render_dir) and not os.path.isdir(render_dir):
        return [f"llmaas_render_dir: {render_dir} is a file; allowed: a directory (or a path that does not exist "
                "yet)"], tree
    for layer in LAYERS:
        folder = os.path.join(render_dir, layer["name"])
        if os.path.exists(folder) and not os.path.isdir(folder):
            errors.append(f"llmaas_render_dir: {folder} is a file; allowed: a directory for the {layer['name']} "
                          "layer")
            continue
        if not os.path.isdir(folder):
            continue
        files = {}
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if entry.endswith(".yaml") and os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    files[entry] = handle.read(len(header_prefix)) == header_prefix
        tree[layer["name"]] = files
    return errors, tree


def gitops_path_rules(render_dir, gitops_path):
    """Inside a Git work tree the render dir must be the path Argo CD reads (llmaas_gitops.path)."""
    here = os.path.abspath(os.path.expanduser(str(render_dir)))
    probe = here
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            break
        parent = os.path.dirname(probe)
        if parent == probe:
            return []  # not inside a Git work tree: nothing to compare with
        probe = parent
    relative = os.path.relpath(here, probe)
    if relative.strip("/") != str(gitops_path).strip("/"):
        return [f"llmaas_gitops.path: got {gitops_path!r}, but llmaas_render_dir is {relative!r} inside the Git work "
                f"tree {probe}; allowed: the same path, so Argo CD reads what was rendered"]
    return []


# --- layer rules (each layer role's variables) ---------------------------------------------------------------

def _invalid_cidrs(values):
    bad = []
    for value in values:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            bad.append(value)
    return bad


def _security(v, r, c):
    errors = []
    secrets = v["llmaas_secrets"]
    features = c["features"]
    if not DNS_SUBDOMAIN.match(secrets.get("store") or ""):
        errors.append(f"llmaas_secrets.store: got {_show(secrets.get('store'))}; allowed: a DNS name")
    if secrets["backend"] == "gcp-secret-manager" and not (v.get("llmaas_gcp") or {}).get("project"):
        errors.append("llmaas_secrets: backend gcp-secret-manager needs llmaas_gcp.project")
    if secrets["backend"] == "kubernetes" and secrets.get("source_namespace") in c["namespaces"].values():
        errors.append(f"llmaas_secrets.source_namespace: got {secrets['source_namespace']!r}; allowed: a namespace "
                      "that is not one of the stack's namespaces (workloads must not share it)")
    if secrets["backend"] == "vault" and not re.match(r"^https?://", secrets.get("vault_server") or ""):
        errors.append(f"llmaas_secrets.vault_server: got {_show(secrets.get('vault_server'))}; allowed: an http(s) "
                      "URL")
    if features["sso"]:
        for key in ("oauth2_proxy_client_secret", "oauth2_proxy_cookie_secret"):
            if key not in secrets["remote_keys"]:
                errors.append(f"llmaas_secrets.remote_keys: SSO (llmaas_features.sso) needs {key}")
        apps = r["platform_security_sso_apps"] or []
        names = [a.get("name") for a in apps]
        if not apps:
            errors.append("platform_security_sso_apps: got []; allowed: at least one app when llmaas_features.sso")
        for index, app in enumerate(apps):
            label = f"platform_security_sso_apps{_entry(app, index)}"
            if not re.match(r"^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$", str(app.get("name"))):
                errors.append(f"{label}.name: got {_show(app.get('name'))}; allowed: a DNS label of at most 30 "
                              "characters")
            if not re.match(r"^https?://", str(app.get("upstream"))):
                errors.append(f"{label}.upstream: got {_show(app.get('upstream'))}; allowed: an http(s) URL")
        if len(set(names)) != len(names):
            errors.append(f"platform_security_sso_apps: names must be unique; got {names}")
    if features["network_policies"]:
        dataplane = r["platform_security_inference_dataplane"] or []
        cidrs = (list(r["platform_security_apiserver_cidrs"] or [])
                 + list(r["platform_security_model_download_cidrs"] or [])
                 + [c_ for d in dataplane for c_ in d.get("cidrs") or []]
                 + list((r["platform_security_public_ingress"] or {}).get("cidrs") or []))
        bad = _invalid_cidrs(cidrs)
        if bad:
            errors.append(f"platform_security_*_cidrs: not CIDRs {bad}; allowed: CIDRs such as 10.0.0.0/8")
        if not dataplane or any("cidrs" not in d and "pod_labels" not in d for d in dataplane):
            errors.append("platform_security_inference_dataplane: must list the inference gateway's pods or source "
                          "ranges (pod_labels or cidrs per entry), the only clients of vLLM besides Prometheus")
    return errors


def _gpu(v, r, c):
    errors = []
    gpu = c["gpu"]
    if gpu["stack"] == "gke-managed" and v["llmaas_substrate"] != "gke":
        errors.append(f"llmaas_gpu.stack: gke-managed only exists on llmaas_substrate gke; got stack 'gke-managed' on "
                      f"substrate {v['llmaas_substrate']!r} (allowed here: operator, none)")
    clients = gpu["time_slicing"]["clients_per_gpu"]
    if not 1 <= clients <= 48:
        errors.append(f"llmaas_gpu.time_slicing.clients_per_gpu: got {clients}; allowed: an integer from 1 to 48")
    if gpu["time_slicing"]["enabled"] and gpu["stack"] == "none":
        errors.append("llmaas_gpu.time_slicing: time-slicing needs llmaas_gpu.stack gke-managed or operator "
                      "(got 'none')")
    low, high = r["gpu_node_min_nodes"], r["gpu_node_max_nodes"]
    if isinstance(low, int) and isinstance(high, int) and not (low >= 0 and high >= 1 and high >= low):
        errors.append(f"gpu_node_max_nodes must be >= 1 and >= gpu_node_min_nodes (>= 0); got min {low}, max {high}")
    machine = r["gpu_node_machine_type"]
    if not MACHINE_TYPE.match(str(machine)):
        errors.append(f"gpu_node_machine_type: got {_show(machine)}; allowed: a GCE machine type name such as "
                      "g2-standard-4, e2-standard-8 or custom-4-16384")
    return errors


def _backup_rules(v, r):
    """Postgres backups need a usable object store: a bucket URL and the credentials for it."""
    dest = str(r.get("litellm_gateway_postgres_backup_destination") or "")
    if not dest:
        return []
    errors = []
    if not BACKUP_DESTINATION.match(dest):
        errors.append(f"litellm_gateway_postgres_backup_destination: got {_show(dest)}; allowed: s3://bucket[/prefix] "
                      "or gs://bucket[/prefix], or empty for no backups")
    if not re.match(r"^[1-9][0-9]*[dwm]$", str(r.get("litellm_gateway_postgres_backup_retention"))):
        errors.append(f"litellm_gateway_postgres_backup_retention: got "
                      f"{_show(r.get('litellm_gateway_postgres_backup_retention'))}; allowed: <n>d, <n>w or <n>m")
    remote = (v.get("llmaas_secrets") or {}).get("remote_keys") or {}
    missing = [k for k in ("postgres_backup_access_key_id", "postgres_backup_secret_access_key") if k not in remote]
    if dest.startswith("s3://") and missing:
        errors.append(f"llmaas_secrets.remote_keys: an s3:// litellm_gateway_postgres_backup_destination needs the "
                      f"remote keys {missing} (the object store's access key id and secret)")
    account = str(r.get("litellm_gateway_postgres_backup_gcp_service_account") or "")
    if dest.startswith("gs://") and not account.endswith(".iam.gserviceaccount.com"):
        errors.append(f"litellm_gateway_postgres_backup_gcp_service_account: got {_show(account)}; a gs:// "
                      "destination needs the Google service account (<name>@<project>.iam.gserviceaccount.com) "
                      "the Postgres pods act as through Workload Identity")
    return errors


def _serving(v, r, c):
    errors = []
    features = c["features"]
    mode = r["vllm_serving_mode"]
    if mode != "raw" and features["keda"] and features["scale_to_zero"]:
        errors.append(f"vllm_serving_mode: got {mode!r}, which cannot hold requests at 0 replicas (KServe Standard "
                      "mode has no scale from zero for HTTP); with llmaas_features.scale_to_zero true use "
                      "vllm_serving_mode raw (allowed: raw, kserve, llmisvc)")
    if r["vllm_serving_replicas"] < 0:
        errors.append(f"vllm_serving_replicas: got {r['vllm_serving_replicas']}; allowed: >= 0")
    if not 1 <= r["vllm_serving_port"] <= 65535:
        errors.append(f"vllm_serving_port: got {r['vllm_serving_port']}; allowed: 1-65535")
    keda = r["vllm_serving_keda"] or {}
    for key, low in (("threshold", 1), ("activation_threshold", 0), ("max_replicas", 0), ("cooldown_period", 0)):
        if isinstance(keda.get(key), (int, float)) and keda[key] < low:
            errors.append(f"vllm_serving_keda.{key}: got {keda[key]}; allowed: >= {low}")
    if r["vllm_serving_startup_timeout"] < 60:
        errors.append(f"vllm_serving_startup_timeout: got {r['vllm_serving_startup_timeout']}; allowed: >= 60")
    # the same GPU slots as the Kueue quota and the autoscalers' maxima (plugin_utils/gpu_capacity.py)
    errors += gpu_capacity.capacity_errors(c["models"], c["gpu"]["slots"], keda.get("max_replicas") or 0,
                                           features["keda"])
    gpu = c["gpu"]
    for m in c["models"]:
        where = f"llmaas_models[{m['name']!r}]"
        if features["ha"] and m["replicas"] < 2:
            errors.append(f"{where}.replicas: got {m['replicas']}; allowed: >= 2 when llmaas_features.ha is true")
        if v["llmaas_substrate"] == "gke" and gpu["time_slicing"]["enabled"] and m["gpus"] != 1:
            errors.append(f"{where}.gpus: got {m['gpus']}; with GKE GPU time-sharing a replica may request exactly 1 "
                          "GPU")
        if m["gpus"] > gpu["gpus_per_node"]:
            errors.append(f"{where}.gpus: got {m['gpus']}; allowed: at most llmaas_gpu.gpus_per_node "
                          f"({gpu['gpus_per_node']}), a replica must fit on one node")
    return errors


def _routing(v, r, c):
    errors = []
    if r["inference_routing_epp_replicas"] < 1:
        errors.append(f"inference_routing_epp_replicas: got {r['inference_routing_epp_replicas']}; allowed: >= 1")
    ttl, timeout = r["inference_routing_queue_ttl"], r["inference_routing_backend_timeout"]
    if not 0 < ttl < timeout:
        errors.append(f"inference_routing_queue_ttl: got {ttl}; allowed: 1 to inference_routing_backend_timeout - 1 "
                      f"({timeout - 1}), so the picker's 503 answers before the load balancer gives up")
    url = v["llmaas_inference_url"]
    match = re.match(r"^https?://([^/:]+)(:[0-9]+)?/?$", url)
    if not match:
        errors.append(f"llmaas_inference_url: got {url!r}; allowed: http(s)://host[:port] without a path")
    elif v["llmaas_substrate"] == "vast" and not r["inference_routing_gateway_class"]:
        svc = f"llmaas-inference.{c['namespaces']['routing']}"
        if match.group(1) not in (f"{svc}.svc.cluster.local", f"{svc}.svc"):
            errors.append(f"llmaas_inference_url host must be the gateway's proxy Service (agentgateway names it "
                          f"after the Gateway) {svc}.svc.cluster.local on vast (got {match.group(1)})")
    return errors


def _guardrails(v, r, c):
    errors = []
    if not c["features"]["guardrails"]:
        return errors
    if r["guardrails_replicas"] < 0:
        errors.append(f"guardrails_replicas: got {r['guardrails_replicas']}; allowed: >= 0 (0 = per profile)")
    if r["guardrails_run_as_user"] <= 0:
        errors.append(f"guardrails_run_as_user: got {r['guardrails_run_as_user']}; allowed: > 0 (non-root)")
    return errors


def _gateway(v, r, c):
    errors = []
    for key, low in (("litellm_gateway_replicas", 1), ("litellm_gateway_postgres_instances", 1),
                     ("litellm_gateway_timeout", 1), ("litellm_gateway_num_retries", 0),
                     ("litellm_gateway_unavailable_retry_after", 1)):
        if isinstance(r.get(key), int) and r[key] < low:
            errors.append(f"{key}: got {r[key]}; allowed: >= {low}")
    if not QUANTITY.match(str(r["litellm_gateway_postgres_storage_size"])):
        errors.append(f"litellm_gateway_postgres_storage_size: got {_show(r['litellm_gateway_postgres_storage_size'])}"
                      "; allowed: a size like 5Gi")
    if isinstance(r["litellm_gateway_replicas"], int) and r["litellm_gateway_replicas"] > 1 \
            and not r["litellm_gateway_redis_enabled"]:
        errors.append(f"litellm_gateway_redis_enabled must be true when litellm_gateway_replicas > 1 (got "
                      f"{r['litellm_gateway_replicas']}): without Redis each replica enforces tpm/rpm limits alone "
                      "and admits N times the limit")
    fail_closed = (r["litellm_gateway_budget_fail_closed"]
                   and not r["litellm_gateway_allow_requests_on_db_unavailable"])
    if PROFILES[v["llmaas_profile"]]["gateway_budget_fail_closed"] and not fail_closed:
        errors.append(f"llmaas_profile {v['llmaas_profile']!r} requires litellm_gateway_budget_fail_closed true and "
                      "litellm_gateway_allow_requests_on_db_unavailable false")
    if len(str(r["litellm_gateway_postgres_backup_schedule"]).split()) != 6:
        errors.append(f"litellm_gateway_postgres_backup_schedule must have six cron fields, seconds first (got "
                      f"'{r['litellm_gateway_postgres_backup_schedule']}')")
    errors += _backup_rules(v, r)
    # the tenants' opt-ins must name guardrails this gateway renders off by default (guarded model groups); an
    # opt-out (false) is refused there too, with what is allowed on this gateway
    errors += tenant_guardrails.problems(v["llmaas_tenants"], r["litellm_gateway_guardrails"])
    for key in ("litellm_gateway_resources", "litellm_gateway_redis_resources", "litellm_gateway_postgres_resources"):
        res = r.get(key) or {}
        if "requests" not in res or "limits" not in res:
            errors.append(f"{key}: needs requests and limits")
    if r["litellm_gateway_edge_enabled"]:
        paths = r["litellm_gateway_edge_paths"] or []
        if not DNS_SUBDOMAIN.match(v["llmaas_domain"]) or not paths or any(not str(p).startswith("/") for p in paths) \
                or "/metrics" in paths:
            errors.append(f"llmaas_domain must be a DNS name (got '{v['llmaas_domain']}') and "
                          f"litellm_gateway_edge_paths a non-empty list of path prefixes starting with '/', never "
                          f"/metrics (got {paths})")
    return errors


def duration_seconds(text):
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[text[-1]]


def _observability(v, r, c):
    errors = []
    objective = r["observability_slo_objective"]
    if not 0 < objective < 1:
        errors.append(f"observability_slo_objective must lie strictly between 0 and 1 (got {objective})")
    alerts = r["observability_burn_rate_alerts"] or []
    names = [a.get("name") for a in alerts]
    if len(set(names)) != len(names):
        errors.append(f"observability_burn_rate_alerts: names must be unique; got {names}")
    windows = [r["observability_latency_alert_for"], r["observability_queue_alert_for"], r["observability_slo_period"]]
    for index, alert in enumerate(alerts):
        label = f"observability_burn_rate_alerts{_entry(alert, index)}"
        windows += [alert.get("long_window"), alert.get("short_window")] + ([alert["for"]] if "for" in alert else [])
        if not isinstance(alert.get("factor"), (int, float)) or alert["factor"] <= 0:
            errors.append(f"{label}.factor: got {_show(alert.get('factor'))}; allowed: factor > 0")
        short, long_ = str(alert.get("short_window")), str(alert.get("long_window"))
        if DURATION.match(short) and DURATION.match(long_) and duration_seconds(short) >= duration_seconds(long_):
            errors.append(f"observability_burn_rate_alerts[{alert.get('name')!r}]: short_window {short} must be "
                          f"shorter than long_window {long_}")
    bad = [w for w in windows if not DURATION.match(str(w))]
    if bad:
        errors.append(f"observability windows must be a Prometheus duration with one unit such as 5m, 1h or 6h "
                      f"(invalid: {bad})")
    slos = r["observability_latency_slos"] or {}
    if any(float(s) <= 0 for s in slos.values()):
        errors.append(f"observability_latency_slos: got {slos}; allowed: values > 0 seconds")
    if float(r["observability_queue_depth_threshold"]) < 0:
        errors.append(f"observability_queue_depth_threshold: got {r['observability_queue_depth_threshold']}; "
                      "allowed: >= 0")
    if not 0 < float(r["observability_kv_cache_threshold"]) <= 1:
        errors.append(f"observability_kv_cache_threshold: got {r['observability_kv_cache_threshold']}; allowed: "
                      "observability_kv_cache_threshold in (0, 1]")
    if not 0 < float(r["observability_team_budget_warning_ratio"]) < 1:
        errors.append(f"observability_team_budget_warning_ratio: got {r['observability_team_budget_warning_ratio']}; "
                      "allowed: observability_team_budget_warning_ratio in (0, 1)")
    if c["features"]["alert_routing"] and r["observability_alert_webhook_remote_key"] not in \
            v["llmaas_secrets"]["remote_keys"]:
        errors.append(f"with llmaas_features.alert_routing on llmaas_secrets.remote_keys must name "
                      f"'{r['observability_alert_webhook_remote_key']}' (the Alertmanager webhook URL)")
    return errors


def _benchmark(v, r, c):
    errors = []
    levels = r["serving_benchmark_concurrencies"] or []
    names = [m["name"] for m in c["models"]]
    model = r["serving_benchmark_model"] or names[0]
    if not levels or any(not isinstance(x, int) or isinstance(x, bool) or x < 1 for x in levels):
        errors.append(f"serving_benchmark_concurrencies must be a non-empty list of integers >= 1 (got {levels})")
    if model not in names:
        errors.append(f"serving_benchmark_model: got {model!r}; allowed: one of {names}")
    if r["serving_benchmark_max_seconds"] < 1:
        errors.append(f"serving_benchmark_max_seconds: got {r['serving_benchmark_max_seconds']}; allowed: >= 1")
    if r["serving_benchmark_wake_seconds"] < 1:
        errors.append(f"serving_benchmark_wake_seconds: got {r['serving_benchmark_wake_seconds']}; allowed: >= 1")
    elif r["serving_benchmark_deadline_seconds"] <= (r["serving_benchmark_wake_seconds"]
                                                     + r["serving_benchmark_max_seconds"] * len(levels)):
        errors.append("serving_benchmark_deadline_seconds must be larger than wake_seconds + max_seconds x levels "
                      f"(got {r['serving_benchmark_deadline_seconds']})")
    key = r["serving_benchmark_api_key_remote_key"]
    if key and key not in v["llmaas_secrets"]["remote_keys"]:
        errors.append(f"serving_benchmark_api_key_remote_key: got {key!r}; allowed: empty or one of "
                      f"{sorted(v['llmaas_secrets']['remote_keys'])}")
    return errors


LAYER_RULES = {
    "security": _security,
    "gpu": _gpu,
    "serving": _serving,
    "routing": _routing,
    "guardrails": _guardrails,
    "gateway": _gateway,
    "observability": _observability,
    "benchmark": _benchmark,
}
