# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one delivery mechanism every layer role uses: render a layer to a GitOps folder or apply it to a cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail, AnsibleError, AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.action.contract import check_inventory
from ansible_collections.llmaas.platform.plugins.plugin_utils.network_policies import controller_network_policies
from ansible_collections.llmaas.platform.plugins.plugin_utils.action import LocalAction, trust_as_template
from ansible_collections.llmaas.platform.plugins.plugin_utils.contract import (
    LAYER_BY_NAME,
    ContractError,
    role_spec,
    shared_value,
)
from ansible_collections.llmaas.platform.plugins.plugin_utils.manifests import (
    HEADER_PREFIX,
    apply_order,
    component_application,
    dump_documents,
    file_name,
    kustomization,
    load_documents,
    load_mapping,
    object_key,
    plain,
    skip_dry_run_when_crd_missing,
)

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "wave": {"type": "int", "required": True},
    "templates": {"type": "list", "elements": "str", "default": []},
    "components": {"type": "list", "elements": "dict", "default": []},
    "delivery": {"type": "str", "choices": ["render", "apply"]},
    "render_dir": {"type": "path"},
    "argocd_namespace": {"type": "str"},
    "argocd_project": {"type": "str"},
    "apply_components": {"type": "bool"},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 300},
    "kubeconfig": {"type": "path"},
    "context": {"type": "str"},
}


