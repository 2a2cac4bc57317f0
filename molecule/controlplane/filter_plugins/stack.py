# SPDX-License-Identifier: Apache-2.0
"""Test-only filters for the control-plane molecule scenarios: what the stack consists of and how the cluster differs.

They read the tree `playbooks/site.yml` renders (llmaas_delivery: render) because that is the stack's own statement
of which objects must exist after `llmaas_delivery: apply`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import yaml

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

# Layers whose objects only exist in render mode: the Argo CD app-of-apps (apply mode sends its contents instead).
RENDER_ONLY_LAYERS = ("argocd",)


def _group_version(api_version):
    return api_version.rsplit("/", 1) if "/" in api_version else ("", api_version)


def _is_component_application(obj):
    """A pinned third-party component: an Argo CD Application in render mode, a Helm release in apply mode."""
    return obj.get("kind") == "Application" and obj.get("apiVersion", "").startswith("argoproj.io/")


def stack_objects(render_dir):
    """[{layer, object}] for every object apply mode sends: rendered layers minus render-only ones and components."""
    out = []
    for layer_dir in sorted(glob.glob(os.path.join(render_dir, "*", ""))):
        layer = os.path.basename(os.path.dirname(layer_dir))
        if layer in RENDER_ONLY_LAYERS:
            continue
        for path in sorted(glob.glob(os.path.join(layer_dir, "*.yaml"))):
            if os.path.basename(path) == "kustomization.yaml":
                continue
            with open(path, encoding="utf-8") as handle:
                for obj in yaml.load_all(handle, Loader=_Loader):
                    if obj and not _is_component_application(obj):
                        out.append({"layer": layer, "object": obj})
    if not out:
        raise ValueError(f"no rendered objects under {render_dir!r}: did site.yml render there?")
    return out


def stack_component_namespaces(render_dir):
    """Namespaces the skipped components would create (kubernetes.core.helm create_namespace), as Namespace objects."""
    names = set()
    for layer_dir in sorted(glob.glob(os.path.join(render_dir, "*", ""))):
        if os.path.basename(os.path.dirname(layer_dir)) in RENDER_ONLY_LAYERS:
            continue
        for path in sorted(glob.glob(os.path.join(layer_dir, "*.yaml"))):
            with open(path, encoding="utf-8") as handle:
                for obj in yaml.load_all(handle, Loader=_Loader):
                    if obj and _is_component_application(obj):
                        names.add(obj["spec"]["destination"]["namespace"])
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in sorted(names)]


def stack_kinds(entries):
    """Distinct (apiVersion, kind) pairs, for one k8s_info listing per kind."""
    seen = []
    for entry in entries:
        obj = entry.get("object", entry)
        pair = {"api_version": obj["apiVersion"], "kind": obj["kind"]}
        if pair not in seen:
            seen.append(pair)
    return seen


def _crd_index(crds_dir):
    index = []
    for path in sorted(glob.glob(os.path.join(crds_dir, "**", "*.y*ml"), recursive=True)):
        with open(path, encoding="utf-8") as handle:
            for doc in yaml.load_all(handle, Loader=_Loader):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc["spec"]
                    served = [v["name"] for v in spec.get("versions", []) if v.get("served", True)]
                    index.append({"path": path, "group": spec["group"], "kind": spec["names"]["kind"],
                                  "served": served, "crd": doc})
    return index


def stack_crds(entries, crds_dir, pinned_versions=()):
    """The CustomResourceDefinitions the stack's custom resources need, from a directory of upstream CRDs.

    Several files may define one CRD (Gateway API channels, GIE releases). Preference: serves every version the
    stack uses, sits under a pinned version's directory (playbooks/vars/versions.yml), is not an experimental
    channel, then the newest path. Fails when a non-core group has no CRD at all.
    """
    wanted = {}
    for entry in entries:
        obj = entry.get("object", entry)
        group, version = _group_version(obj["apiVersion"])
        if group:
            wanted.setdefault((group, obj["kind"]), set()).add(version)
    pinned = {str(v) for v in pinned_versions}
    index = _crd_index(crds_dir)
    chosen, missing = [], []
    for (group, kind), versions in sorted(wanted.items()):
        candidates = [c for c in index if c["group"] == group and c["kind"] == kind]
        if not candidates:
            if "." in group and not group.endswith(".k8s.io"):
                missing.append(f"{group}/{kind}")
            continue

        def preference(candidate, versions=versions):
            parts = set(candidate["path"].split(os.sep))
            return (versions <= set(candidate["served"]), bool(parts & pinned),
                    "experimental" not in parts, candidate["path"])

        best = max(candidates, key=preference)
        if not versions <= set(best["served"]):
            missing.append(f"{group}/{kind} {sorted(versions)} (served by the CRD: {best['served']})")
            continue
        chosen.append(best["crd"])
    if missing:
        raise ValueError(f"no CustomResourceDefinition under {crds_dir!r} for: {', '.join(missing)}")
    return chosen


def _differences(expected, live, path):
    if isinstance(expected, dict):
        if not isinstance(live, dict):
            return [f"{path}: expected a mapping, found {live!r}"]
        out = []
        for key, value in expected.items():
            if key not in live:
                out.append(f"{path}.{key}: missing")
            else:
                out.extend(_differences(value, live[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(live, list) or len(live) != len(expected):
            return [f"{path}: expected {len(expected)} items, found {live!r}"]
        out = []
        for index, (want, have) in enumerate(zip(expected, live, strict=True)):
            out.extend(_differences(want, have, f"{path}[{index}]"))
        return out
    # The API server returns resource quantities as strings: a rendered 1 is stored as "1".
    if expected != live and not (isinstance(expected, (int, float)) and not isinstance(expected, bool)
                                 and isinstance(live, str) and str(expected) == live):
        return [f"{path}: expected {expected!r}, found {live!r}"]
    return []


def _without_sync_options(obj):
    """obj without Argo CD's sync-options annotation, which only render mode writes (the layer action adds it)."""
    meta = dict(obj.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != "argocd.argoproj.io/sync-options"}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return dict(obj, metadata=meta)


