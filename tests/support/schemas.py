"""Strict schema validation of rendered objects: Kubernetes OpenAPI for built-in kinds, upstream CRDs for the rest.

An object whose kind has no schema is an error, never a skip: a typo in apiVersion must not pass silently.
"""

import os
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CRDS_DIR = ROOT.parent / "shared" / "crds"
# Gateway API ships the same CRD names in two channels; the stack targets the standard channel.
SKIPPED_CRD_DIRS = ("gateway-api/experimental",)


def crds_dir():
    return Path(os.environ.get("LLMAAS_CRDS_DIR", DEFAULT_CRDS_DIR))


def _pattern(validator, pattern, instance, schema):
    """CRD patterns are Go RE2; a pattern Python cannot compile is left unchecked rather than failing the CRD."""
    if not validator.is_type(instance, "string"):
        return
    try:
        compiled = re.compile(pattern)
    except re.error:
        return
    if not compiled.search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})


def _strict(schema, top=True):
    """Reject unknown fields like the API server's strict field validation, except where the CRD preserves them."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k not in ("properties", "items", "additionalProperties")}
    props = schema.get("properties")
    if props is not None:
        out["properties"] = {k: _strict(v, top=False) for k, v in props.items()}
        if top:
            # apiVersion/kind/metadata are checked by the API machinery, not the CRD schema
            out["properties"].setdefault("apiVersion", {"type": "string"})
            out["properties"].setdefault("kind", {"type": "string"})
            out["properties"]["metadata"] = {"type": "object"}
    if "items" in schema:
        out["items"] = _strict(schema["items"], top=False)
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(schema["additionalProperties"], top=False)
    elif "additionalProperties" in schema:
        out["additionalProperties"] = schema["additionalProperties"]
    elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            out[key] = [_strict(s, top=False) for s in schema[key]]
    if schema.get("nullable"):
        out.pop("type", None)
    return out


class CRDIndex:
    """(group, version, kind) -> (validator, served) from the upstream CRD files."""

    def __init__(self, path):
        self.path = Path(path)
        self.entries = {}
        for file in sorted(self.path.rglob("*.yaml")):
            rel = file.relative_to(self.path).as_posix()
            if any(rel.startswith(skip) for skip in SKIPPED_CRD_DIRS):
                continue
            for doc in yaml.load_all(file.read_text(), Loader=_Loader):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    self.entries[key] = (_Validator(_strict(schema)), version.get("served", True), rel)

    def lookup(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        return self.entries.get((group, version, kind))


def validate_object(obj, crds, kubernetes_version):
    """Errors (list of strings) for one object; empty when valid."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} ({obj.get('apiVersion')})"
    entry = crds.lookup(obj["apiVersion"], obj["kind"])
    if entry is not None:
        validator, served, source = entry
        if not served:
            return [f"{where}: version is not served by the CRD ({source})"]
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message} [CRD {source}]"
                for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema: neither a Kubernetes {kubernetes_version} kind nor a CRD in {crds.path}"]
    except kubernetes_validate.ValidationError as err:
        return [f"{where}: {'/'.join(map(str, err.absolute_path))}: {err.message} [Kubernetes {kubernetes_version}]"]
    return []
