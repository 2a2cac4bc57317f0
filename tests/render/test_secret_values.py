"""The promise of every ExternalSecret: what a consumer reads is ONE value of the backend, not the whole object.

The backend is filled as docs/secrets.md says (kubernetes and vault: one object per remote key, the value under
`value`; gcp-secret-manager: the remote key's payload is the value). What External Secrets syncs for a remoteRef is
modelled on its providers:
- kubernetes: external-secrets/external-secrets providers/v1/kubernetes/client.go `GetSecret`: without `property`
  it returns the JSON serialisation of the whole Secret's data; with one it returns `secret.Data[property]`.
- vault (KV v2): same shape, the whole KV entry as JSON without `property` (providers/v1/vault client, getSecret).
- gcpsm: the payload itself without `property`; with one, the payload is read as JSON and a plain value fails.
A consumer is a pod's `secretKeyRef` (or a template of the ExternalSecret) naming the synced Secret and key.
"""

import json
import re

import pytest

from .conftest import INVENTORIES, Tree, render
from .security_helpers import load_inventory, pod_templates


class SyncError(Exception):
    pass


def _backend(secrets, remote_keys):
    """{remote key: stored object} filled the way docs/secrets.md tells the operator, one distinct value per key."""
    stored = {}
    for remote in remote_keys:
        value = f"value-of-{remote}"
        stored[remote] = value if secrets["backend"] == "gcp-secret-manager" else {"value": value}
    return stored


def _fetch(backend_kind, stored, ref):
    """What External Secrets returns for one remoteRef (see the module docstring for the upstream source)."""
    if ref["key"] not in stored:
        raise SyncError(f"remote key {ref['key']} does not exist")
    obj = stored[ref["key"]]
    prop = ref.get("property", "")
    if backend_kind == "gcp-secret-manager":
        if not prop:
            return obj
        try:
            return str(json.loads(obj)[prop])
        except (ValueError, TypeError, KeyError) as exc:
            raise SyncError(f"{ref['key']}: property {prop} on a plain payload") from exc
    if not prop:
        return json.dumps(obj, sort_keys=True)
    if prop not in obj:
        raise SyncError(f"{ref['key']}: property {prop} does not exist")
    return obj[prop]


def _synced(es, backend_kind, stored):
    """{key: value} of the Secret External Secrets writes for this ExternalSecret."""
    values = {d["secretKey"]: _fetch(backend_kind, stored, d["remoteRef"]) for d in es["spec"].get("data", [])}
    template = (es["spec"].get("target") or {}).get("template")
    if template and template.get("data"):
        def fill(text):
            return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: values[m.group(1)], str(text))
        # literal template entries (a user name) carry no secret value
        return {k: fill(v) for k, v in template["data"].items() if "{{" in str(v)}
    return values


def _consumers(tree):
    """(namespace, secret name, key, who) for every secretKeyRef of every rendered pod template."""
    found = []
    for kind, ns, name, template in pod_templates(tree):
        spec = template["spec"]
        for c in (spec.get("initContainers") or []) + spec["containers"]:
            for env in c.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    found.append((ns, ref["name"], ref["key"], f"{kind}/{name}:{c['name']}:{env['name']}"))
    return found


def _check(tree, secrets):
    # every remote key the stack names exists (docs/secrets.md lists them, the optional Dex one included)
    named = {d["remoteRef"]["key"] for es in tree.objects(kind="ExternalSecret") for d in es["spec"].get("data", [])}
    stored = _backend(secrets, named | set(secrets["remote_keys"].values()))
    singles = {v if isinstance(v, str) else v["value"] for v in stored.values()}
    synced = {}
    for es in tree.objects(kind="ExternalSecret"):
        target = (es["spec"].get("target") or {}).get("name") or es["metadata"]["name"]
        synced[(es["metadata"]["namespace"], target)] = (es, _synced(es, secrets["backend"], stored))
    assert synced, "no ExternalSecret rendered"
    problems = []
    # Every synced key holds exactly one backend value (or a template around them), never a serialised object.
    for (ns, target), (_es, values) in synced.items():
        for key, value in values.items():
            if value not in singles and not any(s in value for s in singles):
                problems.append(f"{ns}/{target}[{key}] = {value!r}")
            if value.lstrip().startswith("{"):
                problems.append(f"{ns}/{target}[{key}] is a whole object: {value!r}")
    # Every consumer of a synced Secret reads one single backend value.
    for ns, name, key, who in _consumers(tree):
        if (ns, name) in synced:
            value = synced[(ns, name)][1].get(key)
            if value not in singles:
                problems.append(f"{who} reads {ns}/{name}[{key}] = {value!r}")
    return problems


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_consumers_read_one_backend_value(rendered, inventory):
    secrets = load_inventory(inventory)["llmaas_secrets"]
    assert _check(rendered[inventory], secrets) == []


def test_vault_backend_consumers_read_one_value(tmp_path):
    inv = load_inventory("vast")
    secrets = dict(inv["llmaas_secrets"], backend="vault", vault_server="https://vault.example.com:8200")
    secrets.pop("source_namespace")
    proc = render("vast", tmp_path, {"llmaas_secrets": secrets})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _check(Tree(tmp_path), secrets) == []


def test_the_check_catches_a_ref_without_property():
    """The old form (remoteRef with only `key`) on the kubernetes backend hands consumers the whole object."""
    es = {"metadata": {"name": "hf-token", "namespace": "llm-serving"},
          "spec": {"target": {"name": "hf-token"},
                   "data": [{"secretKey": "HF_TOKEN", "remoteRef": {"key": "llmaas-hf-token"}}]}}
    secrets = {"backend": "kubernetes", "remote_keys": {"hf_token": "llmaas-hf-token"}}
    values = _synced(es, "kubernetes", _backend(secrets, ["llmaas-hf-token"]))
    assert values["HF_TOKEN"] == '{"value": "value-of-llmaas-hf-token"}'