def _key(obj):
    group, _ = _group_version(obj.get("apiVersion", ""))
    meta = obj.get("metadata") or {}
    return (group, obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def _live_index(info_results):
    """k8s_info results (registered with a loop over stack_kinds) -> {(group, kind, namespace, name): object}."""
    live = {}
    for result in info_results:
        item = result.get("item") or {}
        for obj in result.get("resources") or []:
            obj = dict(obj, apiVersion=obj.get("apiVersion") or item.get("api_version"),
                       kind=obj.get("kind") or item.get("kind"))
            live[_key(obj)] = obj
    return live


def stack_differences(entries, info_results):
    """Every rendered field the cluster does not hold, as 'layer Kind ns/name .path: ...' lines ([] = all there)."""
    live = _live_index(info_results)
    problems = []
    for entry in entries:
        obj = entry["object"]
        name = f"{entry['layer']} {obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        found = live.get(_key(obj))
        if found is None:
            problems.append(f"{name}: not in the cluster")
            continue
        expected = {k: v for k, v in _without_sync_options(obj).items() if k != "status"}
        problems.extend(f"{name} {line}" for line in _differences(expected, found, ""))
    return problems


def stack_names(entries):
    """'Kind namespace/name' for each entry (the form stack_present reports)."""
    return [f"{e['object']['kind']} {e['object']['metadata'].get('namespace', '')}/{e['object']['metadata']['name']}"
            for e in entries]


def stack_present(entries, info_results):
    """The rendered objects still in the cluster, as 'Kind namespace/name' strings."""
    live = _live_index(info_results)
    return stack_names([e for e in entries if _key(e["object"]) in live])


def unavailable_workloads(resources):
    """Deployments and StatefulSets whose available replicas (as the real controllers report) fall short, or whose
    status is older than their spec (a status read before a scale or an update is no answer)."""
    out = []
    for obj in resources:
        want = obj["spec"].get("replicas", 1)
        status = obj.get("status") or {}
        have = status.get("availableReplicas", 0)
        seen = status.get("observedGeneration", 0)
        if have != want or seen < obj["metadata"].get("generation", 0):
            out.append(f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}: "
                       f"{have}/{want} available (status of generation {seen})")
    return out


