# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure helpers behind the layer action: parse, order, name and serialise Kubernetes manifests deterministically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import yaml

HEADER_PREFIX = "# Rendered by llmaas.platform"

# Dependency order for direct apply: what others reference comes first (namespaces, CRDs, identities, config),
# then workloads, then what routes to or scales them.
KIND_ORDER = [
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ClusterSecretStore",
    "SecretStore",
    "ExternalSecret",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "NetworkPolicy",
    "ResourceFlavor",
    "ClusterQueue",
    "LocalQueue",
    "Service",
    "Cluster",
    "ScheduledBackup",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "PodDisruptionBudget",
    "InferenceService",
    "LLMInferenceService",
    "InferencePool",
    "InferenceObjective",
    "GatewayClass",
    "Gateway",
    "HTTPRoute",
    "ScaledObject",
    "HTTPScaledObject",
]


# libyaml when PyYAML has it (same YAML, same bytes here, about ten times faster: parsing and dumping were most
# of a render's time); the pure-Python classes otherwise.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):
    """Block style everywhere, multi-line strings as literal blocks, no anchors: diffs a human can read."""

    def ignore_aliases(self, data):
        return True


def _represent_str(dumper, value):
    style = "|" if "\n" in value else None
    if style:
        value = "\n".join(line.rstrip() for line in value.split("\n"))
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def plain(data):
    """Strip templating wrappers (tagged strings and the like) so the YAML dumper sees plain Python types."""
    return json.loads(json.dumps(data))


def _drop_nulls(value):
    # The API server drops explicit nulls; doing it here keeps "field: null" from templates out of Git diffs.
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _parsed(parse, origin):
    """parse() (a YAML load), its error as one ValueError naming the origin."""
    try:
        return parse()
    except yaml.YAMLError as err:
        raise ValueError(f"{origin}: rendered text is not valid YAML: {err}") from err


def load_documents(text, origin="manifest"):
    """Parse a multi-document YAML string into Kubernetes objects; empty documents are conditionals that were off."""
    docs = [doc for doc in _parsed(lambda: list(yaml.load_all(text, Loader=_SafeLoader)), origin) if doc is not None]
    objects = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            items = doc.get("items") or []
        else:
            items = [doc]
        for obj in items:
            if not isinstance(obj, dict):
                raise ValueError(f"{origin}: every document must be a mapping, got {type(obj).__name__}")
            missing = [f for f in ("apiVersion", "kind") if not obj.get(f)]
            if missing or not (obj.get("metadata") or {}).get("name"):
                raise ValueError(
                    f"{origin}: a {obj.get('kind', 'document')} lacks {', '.join(missing) or 'metadata.name'}"
                )
            objects.append(_drop_nulls(plain(obj)))
    return objects


def load_mapping(text, origin):
    """Parse one YAML mapping (a chart's values); an empty text is an empty mapping."""
    data = _parsed(lambda: yaml.load(text, Loader=_SafeLoader), origin)  # noqa: S506 - a safe loader
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{origin}: must render one YAML mapping, got {type(data).__name__}")
    return data


def dump_documents(objects, layer):
    body = "---\n".join(
        yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
        for obj in objects
    )
    return f"{HEADER_PREFIX} (layer {layer}); change the inventory, not this file.\n---\n{body}"


def object_key(obj):
    group = api_group(obj)
    return (group, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def file_name(obj, with_namespace):
    parts = [obj["kind"].lower()]
    if with_namespace and obj["metadata"].get("namespace"):
        parts.append(obj["metadata"]["namespace"])
    parts.append(obj["metadata"]["name"])
    return "-".join(p.replace(":", "-").replace(".", "-") for p in parts) + ".yaml"


def kustomization(resources):
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [r for r in resources if r != "kustomization.yaml"],
    }


def apply_order(objects):
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    indexed = list(enumerate(objects))
    indexed.sort(key=lambda pair: (rank.get(pair[1]["kind"], len(KIND_ORDER)), pair[0]))
    return [pair[1] for pair in indexed]


# API groups the API server serves itself; every other group is a custom resource whose CRD some component brings.
BUILTIN_API_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
    "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io", "resource.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io", "kustomize.config.k8s.io",
})
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"


def api_group(obj):
    return obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""


def skip_dry_run_when_crd_missing(obj):
    """Mark a custom resource so Argo CD's dry-run skips it while its CRD is not installed yet.

    Argo CD dry-runs every resource of a sync before the first wave; a custom resource whose CRD arrives with a chart
    Application of the same sync fails that dry-run and with it the whole sync. The chart Application's earlier wave
    (plus the Application health check in argocd-cm) still makes the resource wait for its CRD.
    """
    if api_group(obj) in BUILTIN_API_GROUPS or api_group(obj) == "argoproj.io":
        return obj
    annotations = obj["metadata"].setdefault("annotations", {})
    options = [o.strip() for o in annotations.get(SYNC_OPTIONS, "").split(",") if o.strip()]
    if SKIP_DRY_RUN not in options:
        annotations[SYNC_OPTIONS] = ",".join(options + [SKIP_DRY_RUN])
    return obj


def component_application(component, argocd_namespace, project):
    """A pinned third-party component (Helm chart or Git path) as an Argo CD Application synced before the layer."""
    for field in ("name", "namespace", "repo", "version"):
        if not component.get(field):
            raise ValueError(f"component {component.get('name', '?')!r} lacks {field!r}")
    source = {"repoURL": component["repo"], "targetRevision": str(component["version"])}
    if component.get("chart"):
        if source["repoURL"].startswith("oci://"):
            source["repoURL"] = source["repoURL"][len("oci://"):]
        source["chart"] = component["chart"]
        source["helm"] = {"releaseName": component["name"], "valuesObject": component.get("values") or {}}
    elif component.get("path"):
        source["path"] = component["path"]
    else:
        raise ValueError(f"component {component['name']!r} needs either chart or path")
    sync_options = ["CreateNamespace=true", "ServerSideApply=true"]
    return plain({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": component["name"],
            "namespace": argocd_namespace,
            "annotations": {"argocd.argoproj.io/sync-wave": str(component.get("wave", -1))},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": project,
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": component["namespace"]},
            # A chart's webhooks or CRDs may lag on a first install: retry with backoff instead of failing for good.
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": sync_options,
                           "retry": {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}},
        },
    })
