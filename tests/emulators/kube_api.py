"""Kubernetes API server EMULATOR for tests (no kube-apiserver, no Docker, no controllers).

This is an emulator, not Kubernetes. It speaks enough of the Kubernetes REST API for the ``kubernetes``
Python client and the kubernetes.core collection (k8s, k8s_info) to run against it:

* discovery: ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>[/<version>]`` (APIResourceList with
  kind, namespaced, verbs, shortNames, singularName, subresources) and the aggregated form
  (``Accept: ...;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) for clients that ask for it;
* CRUD on built-in kinds and custom resources with uid, resourceVersion, creationTimestamp, generation and a
  managedFields stub; Kubernetes ``Status`` bodies for 400/401/403/404/405/409/415/422;
* PATCH: ``application/merge-patch+json`` (RFC 7386), ``application/json-patch+json`` (RFC 6902),
  ``application/strategic-merge-patch+json`` (built-in kinds only, like the real server; an approximation, see
  ``strategic_merge``) and ``application/apply-patch+yaml`` (server-side apply approximation, see ``_apply``);
* label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``) and field selectors (``=``, ``!=``
  on any dotted path, more permissive than the real server which allows only a few fields per kind);
* deletion with finalizers (deletionTimestamp until they are removed), ownerReference cascade (Background and
  Foreground behave the same: immediate), ``Orphan``; deleting a namespace removes everything in it at once;
* CustomResourceDefinition registration: a CRD makes its group/versions/plural served and gets
  ``Established=True``; deleting it stops serving them and removes its custom resources;
* "controller" emulation: workloads report ready status at once (Deployment, StatefulSet, DaemonSet, Job, Pod),
  PVCs are Bound by an emulated provisioner, Services get a cluster IP, namespaces get ``default`` service
  account and ``kube-root-ca.crt``.

Not implemented (documented so no one mistakes it for a cluster): watch, pagination (``limit`` is ignored, everything
is returned), admission webhooks, RBAC authorisation (one bearer token, all allowed), OpenAPI schema validation and
pruning of custom resources, version conversion (custom resources are stored once and returned with the requested
apiVersion), server-side apply conflict detection (no 409 on field ownership), scale/log/exec subresources,
API aggregation (APIService objects are stored, their groups are not served), pods are never created by workloads.

Use it as a context manager::

    with KubeApiEmulator() as api:
        api.write_kubeconfig(path)

or as a process: ``python -m emulators.kube_api --port 0 --kubeconfig /tmp/kubeconfig`` (run from ``tests/``).
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime
import hashlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LOG = logging.getLogger("kube_api_emulator")
NAME = "kube-api emulator"
EMULATED_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-emulator", "platform": "linux/amd64",
                     "goVersion": "emulated", "compiler": "emulated", "gitCommit": "emulator", "gitTreeState": "clean",
                     "buildDate": "2026-01-01T00:00:00Z"}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]
STATUS_VERBS = ["get", "patch", "update"]
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
NODE_NAME = "kube-api-emulator-node"


# --------------------------------------------------------------------------------------------------------------------
# Resource types
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple = ()
    subresources: tuple = ("status",)
    custom: bool = False
    categories: tuple = ()
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple:
        """Objects are stored once per group/plural whatever version they were written with."""
        return (self.group, self.plural)

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


# (group, versions, plural, kind, namespaced, shortNames, subresources)
_BUILTINS = [
    ("", ["v1"], "namespaces", "Namespace", False, ("ns",), ("status", "finalize")),
    ("", ["v1"], "configmaps", "ConfigMap", True, ("cm",), ()),
    ("", ["v1"], "secrets", "Secret", True, (), ()),
    ("", ["v1"], "services", "Service", True, ("svc",), ("status",)),
    ("", ["v1"], "serviceaccounts", "ServiceAccount", True, ("sa",), ()),
    ("", ["v1"], "pods", "Pod", True, ("po",), ("status",)),
    ("", ["v1"], "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    ("", ["v1"], "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",)),
    ("", ["v1"], "resourcequotas", "ResourceQuota", True, ("quota",), ("status",)),
    ("", ["v1"], "limitranges", "LimitRange", True, ("limits",), ()),
    ("", ["v1"], "endpoints", "Endpoints", True, ("ep",), ()),
    ("", ["v1"], "events", "Event", True, ("ev",), ()),
    ("", ["v1"], "nodes", "Node", False, ("no",), ("status",)),
    ("apps", ["v1"], "deployments", "Deployment", True, ("deploy",), ("status",)),
    ("apps", ["v1"], "statefulsets", "StatefulSet", True, ("sts",), ("status",)),
    ("apps", ["v1"], "daemonsets", "DaemonSet", True, ("ds",), ("status",)),
    ("apps", ["v1"], "replicasets", "ReplicaSet", True, ("rs",), ("status",)),
    ("apps", ["v1"], "controllerrevisions", "ControllerRevision", True, (), ()),
    ("batch", ["v1"], "jobs", "Job", True, (), ("status",)),
    ("batch", ["v1"], "cronjobs", "CronJob", True, ("cj",), ("status",)),
    ("policy", ["v1"], "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",)),
    ("networking.k8s.io", ["v1"], "networkpolicies", "NetworkPolicy", True, ("netpol",), ()),
    ("networking.k8s.io", ["v1"], "ingresses", "Ingress", True, ("ing",), ("status",)),
    ("networking.k8s.io", ["v1"], "ingressclasses", "IngressClass", False, (), ()),
    ("rbac.authorization.k8s.io", ["v1"], "roles", "Role", True, (), ()),
    ("rbac.authorization.k8s.io", ["v1"], "rolebindings", "RoleBinding", True, (), ()),
    ("rbac.authorization.k8s.io", ["v1"], "clusterroles", "ClusterRole", False, (), ()),
    ("rbac.authorization.k8s.io", ["v1"], "clusterrolebindings", "ClusterRoleBinding", False, (), ()),
    ("autoscaling", ["v2", "v1"], "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), ("status",)),
    ("scheduling.k8s.io", ["v1"], "priorityclasses", "PriorityClass", False, ("pc",), ()),
    ("storage.k8s.io", ["v1"], "storageclasses", "StorageClass", False, ("sc",), ()),
    ("node.k8s.io", ["v1"], "runtimeclasses", "RuntimeClass", False, (), ()),
    ("coordination.k8s.io", ["v1"], "leases", "Lease", True, (), ()),
    ("discovery.k8s.io", ["v1"], "endpointslices", "EndpointSlice", True, (), ()),
    ("admissionregistration.k8s.io", ["v1"], "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
     False, (), ()),
    ("admissionregistration.k8s.io", ["v1"], "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
     False, (), ()),
    ("apiextensions.k8s.io", ["v1"], "customresourcedefinitions", "CustomResourceDefinition", False, ("crd", "crds"),
     ("status",)),
    ("apiregistration.k8s.io", ["v1"], "apiservices", "APIService", False, (), ("status",)),
]

# groups whose objects carry metadata.generation (the real registry strategies set it for these, not for core/rbac)
_GENERATION_GROUPS = {"apps", "batch", "policy", "networking.k8s.io", "autoscaling", "apiextensions.k8s.io",
                      "scheduling.k8s.io", "apiregistration.k8s.io"}
_SYSTEM_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")


def version_priority(version: str) -> tuple:
    """Sort key: v2 < v1 < v1beta2 < v1beta1 < v1alpha1 < anything else (as the API server orders versions)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    return (stage, -int(match.group(1)), -int(match.group(3) or 0), version)