def _gpus(pod):
    return sum(int((c.get("resources") or {}).get("limits", {}).get("nvidia.com/gpu", 0))
               for c in pod["spec"].get("containers", []))


def placement_problems(pods, nodes):
    """Pods not where the pools promise: unbound or not Running, a GPU pod on a node without GPUs, a pod without
    GPUs on a node tainted for GPU workloads."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    out = []
    for pod in pods:
        name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        node = by_name.get(pod["spec"].get("nodeName") or "")
        if node is None or (pod.get("status") or {}).get("phase") != "Running":
            out.append(f"{name}: not running on a node (phase {(pod.get('status') or {}).get('phase')})")
            continue
        node_gpus = int((node.get("status") or {}).get("allocatable", {}).get("nvidia.com/gpu", 0))
        gpu_tainted = any(t["key"] == "nvidia.com/gpu" for t in (node["spec"].get("taints") or []))
        if _gpus(pod) and not node_gpus:
            out.append(f"{name}: asks for {_gpus(pod)} GPU(s) but runs on {node['metadata']['name']}, which has none")
        if not _gpus(pod) and gpu_tainted:
            out.append(f"{name}: needs no GPU but runs on the GPU node {node['metadata']['name']}")
    return out


def gpu_pods(pods):
    return [p for p in pods if _gpus(p)]


def priority_problems(pods, classes):
    """Pods whose priority is not the value of the PriorityClass they name (set by the Priority admission)."""
    values = {c["metadata"]["name"]: c["value"] for c in classes}
    out = []
    for pod in pods:
        wanted = pod["spec"].get("priorityClassName")
        if wanted and pod["spec"].get("priority") != values.get(wanted):
            out.append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}: priorityClassName {wanted} "
                       f"(value {values.get(wanted)}) but priority {pod['spec'].get('priority')}")
    return out


def unmet_budgets(budgets):
    """PodDisruptionBudgets the real disruption controller has not processed, or whose healthy pods fall short."""
    out = []
    for pdb in budgets:
        status, name = pdb.get("status") or {}, f"{pdb['metadata']['namespace']}/{pdb['metadata']['name']}"
        if status.get("observedGeneration") != pdb["metadata"].get("generation"):
            out.append(f"{name}: not processed by the disruption controller")
        elif status.get("currentHealthy", 0) < status.get("desiredHealthy", 0):
            out.append(f"{name}: {status.get('currentHealthy')} healthy, {status.get('desiredHealthy')} required")
    return out


def rollout_target(entries, model):
    """{namespace, name, min_available} of a model's vLLM Deployment and its PodDisruptionBudget."""
    objects = [e["object"] for e in entries]
    deployment = next(o for o in objects if o["kind"] == "Deployment"
                      and o["metadata"].get("labels", {}).get("llmaas.platform/model") == model
                      and o["metadata"]["labels"].get("app.kubernetes.io/name") == "vllm")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = next(o for o in objects if o["kind"] == "PodDisruptionBudget"
                  and o["metadata"]["namespace"] == deployment["metadata"]["namespace"]
                  and all(labels.get(k) == v for k, v in o["spec"]["selector"]["matchLabels"].items()))
    return {"namespace": deployment["metadata"]["namespace"], "name": deployment["metadata"]["name"],
            "min_available": int(budget["spec"]["minAvailable"])}


class FilterModule:
    def filters(self):
        return {
            "stack_objects": stack_objects,
            "stack_kinds": stack_kinds,
            "stack_component_namespaces": stack_component_namespaces,
            "stack_crds": stack_crds,
            "stack_differences": stack_differences,
            "stack_present": stack_present,
            "stack_names": stack_names,
            "unavailable_workloads": unavailable_workloads,
            "placement_problems": placement_problems,
            "gpu_pods": gpu_pods,
            "priority_problems": priority_problems,
            "unmet_budgets": unmet_budgets,
            "rollout_target": rollout_target,
        }