class ActionModule(LocalAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run(self, tmp=None, task_vars=None):
        task_vars, result, args = self.start(tmp, task_vars)
        if "llmaas_contract" not in task_vars:
            if args["name"] in LAYER_BY_NAME:
                # a layer role used without preflight: check what this layer reads, then render with the contract
                task_vars = dict(task_vars, llmaas_contract=check_inventory(self, task_vars, [args["name"]]))
            else:  # a layer of your own outside the stack's registry: only what delivery needs
                task_vars = dict(task_vars, llmaas_contract=_delivery_only(self._templar, task_vars))
        self._defaults_from_inventory(args, task_vars)
        contract = task_vars["llmaas_contract"]
        # The registry's switch of the layer: off, it delivers nothing (files of an earlier run are removed).
        enabled = all(layer["enabled"] for layer in contract.get("layers", []) if layer["name"] == args["name"])
        if not enabled:
            args["templates"], args["components"] = [], []
        args["components"] = [self._with_values(c, task_vars)
                              for c in args["components"] if _switched_on(c, contract, args["name"])]

        objects = []
        for template in args["templates"]:
            objects.extend(self._render_template(template, task_vars))
        if args["delivery"] == "render":
            if args["components"]:
                # This layer's own charts bring CRDs that the first sync's dry-run cannot see yet.
                objects = [skip_dry_run_when_crd_missing(obj) for obj in objects]
            try:
                objects.extend(
                    component_application(c, args["argocd_namespace"], args["argocd_project"])
                    for c in args["components"]
                )
            except ValueError as err:
                raise AnsibleActionFail(f"layer {args['name']!r}: {err}") from err
        try:  # a chart in a namespace of its own brings that namespace's NetworkPolicies (after it: wave 0)
            network = task_vars["llmaas_contract"].get("network") or {}
            objects.extend(plain(controller_network_policies(args["components"], network)))
        except AnsibleFilterError as err:
            raise AnsibleActionFail(f"layer {args['name']!r}: {err}") from err
        self._check_unique(objects, args["name"])

        if args["delivery"] == "render":
            result.update(self._render(args, objects, enabled))
        else:
            result.update(self._apply(args, objects, task_vars))

        # What this play delivered, for the summary at the end of site.yml (the app-of-apps reads the registry).
        layers = [layer for layer in task_vars.get("llmaas_layers", []) if layer.get("name") != args["name"]]
        layers.append({"name": args["name"], "wave": args["wave"], "objects": result.get("objects", 0),
                       "files": result.get("files", 0), "written": result.get("written", []),
                       "removed": result.get("removed", []), "path": result.get("path", "")})
        result["ansible_facts"] = {"llmaas_layers": sorted(layers, key=lambda layer: (layer["wave"], layer["name"]))}
        return result

    # --- inputs ---------------------------------------------------------------------------------------------

    @staticmethod
    def _defaults_from_inventory(args, task_vars):
        """Fill unset options from the inventory's shared variables, so roles pass only what is theirs."""
        contract = task_vars["llmaas_contract"]
        fallbacks = {
            "delivery": contract["delivery"],
            "render_dir": contract["render_dir"],
            "argocd_namespace": contract["argocd"]["namespace"],
            "argocd_project": contract["argocd"]["project"],
            "apply_components": contract["apply_components"],
            "kubeconfig": contract["kubeconfig"],
            "context": contract["kube_context"],
        }
        for key, value in fallbacks.items():
            if args.get(key) is None:
                args[key] = value
        if args["delivery"] not in ("render", "apply"):
            raise AnsibleActionFail(f"llmaas_delivery must be one of: render, apply; got {args['delivery']!r}")
        if args["delivery"] == "render" and not args["render_dir"]:
            raise AnsibleActionFail("llmaas_render_dir must be set when llmaas_delivery is 'render'")
        if args["render_dir"]:
            args["render_dir"] = os.path.abspath(os.path.expanduser(str(args["render_dir"])))

    def _render_text(self, template, task_vars):
        """A template of the role (templates/) rendered with the task's variables; None when it renders nothing."""
        try:
            source = self._find_needle("templates", template)
        except AnsibleError as err:
            raise AnsibleActionFail(f"layer template {template!r} not found: {err}") from err
        text = trust_as_template(self._loader.get_text_file_contents(source))
        searchpath = [os.path.dirname(source)]
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=task_vars)
        try:
            rendered = templar.template(text, escape_backslashes=False)
        except AnsibleError as err:
            raise AnsibleActionFail(f"template {template!r} failed to render: {err}") from err
        return None if rendered is None else str(rendered)

    def _render_template(self, template, task_vars):
        rendered = self._render_text(template, task_vars)
        if rendered is None:  # a template whose every document is switched off renders to nothing
            return []
        try:
            return load_documents(rendered, origin=template)
        except ValueError as err:
            raise AnsibleActionFail(str(err)) from err

    def _with_values(self, component, task_vars):
        """A component's chart values from its values_template, rendered here like the layer's templates: a template
        lookup in the task's arguments would deep-copy every variable of the play for each chart."""
        template = component.get("values_template")
        if not template:
            return component
        if component.get("values"):
            raise AnsibleActionFail(f"component {component.get('name')!r}: give values or values_template, not both")
        try:
            values = load_mapping(self._render_text(template, task_vars) or "", origin=template)
        except ValueError as err:
            raise AnsibleActionFail(str(err)) from err
        return {**{k: v for k, v in component.items() if k != "values_template"}, "values": values}

    @staticmethod
    def _check_unique(objects, layer):
        seen = {}
        for obj in objects:
            if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
                raise AnsibleActionFail(
                    f"layer {layer!r}: Secret {obj['metadata']['name']!r} carries values; secrets reach the cluster "
                    "through ExternalSecrets and never enter the rendered tree"
                )
            key = object_key(obj)
            if key in seen:
                raise AnsibleActionFail(f"layer {layer!r}: {'/'.join(filter(None, key))} is defined twice")
            seen[key] = obj

    # --- render ---------------------------------------------------------------------------------------------

    def _render(self, args, objects, enabled=True):
        layer_dir = os.path.join(args["render_dir"], args["name"])
        wanted = {}
        names = {}
        for obj in objects:
            names.setdefault(file_name(obj, with_namespace=False), []).append(obj)
        for short, group in names.items():
            for obj in group:
                name = short if len(group) == 1 else file_name(obj, with_namespace=True)
                wanted[name] = dump_documents([obj], args["name"])
        if enabled:
            wanted["kustomization.yaml"] = dump_documents([kustomization(sorted(wanted))], args["name"])

        existing = {}
        if os.path.isdir(layer_dir):
            for entry in sorted(os.listdir(layer_dir)):
                path = os.path.join(layer_dir, entry)
                if entry.endswith(".yaml") and os.path.isfile(path):
                    with open(path, encoding="utf-8") as handle:
                        content = handle.read()
                    if content.startswith(HEADER_PREFIX):
                        existing[entry] = content
                    elif entry in wanted:  # preflight refuses this too; never overwrite a file we did not write
                        raise AnsibleActionFail(
                            f"layer {args['name']!r}: {path} exists without the 'Rendered by llmaas.platform' header;"
                            " move it out of the layer folder (it was not overwritten)")

        written, removed, diffs = [], [], []
        for entry, content in sorted(wanted.items()):
            if existing.get(entry) != content:
                written.append(entry)
                diffs.append(self._diff(layer_dir, entry, existing.get(entry, ""), content))
        for entry in sorted(set(existing) - set(wanted)):
            removed.append(entry)
            diffs.append(self._diff(layer_dir, entry, existing[entry], ""))

        if not self._task.check_mode and (written or removed):
            os.makedirs(layer_dir, exist_ok=True)
            for entry in written:
                self._write_atomically(os.path.join(layer_dir, entry), wanted[entry])
            for entry in removed:
                os.remove(os.path.join(layer_dir, entry))

        out = {
            "changed": bool(written or removed),
            "layer": args["name"],
            "path": layer_dir,
            "objects": len(objects),
            "files": len(wanted),
            "written": written,
            "removed": removed,
        }
        if self._task.diff and diffs:
            out["diff"] = diffs
        return out

    @staticmethod
    def _diff(layer_dir, entry, before, after):
        path = os.path.join(layer_dir, entry)
        return {"before_header": path if before else "(absent)", "after_header": path if after else "(absent)",
                "before": before, "after": after}

    @staticmethod
    def _write_atomically(path, content):
        tmp_path = f"{path}.tmp"
        with open(tmp_path, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(tmp_path, path)

    # --- apply ----------------------------------------------------------------------------------------------

    def _apply(self, args, objects, task_vars):
        connection = {k: args[k] for k in ("kubeconfig", "context") if args[k]}
        applied, components, waited, changed = [], [], [], False

        for component in args["components"]:
            name = component["name"]
            if not args["apply_components"]:
                components.append({"name": name, "status": "skipped (llmaas_apply_components is false)"})
                continue
            if component.get("chart"):
                res = self._module("kubernetes.core.helm", task_vars, dict(
                    connection,
                    release_name=name,
                    release_namespace=component["namespace"],
                    create_namespace=True,
                    chart_ref=_chart_ref(component),
                    chart_repo_url=None if component["repo"].startswith("oci://") else component["repo"],
                    chart_version=str(component["version"]),
                    release_values=component.get("values") or {},
                    wait=args["wait"],
                    wait_timeout=f"{args['wait_timeout']}s",
                ), f"chart {name}")
                changed |= bool(res.get("changed"))
                components.append({"name": name, "status": "changed" if res.get("changed") else "ok"})
            else:
                url = component.get("manifest_url")
                if not url:
                    raise AnsibleActionFail(f"component {name!r} has no chart and no manifest_url to apply from")
                from ansible.module_utils.urls import open_url  # only here: it imports cryptography (~0.1 s)

                docs = load_documents(open_url(url, timeout=60).read().decode("utf-8"), origin=url)
                changed |= self._apply_objects(docs, connection, args, task_vars, waited)
                components.append({"name": name, "status": f"applied {len(docs)} objects from {url}"})

        changed |= self._apply_objects(objects, connection, args, task_vars, waited)
        applied = ["/".join(filter(None, object_key(obj)[1:])) for obj in apply_order(objects)]
        return {"changed": changed, "layer": args["name"], "objects": len(objects), "applied": applied,
                "components": components, "waited_for": waited}

    def _apply_objects(self, objects, connection, args, task_vars, waited):
        """Server-side apply in dependency order, one module run per stretch of objects that wait alike."""
        changed = False
        for wait_condition, batch in _batches(apply_order(objects), args["wait"]):
            module_args = dict(connection, definition=batch, state="present", apply=True,
                               server_side_apply={"field_manager": "llmaas-platform", "force_conflicts": True})
            if wait_condition is not None:
                module_args.update(wait=True, wait_timeout=args["wait_timeout"])
                if wait_condition:
                    module_args["wait_condition"] = wait_condition
                waited.extend(f"{obj['kind']}/{obj['metadata']['name']}" for obj in batch)
            names = ", ".join(f"{obj['kind']}/{obj['metadata']['name']}" for obj in batch[:3])
            what = names + (f" and {len(batch) - 3} more" if len(batch) > 3 else "")
            changed |= bool(self._module("kubernetes.core.k8s", task_vars, module_args, what).get("changed"))
        return changed

    def _module(self, name, task_vars, module_args, what):
        res = self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
        if res.get("failed"):
            raise AnsibleActionFail(f"applying {what} failed: {_failure_message(res)}")
        return res


def _switched_on(component, contract, layer):
    """A component with `feature: <switch of llmaas_features>` is delivered only while that switch is on."""
    switch = component.get("feature")
    if switch is None:
        return True
    features = contract.get("features") or {}
    if switch not in features:
        raise AnsibleActionFail(f"layer {layer!r}: component {component.get('name')!r} has feature {switch!r}; "
                                f"allowed: a switch of llmaas_features ({', '.join(sorted(features)) or 'none known'})")
    return bool(features[switch])


def _delivery_only(templar, task_vars):
    """Delivery settings for a layer outside the registry, each read as the contract reads it (defaults of the
    preflight spec, text given with -e typed: -e llmaas_apply_components=false is false)."""
    spec = role_spec("preflight", "inventory")

    def value(name):
        try:
            return shared_value(name, templar.template(task_vars.get(name)))
        except ContractError as err:
            raise AnsibleActionFail("; ".join(err.errors)) from None

    gitops = task_vars.get("llmaas_gitops") or {}
    namespaces = task_vars.get("llmaas_namespaces") or {}
    return {
        "delivery": value("llmaas_delivery"),
        "render_dir": value("llmaas_render_dir"),
        "apply_components": value("llmaas_apply_components"),
        "kubeconfig": value("llmaas_kubeconfig"),
        "kube_context": value("llmaas_kube_context"),
        "argocd": {
            "namespace": namespaces.get("argocd", spec["llmaas_namespaces"]["options"]["argocd"]["default"]),
            "project": gitops.get("project", spec["llmaas_gitops"]["options"]["project"]["default"]),
        },
    }


def _failure_message(res):
    """The one line a person needs from a failed module result (never the whole result dict)."""
    error = res.get("error") if isinstance(res.get("error"), dict) else {}
    for text in (res.get("msg"), error.get("msg"), res.get("stderr"), res.get("module_stderr"),
                 res.get("exception")):
        if text:
            lines = [line for line in str(text).strip().splitlines() if line.strip()]
            return lines[-1] if len(lines) > 3 else " ".join(lines)
    return "the module failed without a message"


def _chart_ref(component):
    if component["repo"].startswith("oci://"):
        return f"{component['repo'].rstrip('/')}/{component['chart']}"
    return component["chart"]


def _batches(ordered, wait):
    """Consecutive objects that share a readiness check go to the cluster in one module run."""
    batches = []
    for obj in ordered:
        condition = _wait_condition(obj) if wait else None
        if batches and batches[-1][0] == condition:
            batches[-1][1].append(obj)
        else:
            batches.append((condition, [obj]))
    return batches


def _wait_condition(obj):
    """What readiness means per kind: None = do not wait, {} = kubernetes.core's default readiness check."""
    kind = obj.get("kind")
    if kind == "CustomResourceDefinition":
        return {"type": "Established", "status": "True"}
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        return {}
    return None