def builtin_resources() -> list[ApiResource]:
    out = []
    for group, versions, plural, kind, namespaced, short, subs in _BUILTINS:
        for version in versions:
            out.append(ApiResource(group, version, plural, kind, namespaced, tuple(short), tuple(subs)))
    return out


# --------------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType", 422: "Invalid",
               500: "InternalError"}

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _not_found(rtype: ApiResource, name: str) -> ApiError:
    qualified = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
    return ApiError(404, f'{qualified} "{name}" not found', "NotFound",
                    {"name": name, "group": rtype.group, "kind": rtype.plural})


# --------------------------------------------------------------------------------------------------------------------
# Merge algorithms
# --------------------------------------------------------------------------------------------------------------------

# patchMergeKey by field name (k8s.io/api generated.proto); "ports" depends on where it is, see _list_key
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
_PRIMITIVE_MERGE_LISTS = {"finalizers"}  # patchStrategy: merge on a list of strings (metadata.finalizers)


def _list_key(kind: str, path: tuple, items: list) -> str | None:
    """Merge key of a list field for a built-in kind, or None when the list is atomic (replaced whole)."""
    name = path[-1] if path else ""
    if name == "ports":
        if len(path) >= 2 and path[-2] in ("containers", "initContainers", "ephemeralContainers"):
            return "containerPort"
        if kind == "Service" and path == ("spec", "ports"):
            return "port"
        return None
    if name == "secrets" and kind == "ServiceAccount":
        return "name"
    if name == "webhooks" and kind.endswith("WebhookConfiguration"):
        return "name"
    key = _MERGE_KEYS.get(name)
    if key and all(isinstance(item, dict) for item in items):
        return key
    return None


def _strip_directives(value):
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(original, patch, kind: str = "", path: tuple = ()):
    """Strategic merge patch, approximated.

    Like the real server: maps merge recursively, ``null`` deletes, lists with a patchMergeKey (containers, env,
    volumes, volumeMounts, ports, conditions, ...) merge item by item on that key, ``metadata.finalizers`` is a
    union, every other list is replaced; directives ``$patch: delete|replace|merge`` and
    ``$deleteFromPrimitiveList/<field>`` are honoured. Differs from the real server in: merge keys are looked up by
    field name (plus the context of ``ports``) rather than from the Go type of each field, ``$retainKeys`` and
    ``$setElementOrder`` are ignored (order: existing items first, new ones appended).
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            target = key.split("/", 1)[1]
            if isinstance(result.get(target), list):
                result[target] = [v for v in result[target] if v not in (value or [])]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value, kind, path + (key,))
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, kind, path + (key,))
        else:
            result[key] = value
    return result


def _merge_list(original, patch: list, kind: str, path: tuple) -> list:
    original = original if isinstance(original, list) else []
    if path and path[-1] in _PRIMITIVE_MERGE_LISTS:
        return original + [v for v in patch if v not in original]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    key = _list_key(kind, path, [i for i in patch if not (isinstance(i, dict) and "$patch" in i)] + original)
    if key is None:
        return _strip_directives(copy.deepcopy(patch))
    merged = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            continue
        index = next((n for n, cur in enumerate(merged) if isinstance(cur, dict) and cur.get(key) == item.get(key)),
                     None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(_strip_directives(item))
        else:
            merged[index] = strategic_merge(merged[index], item, kind, path)
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc, parts: list[str]):
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def json_patch(document, operations: list):
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(document)
    if not isinstance(operations, list):
        raise ApiError(400, "json patch body must be a list of operations")
    for op in operations:
        try:
            kind = op["op"]
            parts = _pointer(op["path"])
            if kind in ("add", "replace", "test"):
                value = copy.deepcopy(op["value"])
            if kind == "test":
                if _resolve(doc, parts) != value:
                    raise ApiError(422, f"json patch test failed at {op['path']}")
                continue
            if kind in ("move", "copy"):
                source = _pointer(op["from"])
                value = copy.deepcopy(_resolve(doc, source))
                if kind == "move":
                    parent = _resolve(doc, source[:-1])
                    del parent[int(source[-1]) if isinstance(parent, list) else source[-1]]
                kind = "add"
            if not parts:
                if kind == "remove":
                    raise ApiError(422, "cannot remove the whole document")
                doc = value
                continue
            parent = _resolve(doc, parts[:-1])
            last = parts[-1]
            if isinstance(parent, list):
                if kind == "add":
                    parent.insert(len(parent) if last == "-" else int(last), value)
                elif kind == "remove":
                    del parent[int(last)]
                else:
                    parent[int(last)] = value
            else:
                if kind in ("remove", "replace") and last not in parent:
                    raise ApiError(422, f"json patch {kind}: path {op['path']} does not exist")
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = value
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, f"json patch operation {op!r} failed: {exc}") from exc
    return doc


# --------------------------------------------------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s*\((.*)\)\s*$")


def parse_label_selector(selector: str) -> list[tuple]:
    """'a=b,c!=d,e in (x,y),f notin (z),g,!h' -> [(key, op, values)]."""
    terms, depth, current = [], 0, ""
    for char in selector or "":
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    requirements = []
    for term in (t.strip() for t in terms):
        if not term:
            continue
        match = _SET_RE.match(term)
        if match:
            values = {v.strip() for v in match.group(3).split(",") if v.strip()}
            requirements.append((match.group(1), match.group(2), values))
        elif term.startswith("!"):
            requirements.append((term[1:].strip(), "!exists", None))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            requirements.append((key.strip(), "!=", {value.strip()}))
        elif "==" in term or "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            requirements.append((key.strip(), "=", {value.strip()}))
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            requirements.append((term, "exists", None))
        else:
            raise ApiError(400, f"unable to parse requirement: {term!r}")
    return requirements


def labels_match(labels: dict, requirements: list[tuple]) -> bool:
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op in ("=", "in") and (not present or labels[key] not in values):
            return False
        if op in ("!=", "notin") and present and labels[key] in values:
            return False
    return True


def fields_match(obj: dict, selector: str) -> bool:
    for term in (t.strip() for t in (selector or "").split(",")):
        if not term:
            continue
        negate = "!=" in term
        key, value = term.split("!=" if negate else ("==" if "==" in term else "="), 1)
        current = obj
        for part in key.strip().split("."):
            current = current.get(part) if isinstance(current, dict) else None
        actual = "" if current is None else str(current).lower() if isinstance(current, bool) else str(current)
        if (actual == value.strip()) == negate:
            return False
    return True


# --------------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_status_and_meta(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _comparable(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    meta = out.get("metadata", {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    return out


def _condition(old_conditions: list, ctype: str, status: str, reason: str, message: str, now: str,
               update_time: bool = False) -> dict:
    """A condition that keeps its lastTransitionTime while its status does not change (so no-op writes stay no-op)."""
    previous = next((c for c in old_conditions or [] if c.get("type") == ctype), None)
    since = previous["lastTransitionTime"] if previous and previous.get("status") == status else now
    cond = {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}
    if update_time:
        cond["lastUpdateTime"] = previous.get("lastUpdateTime", since) if previous else since
    return cond


def fields_v1(value, kind: str = "", path: tuple = (), custom: bool = False) -> dict:
    """A FieldsV1 set for a (partial) object: enough to look like managedFields, not used for conflict detection."""
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            if not path and key in ("apiVersion", "kind"):
                continue
            if path == ("metadata",) and key in _SYSTEM_METADATA + ("name", "namespace"):
                continue
            out[f"f:{key}"] = fields_v1(sub, kind, path + (key,), custom)
        return out
    if isinstance(value, list):
        key = None if custom else _list_key(kind, path, value)
        if not key:
            return {}
        return {"k:" + json.dumps({key: item.get(key)}, separators=(",", ":")):
                {".": {}, **fields_v1(item, kind, path, custom)} for item in value if isinstance(item, dict)}
    return {}


# --------------------------------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes = b""
    content_type: str = ""
    user_agent: str = ""

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


class KubeApiEmulator:
    """In-memory Kubernetes API server emulator; see the module docstring for what it does and does not do."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = "kube-api-emulator-token",
                 nodes: int = 1, dump_path: str | None = None):
        self.host = host
        self.port = port
        self.token = token
        self.dump_path = dump_path
        self._lock = threading.RLock()
        self._types: dict[tuple, ApiResource] = {}
        self._objects: dict[tuple, dict[tuple, dict]] = {}
        self._applied: dict[str, dict[str, dict]] = {}  # uid -> field manager -> last applied configuration
        self._rv = 1000
        self._ip = 10
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=20000)  # (method, path, code), for tests
        for rtype in builtin_resources():
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype
        self._bootstrap(nodes)

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> KubeApiEmulator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> KubeApiEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=NAME, daemon=True)
        self._thread.start()
        LOG.info("%s listening on %s (this is an emulator, not a Kubernetes cluster)", NAME, self.url)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            LOG.info("%s stopped", NAME)
        if self.dump_path:
            self.dump(self.dump_path)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def kubeconfig(self, namespace: str = "default") -> dict:
        user = {"token": self.token} if self.token else {}
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "kube-api-emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "kube-api-emulator-user", "user": user}],
            "contexts": [{"name": "kube-api-emulator", "context": {"cluster": "kube-api-emulator",
                                                                    "user": "kube-api-emulator-user",
                                                                    "namespace": namespace}}],
            "current-context": "kube-api-emulator",
        }

    def write_kubeconfig(self, path: str | os.PathLike) -> str:
        """Write a kubeconfig pointing at this emulator (atomically: readers never see half a file)."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig-")
        with os.fdopen(fd, "w") as handle:
            handle.write(f"# written by the {NAME} (tests/emulators/kube_api.py); not a real cluster\n")
            yaml.safe_dump(self.kubeconfig(), handle, sort_keys=False)
        os.replace(tmp, path)
        return path

    def dump(self, path: str | os.PathLike | None = None) -> dict:
        """All stored objects (for debugging); written as JSON when a path is given."""
        with self._lock:
            state = {"emulator": NAME, "resourceVersion": self._rv,
                     "objects": [obj for store in self._objects.values() for obj in store.values()]}
            state = copy.deepcopy(state)
        if path:
            with open(path, "w") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
        return state

    # ---------------------------------------------------------------- direct access for tests

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[dict]:
        with self._lock:
            out = [copy.deepcopy(o) for store in self._objects.values() for o in store.values()
                   if (kind is None or o.get("kind") == kind)
                   and (namespace is None or o["metadata"].get("namespace") == namespace)]
        return sorted(out, key=lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def resource_types(self) -> list[ApiResource]:
        with self._lock:
            return list(self._types.values())

    # ---------------------------------------------------------------- bootstrap

    def _bootstrap(self, nodes: int) -> None:
        for name in PROTECTED_NAMESPACES:
            self._create(self._type("", "v1", "namespaces"), None, {"metadata": {"name": name}}, "kube-apiserver")
        for index in range(nodes):
            name = NODE_NAME if index == 0 else f"{NODE_NAME}-{index}"
            self._create(self._type("", "v1", "nodes"), None, {
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                      "kubernetes.io/arch": "amd64"}},
                "spec": {}}, "kube-apiserver")
        self._create(self._type("storage.k8s.io", "v1", "storageclasses"), None, {
            "metadata": {"name": "standard",
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "emulator.kube-api/no-op", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate"}, "kube-apiserver")

    # ---------------------------------------------------------------- routing

    def _type(self, group: str, version: str, plural: str) -> ApiResource:
        rtype = self._types.get((group, version, plural))
        if rtype is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        return rtype

    def handle(self, req: _Request) -> tuple[int, object, str]:
        """Answer one request: (HTTP code, body, content type)."""
        segments = [unquote(s) for s in req.path.split("/") if s]
        if req.path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok", "text/plain"
        if segments == ["version"]:
            return 200, EMULATED_VERSION, "application/json"
        if not segments or segments[0] not in ("api", "apis"):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        with self._lock:
            if req.method == "GET":
                discovery = self._discovery(segments, req)
                if discovery is not None:
                    return discovery
            if segments[0] == "api":
                if len(segments) < 3:
                    raise ApiError(405, f"{req.method} is not allowed on {req.path}")
                group, version, rest = "", segments[1], segments[2:]
            else:
                if len(segments) < 4:
                    raise ApiError(405, f"{req.method} is not allowed on {req.path}")
                group, version, rest = segments[1], segments[2], segments[3:]
            namespace = None
            if (rest[0] == "namespaces" and len(rest) >= 3
                    and (candidate := self._types.get((group, version, rest[2]))) and candidate.namespaced):
                namespace, rest = rest[1], rest[2:]
            if len(rest) > 3:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            rtype = self._type(group, version, rest[0])
            name = rest[1] if len(rest) > 1 else None
            sub = rest[2] if len(rest) > 2 else None
            if sub and sub not in rtype.subresources:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            if name and rtype.namespaced and namespace is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            return self._resource_request(req, rtype, namespace, name, sub)

    # ---------------------------------------------------------------- discovery

    def _groups(self) -> dict[str, list[str]]:
        """group -> versions, preferred first (Kubernetes version priority: GA > beta > alpha, higher first)."""
        groups: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            versions = groups.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return {g: sorted(v, key=version_priority) for g, v in groups.items()}

    def _resource_list(self, group: str, version: str) -> list[dict]:
        out = []
        for rtype in self._types.values():
            if (rtype.group, rtype.version) != (group, version):
                continue
            entry = {"name": rtype.plural, "singularName": rtype.singular_name, "namespaced": rtype.namespaced,
                     "kind": rtype.kind, "verbs": ALL_VERBS}
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            out.append(entry)
            for sub in rtype.subresources:
                out.append({"name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced,
                            "kind": rtype.kind, "verbs": STATUS_VERBS})
        return out

    def _discovery(self, segments: list[str], req: _Request):
        accept = req.headers.get("accept", "")
        aggregated = "as=APIGroupDiscoveryList" in accept
        groups = self._groups()
        if segments == ["api"]:
            if aggregated:
                return 200, self._aggregated([""]), AGGREGATED_DISCOVERY
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}]}, "application/json"
        if segments == ["apis"]:
            names = [g for g in groups if g]
            if aggregated:
                return 200, self._aggregated(names), AGGREGATED_DISCOVERY
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [self._group_info(g, groups[g]) for g in names]}, "application/json"
        if segments[0] == "apis" and len(segments) == 2:
            if segments[1] not in groups or not segments[1]:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            return 200, {"kind": "APIGroup", "apiVersion": "v1",
                         **self._group_info(segments[1], groups[segments[1]])}, "application/json"
        if (segments[0] == "api" and len(segments) == 2) or (segments[0] == "apis" and len(segments) == 3):
            group, version = ("", segments[1]) if segments[0] == "api" else (segments[1], segments[2])
            if version not in groups.get(group, []):
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            api_version = f"{group}/{version}" if group else version
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version,
                         "resources": self._resource_list(group, version)}, "application/json"
        return None

    @staticmethod
    def _group_info(group: str, versions: list[str]) -> dict:
        listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": listed, "preferredVersion": listed[0]}

    def _aggregated(self, group_names: list[str]) -> dict:
        groups = self._groups()
        items = []
        for group in group_names:
            versions = []
            for version in groups.get(group, []):
                resources = []
                for rtype in self._types.values():
                    if (rtype.group, rtype.version) != (group, version):
                        continue
                    kind = {"group": group, "version": version, "kind": rtype.kind}
                    resources.append({
                        "resource": rtype.plural, "responseKind": kind, "singularResource": rtype.singular_name,
                        "scope": "Namespaced" if rtype.namespaced else "Cluster", "verbs": ALL_VERBS,
                        "shortNames": list(rtype.short_names), "categories": list(rtype.categories),
                        "subresources": [{"subresource": s, "responseKind": kind, "verbs": STATUS_VERBS}
                                         for s in rtype.subresources]})
                versions.append({"version": version, "resources": resources, "freshness": "Current"})
            items.append({"metadata": {"name": group}, "versions": versions})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                "items": items}

    # ---------------------------------------------------------------- resource requests

    def _body(self, req: _Request):
        if not req.body:
            return None
        try:
            if "yaml" in req.content_type:
                return yaml.safe_load(req.body)
            return json.loads(req.body)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, f"the request body could not be decoded: {exc}") from exc

    def _manager(self, req: _Request) -> str:
        return req.param("fieldManager") or (req.user_agent.split("/")[0] if req.user_agent else "unknown")

    def _resource_request(self, req: _Request, rtype: ApiResource, namespace: str | None, name: str | None,
                          sub: str | None) -> tuple[int, object, str]:
        dry_run = req.param("dryRun") == "All"
        method = req.method
        if name is None:
            if method == "GET":
                return 200, self._list(rtype, namespace, req), "application/json"
            if method == "POST":
                body = self._body(req)
                if not isinstance(body, dict):
                    raise ApiError(400, "the request body must be an object")
                self._check_kind(rtype, body)
                obj = self._create(rtype, namespace, body, self._manager(req), dry_run=dry_run)
                return 201, self._present(rtype, obj), "application/json"
            if method == "DELETE":
                return 200, self._delete_collection(rtype, namespace, req, dry_run), "application/json"
            raise ApiError(405, f"{method} is not allowed on a collection")
        if method == "GET":
            return 200, self._present(rtype, self._get(rtype, namespace, name)), "application/json"
        if method == "PUT":
            body = self._body(req)
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be an object")
            self._check_kind(rtype, body)
            obj = self._replace(rtype, namespace, name, body, sub, self._manager(req), dry_run)
            return 200, self._present(rtype, obj), "application/json"
        if method == "PATCH":
            code, obj = self._patch(rtype, namespace, name, sub, req, dry_run)
            return code, self._present(rtype, obj), "application/json"
        if method == "DELETE":
            if sub:
                raise ApiError(405, "DELETE is not allowed on a subresource")
            return 200, self._delete(rtype, namespace, name, req, dry_run), "application/json"
        raise ApiError(405, f"{method} is not allowed")

    @staticmethod
    def _check_kind(rtype: ApiResource, body: dict) -> None:
        if body.get("kind") and body["kind"] != rtype.kind:
            raise ApiError(400, f"the kind {body['kind']!r} of the body does not match the endpoint ({rtype.kind})")

    @staticmethod
    def _present(rtype: ApiResource, obj: dict, in_list: bool = False) -> dict:
        out = copy.deepcopy(obj)
        if in_list and not rtype.custom:
            # the real server leaves apiVersion/kind out of built-in list items
            out.pop("apiVersion", None)
            out.pop("kind", None)
        else:
            out["apiVersion"] = rtype.api_version
            out["kind"] = rtype.kind
            out = {"apiVersion": out.pop("apiVersion"), "kind": out.pop("kind"), **out}
        return out

    def _store(self, rtype: ApiResource) -> dict[tuple, dict]:
        return self._objects.setdefault(rtype.storage_key, {})

    def _get(self, rtype: ApiResource, namespace: str | None, name: str) -> dict:
        obj = self._store(rtype).get((namespace or "", name))
        if obj is None:
            raise _not_found(rtype, name)
        return obj

    def _list(self, rtype: ApiResource, namespace: str | None, req: _Request) -> dict:
        label_req = parse_label_selector(req.param("labelSelector", ""))
        field_sel = req.param("fieldSelector", "")
        items = []
        for (ns, _), obj in sorted(self._store(rtype).items()):
            if namespace is not None and ns != namespace:
                continue
            if not labels_match(obj["metadata"].get("labels"), label_req):
                continue
            if field_sel and not fields_match(obj, field_sel):
                continue
            items.append(self._present(rtype, obj, in_list=True))
        return {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    # ---------------------------------------------------------------- writes

    def _check_namespace(self, rtype: ApiResource, namespace: str | None, body: dict) -> str:
        meta = body.setdefault("metadata", {})
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return ""
        if namespace is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the "
                                "request")
        meta["namespace"] = namespace
        ns_obj = self._store(self._type("", "v1", "namespaces")).get(("", namespace))
        if ns_obj is None:
            raise ApiError(404, f'namespaces "{namespace}" not found', "NotFound",
                           {"name": namespace, "kind": "namespaces"})
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f"unable to create new content in namespace {namespace} because it is being "
                                "terminated", "Forbidden")
        return namespace

    def _create(self, rtype: ApiResource, namespace: str | None, body: dict, manager: str, dry_run: bool = False,
                operation: str = "Update") -> dict:
        body = copy.deepcopy(body)
        namespace = self._check_namespace(rtype, namespace, body)
        meta = body["metadata"]
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise ApiError(422, f"{rtype.kind} is invalid: metadata.name: Required value", "Invalid")
        name = meta["name"]
        if (namespace, name) in self._store(rtype):
            qualified = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
            raise ApiError(409, f'{qualified} "{name}" already exists', "AlreadyExists",
                           {"name": name, "group": rtype.group, "kind": rtype.plural})
        for key in _SYSTEM_METADATA:
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if rtype.custom or rtype.group in _GENERATION_GROUPS:
            meta["generation"] = 1
        if rtype.subresources and "status" in rtype.subresources:
            body.pop("status", None)
        body["apiVersion"], body["kind"] = rtype.api_version, rtype.kind
        self._validate(rtype, body, None)
        self._normalize(rtype, body, None)
        self._reconcile(rtype, body, None)
        self._set_managed(rtype, body, manager, operation, body)
        if dry_run:
            body["metadata"]["resourceVersion"] = str(self._rv)
            return body
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._store(rtype)[(namespace, name)] = body
        self._after_write(rtype, body, None)
        LOG.debug("%s: created %s %s/%s", NAME, rtype.kind, namespace, name)
        return body

    def _commit(self, rtype: ApiResource, existing: dict, new: dict, manager: str, operation: str,
                dry_run: bool, status_only: bool = False, managed_body: dict | None = None) -> dict:
        """Store an updated object; a write that changes nothing does not bump resourceVersion (as the real one)."""
        new = copy.deepcopy(new)
        # stored once whatever version wrote it (no conversion); _present sets the version a client asked for
        new["apiVersion"], new["kind"] = existing["apiVersion"], rtype.kind
        meta = new.setdefault("metadata", {})
        old_meta = existing["metadata"]
        if meta.get("name", old_meta["name"]) != old_meta["name"]:
            raise ApiError(400, "the name of the object does not match the name on the URL")
        if meta.get("namespace", old_meta.get("namespace")) != old_meta.get("namespace"):
            raise ApiError(400, "the namespace of the object does not match the namespace on the URL")
        if meta.get("resourceVersion") and operation == "Update" and meta["resourceVersion"] != \
                old_meta["resourceVersion"]:
            raise ApiError(409, f'Operation cannot be fulfilled on {rtype.plural} "{old_meta["name"]}": the object '
                                "has been modified; please apply your changes to the latest version and try again",
                           "Conflict", {"name": old_meta["name"], "group": rtype.group, "kind": rtype.plural})
        for key in _SYSTEM_METADATA:
            if key in old_meta:
                meta[key] = copy.deepcopy(old_meta[key])
            else:
                meta.pop(key, None)
        meta["name"] = old_meta["name"]
        if "namespace" in old_meta:
            meta["namespace"] = old_meta["namespace"]
        if status_only:
            new = {**copy.deepcopy(existing), "status": new.get("status")}
            if new["status"] is None:
                new.pop("status")
        elif "status" in rtype.subresources:
            if "status" in existing:
                new["status"] = copy.deepcopy(existing["status"])
            else:
                new.pop("status", None)
        self._validate(rtype, new, existing)
        self._normalize(rtype, new, existing)
        if "generation" in old_meta and _strip_status_and_meta(new) != _strip_status_and_meta(existing):
            new["metadata"]["generation"] = old_meta["generation"] + 1
        if not status_only:
            self._reconcile(rtype, new, existing)
        if _comparable(new) == _comparable(existing):
            return existing
        self._set_managed(rtype, new, manager, operation, managed_body if managed_body is not None else new)
        if dry_run:
            return new
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        key = (old_meta.get("namespace", ""), old_meta["name"])
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rtype, key)
            return new
        self._store(rtype)[key] = new
        self._after_write(rtype, new, existing)
        return new

    def _replace(self, rtype, namespace, name, body, sub, manager, dry_run) -> dict:
        existing = self._get(rtype, namespace, name)
        return self._commit(rtype, existing, body, manager, "Update", dry_run, status_only=sub == "status")

    def _patch(self, rtype, namespace, name, sub, req: _Request, dry_run) -> tuple[int, dict]:
        ctype = req.content_type.split(";")[0].strip()
        body = self._body(req)
        manager = self._manager(req)
        if ctype == "application/apply-patch+yaml":
            return self._apply(rtype, namespace, name, sub, body, req, dry_run)
        existing = self._get(rtype, namespace, name)
        if ctype == "application/merge-patch+json":
            new = merge_patch(existing, body)
        elif ctype == "application/json-patch+json":
            new = json_patch(existing, body)
        elif ctype == "application/strategic-merge-patch+json":
            if rtype.custom:
                raise ApiError(415, "the body of the request was in an unknown format - accepted media types "
                                    "include: application/json-patch+json, application/merge-patch+json, "
                                    "application/apply-patch+yaml", "UnsupportedMediaType")
            new = strategic_merge(existing, body, rtype.kind)
        else:
            raise ApiError(415, f"the body of the request was in an unknown format - {ctype!r} is not a patch type "
                                "the emulator knows", "UnsupportedMediaType")
        if not isinstance(new, dict):
            raise ApiError(422, "the patched object is not an object")
        managed = body if isinstance(body, dict) else new
        return 200, self._commit(rtype, existing, new, manager, "Update", dry_run, status_only=sub == "status",
                                 managed_body=managed)

    def _apply(self, rtype, namespace, name, sub, body, req: _Request, dry_run) -> tuple[int, dict]:
        """Server-side apply, approximated.

        Creates the object when missing; otherwise removes the fields this field manager applied last time and
        no longer applies, then merges the applied configuration (maps recursively, lists keyed like strategic
        merge for built-in kinds, atomic lists for custom resources). No ownership conflicts are reported: the
        ``force`` parameter is accepted and has no effect.
        """
        manager = req.param("fieldManager")
        if not manager:
            raise ApiError(400, "PATCH /apply requires fieldManager to be set", "BadRequest")
        if not isinstance(body, dict) or not body.get("apiVersion") or not body.get("kind"):
            raise ApiError(400, "an applied configuration must have apiVersion and kind")
        self._check_kind(rtype, body)
        config = copy.deepcopy(body)
        config.setdefault("metadata", {})
        if config["metadata"].get("name", name) != name:
            raise ApiError(400, "the name of the object does not match the name on the URL")
        config["metadata"]["name"] = name
        store_key = (namespace or "", name)
        if store_key not in self._store(rtype):
            if sub:
                raise _not_found(rtype, name)
            obj = self._create(rtype, namespace, config, manager, dry_run=dry_run, operation="Apply")
            if not dry_run:
                self._applied.setdefault(obj["metadata"]["uid"], {})[manager] = config
            return 201, obj
        existing = self._store(rtype)[store_key]
        uid = existing["metadata"]["uid"]
        previous = self._applied.get(uid, {}).get(manager, {})
        new = copy.deepcopy(existing)
        _ssa_remove(new, previous, config, rtype)
        new = _ssa_merge(new, config, rtype)
        result = self._commit(rtype, existing, new, manager, "Apply", dry_run, status_only=sub == "status",
                              managed_body=config)
        if not dry_run:
            self._applied.setdefault(uid, {})[manager] = config
        return 200, result

    # ---------------------------------------------------------------- deletes

    def _remove(self, rtype: ApiResource, key: tuple) -> dict | None:
        obj = self._store(rtype).pop(key, None)
        if obj is None:
            return None
        self._applied.pop(obj["metadata"]["uid"], None)
        self._rv += 1
        self._after_delete(rtype, obj)
        return obj

    def _delete_object(self, rtype: ApiResource, obj: dict, policy: str, dry_run: bool) -> dict:
        if dry_run:
            return obj
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if meta.get("finalizers") and rtype.kind != "Namespace":
            if not meta.get("deletionTimestamp"):
                updated = copy.deepcopy(obj)
                updated["metadata"]["deletionTimestamp"] = _now()
                updated["metadata"]["deletionGracePeriodSeconds"] = 0
                self._rv += 1
                updated["metadata"]["resourceVersion"] = str(self._rv)
                self._store(rtype)[key] = updated
                return updated
            return obj
        self._remove(rtype, key)
        if policy != "Orphan":
            self._collect_dependents(meta["uid"], policy)
        LOG.debug("%s: deleted %s %s/%s", NAME, rtype.kind, key[0], key[1])
        return obj

    def _collect_dependents(self, uid: str, policy: str) -> None:
        """Garbage collection: delete objects whose ownerReferences point at a deleted uid."""
        for (group, plural), store in list(self._objects.items()):
            rtype = self._type_for_storage(group, plural)
            if rtype is None:
                continue
            for obj in list(store.values()):
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", [])):
                    self._delete_object(rtype, obj, policy, False)

    def _type_for_storage(self, group: str, plural: str) -> ApiResource | None:
        return next((t for t in self._types.values() if t.storage_key == (group, plural)), None)

    @staticmethod
    def _delete_policy(req: _Request, body) -> str:
        policy = req.param("propagationPolicy")
        if isinstance(body, dict):
            policy = body.get("propagationPolicy") or policy
            if body.get("orphanDependents") is True:
                policy = "Orphan"
        return policy or "Background"

    def _delete(self, rtype, namespace, name, req: _Request, dry_run) -> dict:
        obj = self._get(rtype, namespace, name)
        body = self._body(req)
        if isinstance(body, dict) and body.get("preconditions"):
            pre = body["preconditions"]
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"] or (
                    pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]):
                raise ApiError(409, "the precondition of the delete did not match", "Conflict")
        if rtype.kind == "Namespace" and name in PROTECTED_NAMESPACES:
            raise ApiError(403, f'namespaces "{name}" is forbidden: this namespace may not be deleted', "Forbidden")
        deleted = self._delete_object(rtype, obj, self._delete_policy(req, body), dry_run)
        if deleted["metadata"].get("deletionTimestamp") and (namespace or "", name) in self._store(rtype):
            return self._present(rtype, deleted)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": rtype.group, "kind": rtype.plural,
                            "uid": obj["metadata"]["uid"]}}

    def _delete_collection(self, rtype, namespace, req: _Request, dry_run) -> dict:
        listing = self._list(rtype, namespace, req)
        policy = self._delete_policy(req, self._body(req))
        deleted = []
        for item in listing["items"]:
            meta = item["metadata"]
            if rtype.kind == "Namespace" and meta["name"] in PROTECTED_NAMESPACES:
                continue
            obj = self._store(rtype).get((meta.get("namespace", ""), meta["name"]))
            if obj is not None:
                deleted.append(self._present(rtype, self._delete_object(rtype, obj, policy, dry_run), in_list=True))
        listing["items"] = deleted
        return listing

    # ---------------------------------------------------------------- per-kind behaviour ("controllers")

    def _validate(self, rtype: ApiResource, obj: dict, existing: dict | None) -> None:
        if rtype.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            problems = []
            if not spec.get("group") or not names.get("plural") or not names.get("kind"):
                problems.append("spec.group, spec.names.plural and spec.names.kind are required")
            elif obj["metadata"]["name"] != f"{names['plural']}.{spec['group']}":
                problems.append(f"metadata.name: must be spec.names.plural+\".\"+spec.group "
                                f"({names['plural']}.{spec['group']})")
            if spec.get("scope") not in ("Namespaced", "Cluster"):
                problems.append("spec.scope: must be Namespaced or Cluster")
            versions = spec.get("versions") or []
            if not versions or sum(1 for v in versions if v.get("storage")) != 1:
                problems.append("spec.versions: exactly one version must be marked as storage version")
            if existing and problems == [] and existing["spec"].get("group") != spec.get("group"):
                problems.append("spec.group: field is immutable")
            if problems:
                raise ApiError(422, f'CustomResourceDefinition.apiextensions.k8s.io "{obj["metadata"]["name"]}" is '
                                    f"invalid: {'; '.join(problems)}", "Invalid")

    def _normalize(self, rtype: ApiResource, obj: dict, existing: dict | None) -> None:
        """Defaults and conversions the real API server applies on write."""
        kind = rtype.kind
        spec = obj.get("spec")
        if kind == "Secret":
            string_data = obj.pop("stringData", None) or {}
            data = obj.setdefault("data", {}) or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
            if not obj["data"]:
                obj.pop("data")
            obj.setdefault("type", "Opaque")
        elif kind == "Namespace":
            obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = \
                obj["metadata"]["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
        elif kind in ("Deployment", "StatefulSet", "ReplicaSet") and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            if kind == "StatefulSet":
                spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
                spec.setdefault("podManagementPolicy", "OrderedReady")
            if kind == "Deployment":
                spec.setdefault("strategy", {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        elif kind == "DaemonSet" and isinstance(spec, dict):
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        elif kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            old_spec = (existing or {}).get("spec", {})
            if spec["type"] != "ExternalName":
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = old_spec.get("clusterIP") or self._allocate_ip()
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")
            if "storageClassName" not in spec:
                spec["storageClassName"] = "standard"
            spec.setdefault("volumeName", f"pvc-{obj['metadata']['uid']}")
        elif kind == "CustomResourceDefinition":
            obj["spec"].setdefault("conversion", {"strategy": "None"})

    def _allocate_ip(self) -> str:
        self._ip += 1
        return f"10.96.{self._ip // 250}.{self._ip % 250 + 1}"

    def _reconcile(self, rtype: ApiResource, obj: dict, existing: dict | None) -> None:
        """Status the controllers of a healthy cluster would report, at once."""
        kind = rtype.kind
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        old_status = (existing or {}).get("status") or {}
        old_conditions = old_status.get("conditions") or []
        now = _now()
        generation = meta.get("generation")
        if kind == "Namespace":
            obj["status"] = {"phase": "Terminating" if meta.get("deletionTimestamp") else "Active"}
        elif kind == "Deployment":
            replicas = spec.get("replicas", 1)
            status = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                      "readyReplicas": replicas, "availableReplicas": replicas}
            obj["status"] = {k: v for k, v in status.items() if v}
            obj["status"]["observedGeneration"] = generation
            obj["status"]["conditions"] = [
                _condition(old_conditions, "Available", "True", "MinimumReplicasAvailable",
                           "Deployment has minimum availability.", now, update_time=True),
                _condition(old_conditions, "Progressing", "True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{meta["name"]}-emulated" has successfully progressed.', now,
                           update_time=True)]
        elif kind == "StatefulSet":
            replicas = spec.get("replicas", 1)
            revision = f"{meta['name']}-" + hashlib.sha256(
                json.dumps(spec.get("template"), sort_keys=True).encode()).hexdigest()[:10]
            obj["status"] = {"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
                             "currentReplicas": replicas, "updatedReplicas": replicas,
                             "availableReplicas": replicas, "currentRevision": revision,
                             "updateRevision": revision, "collisionCount": 0}
        elif kind == "DaemonSet":
            selector = (((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")) or {}
            nodes = [n for n in self._store(self._type("", "v1", "nodes")).values()
                     if all(n["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]
            count = len(nodes)
            obj["status"] = {"observedGeneration": generation, "desiredNumberScheduled": count,
                             "currentNumberScheduled": count, "updatedNumberScheduled": count,
                             "numberReady": count, "numberAvailable": count, "numberMisscheduled": 0}
        elif kind == "ReplicaSet":
            replicas = spec.get("replicas", 1)
            obj["status"] = {"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
                             "availableReplicas": replicas, "fullyLabeledReplicas": replicas}
        elif kind == "Job":
            completions = spec.get("completions", 1)
            start = old_status.get("startTime", now)
            obj["status"] = {"startTime": start, "completionTime": old_status.get("completionTime", now),
                             "succeeded": completions, "active": 0, "ready": 0, "terminating": 0,
                             "conditions": [
                                 _condition(old_conditions, "SuccessCriteriaMet", "True", "CompletionsReached",
                                            "Reached expected number of succeeded pods", now),
                                 _condition(old_conditions, "Complete", "True", "CompletionsReached",
                                            "Reached expected number of succeeded pods", now)]}
        elif kind == "Pod":
            spec.setdefault("nodeName", NODE_NAME)
            containers = spec.get("containers") or []
            obj["status"] = {
                "phase": "Running", "podIP": old_status.get("podIP") or self._allocate_ip(),
                "conditions": [_condition(old_conditions, t, "True", "", "", now)
                               for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "ready": True,
                                       "started": True, "restartCount": 0,
                                       "state": {"running": {"startedAt": meta["creationTimestamp"]}}}
                                      for c in containers]}
        elif kind == "PersistentVolumeClaim":
            requests = ((spec.get("resources") or {}).get("requests")) or {}
            obj["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                             "capacity": {"storage": requests.get("storage", "1Gi")}}
        elif kind == "Service":
            if spec.get("type") == "LoadBalancer":
                ip = (old_status.get("loadBalancer", {}).get("ingress") or [{}])[0].get("ip") or \
                    f"198.51.100.{self._ip % 250 + 1}"
                obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}
            else:
                obj["status"] = {"loadBalancer": {}}
        elif kind == "HorizontalPodAutoscaler":
            replicas = spec.get("minReplicas", 1)
            obj["status"] = {"currentReplicas": replicas, "desiredReplicas": replicas}
        elif kind == "PodDisruptionBudget":
            obj["status"] = {"observedGeneration": generation, "currentHealthy": 0, "desiredHealthy": 0,
                             "expectedPods": 0, "disruptionsAllowed": 0}
        elif kind == "CustomResourceDefinition":
            names = spec.get("names") or {}
            accepted = {"plural": names.get("plural"), "kind": names.get("kind"),
                        "singular": names.get("singular") or (names.get("kind") or "").lower(),
                        "listKind": names.get("listKind") or f"{names.get('kind')}List"}
            for optional in ("shortNames", "categories"):
                if names.get(optional):
                    accepted[optional] = names[optional]
            storage = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
            stored = list(old_status.get("storedVersions") or [])
            obj["status"] = {
                "acceptedNames": accepted, "storedVersions": stored + [v for v in storage if v not in stored],
                "conditions": [
                    _condition(old_conditions, "NamesAccepted", "True", "NoConflicts", "no conflicts found", now),
                    _condition(old_conditions, "Established", "True", "InitialNamesAccepted",
                               "the initial names have been accepted", now)]}
        elif kind == "APIService":
            if spec.get("service"):
                cond = _condition(old_conditions, "Available", "False", "EmulatorDoesNotAggregate",
                                  f"the {NAME} stores APIService objects but does not proxy aggregated APIs", now)
            else:
                cond = _condition(old_conditions, "Available", "True", "Local", "Local APIServices are always "
                                  "available", now)
            obj["status"] = {"conditions": [cond]}

    def _after_write(self, rtype: ApiResource, obj: dict, existing: dict | None) -> None:
        if rtype.kind == "CustomResourceDefinition":
            if existing:
                self._unregister_crd(existing, keep_objects=True)
            self._register_crd(obj)
        elif rtype.kind == "Namespace" and existing is None:
            namespace = obj["metadata"]["name"]
            self._create(self._type("", "v1", "serviceaccounts"), namespace, {"metadata": {"name": "default"}},
                         "kube-controller-manager")
            self._create(self._type("", "v1", "configmaps"), namespace, {
                "metadata": {"name": "kube-root-ca.crt",
                             "annotations": {"kubernetes.io/description": f"emulated by the {NAME}"}},
                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nemulated\n-----END CERTIFICATE-----\n"}},
                "kube-controller-manager")

    def _after_delete(self, rtype: ApiResource, obj: dict) -> None:
        if rtype.kind == "CustomResourceDefinition":
            self._unregister_crd(obj, keep_objects=False)
        elif rtype.kind == "Namespace":
            namespace = obj["metadata"]["name"]
            for (group, plural), store in list(self._objects.items()):
                rtype_in_ns = self._type_for_storage(group, plural)
                for key in [k for k in store if k[0] == namespace]:
                    if rtype_in_ns is None:
                        store.pop(key)
                    else:
                        self._remove(rtype_in_ns, key)

    def _register_crd(self, crd: dict) -> None:
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            subresources = tuple(sorted((version.get("subresources") or {}).keys()))
            rtype = ApiResource(spec["group"], version["name"], names["plural"], names["kind"],
                                spec["scope"] == "Namespaced", tuple(names.get("shortNames") or ()), subresources,
                                custom=True, categories=tuple(names.get("categories") or ()),
                                singular=names.get("singular") or names["kind"].lower())
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype
        LOG.info("%s: serving %s/%s (%s)", NAME, spec["group"], names["plural"],
                 ",".join(v["name"] for v in spec["versions"] if v.get("served", True)))

    def _unregister_crd(self, crd: dict, keep_objects: bool) -> None:
        spec = crd["spec"]
        group, plural = spec["group"], spec["names"]["plural"]
        for key in [k for k, t in self._types.items() if t.custom and t.storage_key == (group, plural)]:
            del self._types[key]
        if not keep_objects:
            for obj in self._objects.pop((group, plural), {}).values():
                self._applied.pop(obj["metadata"]["uid"], None)
            LOG.info("%s: stopped serving %s/%s", NAME, group, plural)

    def _set_managed(self, rtype: ApiResource, obj: dict, manager: str, operation: str, applied: dict) -> None:
        entries = [e for e in obj["metadata"].get("managedFields") or []
                   if not (e.get("manager") == manager and e.get("operation") == operation)]
        entry = {"manager": manager, "operation": operation, "apiVersion": rtype.api_version, "time": _now(),
                 "fieldsType": "FieldsV1",
                 "fieldsV1": fields_v1({k: v for k, v in applied.items() if k != "status"}, rtype.kind,
                                       custom=rtype.custom)}
        obj["metadata"]["managedFields"] = entries + [entry]


def _ssa_list_key(rtype: ApiResource, path: tuple, items: list) -> str | None:
    return None if rtype.custom else _list_key(rtype.kind, path, items)


def _ssa_remove(target, previous, config, rtype: ApiResource, path: tuple = ()) -> None:
    """Remove from target what the manager applied before (previous) and no longer applies (config)."""
    if not isinstance(target, dict) or not isinstance(previous, dict):
        return
    config = config if isinstance(config, dict) else {}
    for key, prev_value in previous.items():
        if path == ("metadata",) and key in ("name", "namespace"):
            continue
        if key not in config:
            target.pop(key, None)
        elif isinstance(prev_value, dict):
            _ssa_remove(target.get(key), prev_value, config[key], rtype, path + (key,))
        elif isinstance(prev_value, list) and isinstance(target.get(key), list):
            list_key = _ssa_list_key(rtype, path + (key,), prev_value)
            if not list_key:
                continue
            wanted = {item.get(list_key) for item in config[key] or [] if isinstance(item, dict)}
            target[key] = [item for item in target[key] if not (
                isinstance(item, dict) and item.get(list_key) not in wanted
                and any(p.get(list_key) == item.get(list_key) for p in prev_value if isinstance(p, dict)))]
            for item in target[key]:
                prev_item = next((p for p in prev_value if isinstance(p, dict)
                                  and p.get(list_key) == item.get(list_key)), None)
                new_item = next((c for c in config[key] if isinstance(c, dict)
                                 and c.get(list_key) == item.get(list_key)), None)
                if prev_item and new_item:
                    _ssa_remove(item, prev_item, new_item, rtype, path + (key,))


def _ssa_merge(target, config, rtype: ApiResource, path: tuple = ()):
    if not isinstance(config, dict):
        return copy.deepcopy(config)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in config.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = _ssa_merge(result.get(key), value, rtype, path + (key,))
        elif isinstance(value, list):
            list_key = _ssa_list_key(rtype, path + (key,), value)
            current = result.get(key) if isinstance(result.get(key), list) else []
            if list_key is None:
                result[key] = copy.deepcopy(value)
                continue
            merged = copy.deepcopy(current)
            for item in value:
                index = next((n for n, cur in enumerate(merged)
                              if isinstance(cur, dict) and cur.get(list_key) == item.get(list_key)), None)
                if index is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[index] = _ssa_merge(merged[index], item, rtype, path + (key,))
            result[key] = merged
        else:
            result[key] = value
    return result


# --------------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    emulator: KubeApiEmulator
    protocol_version = "HTTP/1.1"
    server_version = "kube-api-emulator/1.33"

    def log_message(self, fmt, *args):  # route http.server's access log to logging
        LOG.debug("%s: " + fmt, NAME, *args)

    def _send(self, code: int, payload, content_type: str) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Emulator", "kube-api-emulator")
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = _Request(method=self.command, path=split.path, query=parse_qs(split.query),
                       headers={k.lower(): v for k, v in self.headers.items()}, body=body,
                       content_type=self.headers.get("Content-Type", ""),
                       user_agent=self.headers.get("User-Agent", ""))
        emulator = self.emulator
        try:
            open_paths = ("/healthz", "/livez", "/readyz", "/version")
            if emulator.token and req.path not in open_paths and \
                    req.headers.get("authorization") != f"Bearer {emulator.token}":
                raise ApiError(401, "Unauthorized (the kube-api emulator expects its bearer token)")
            code, payload, content_type = emulator.handle(req)
        except ApiError as exc:
            code, payload, content_type = exc.code, exc.status(), "application/json"
        except Exception as exc:  # an emulator bug must be visible, not a hung client
            LOG.exception("%s: internal error on %s %s", NAME, self.command, self.path)
            code, payload, content_type = 500, ApiError(500, f"{NAME} internal error: {exc!r}").status(), \
                "application/json"
        emulator.requests.append((self.command, self.path, code))
        LOG.info("%s: %s %s -> %s", NAME, self.command, self.path, code)
        self._send(code, payload, content_type)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


# --------------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.kube_api",
                                     description="Kubernetes API server EMULATOR for tests (not a cluster).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see the kubeconfig)")
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig pointing at the emulator")
    parser.add_argument("--token", default="kube-api-emulator-token")
    parser.add_argument("--dump", help="write all stored objects as JSON here on exit")
    parser.add_argument("--pidfile", help="write the process id here once serving")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(message)s")
    LOG.setLevel(logging.INFO if args.verbose else logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emulator = KubeApiEmulator(host=args.host, port=args.port, token=args.token, dump_path=args.dump).start()
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write(f"{os.getpid()}\n")
    emulator.write_kubeconfig(args.kubeconfig)
    print(f"{NAME} serving {emulator.url} (kubeconfig {args.kubeconfig}); this is an emulator, not a cluster",
          file=sys.stderr, flush=True)
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
