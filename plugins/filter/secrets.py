# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that turn the inventory's llmaas_secrets into External Secrets fields, the same way for every layer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# Backends whose remote objects hold several keys: each remote key is one object with the value under "value".
_PROPERTY_BACKENDS = {"kubernetes": "value", "vault": "value"}


def secret_remote_ref(logical_name, secrets):
    """remoteRef for one logical secret (a key of llmaas_secrets.remote_keys) under the configured backend."""
    if not isinstance(secrets, dict):
        raise AnsibleFilterError("secret_remote_ref: llmaas_secrets must be a dict")
    remote_keys = secrets.get("remote_keys") or {}
    if logical_name not in remote_keys:
        raise AnsibleFilterError(
            f"llmaas_secrets.remote_keys has no entry {logical_name!r}; known: {sorted(remote_keys)}"
        )
    ref = {"key": str(remote_keys[logical_name])}
    prop = _PROPERTY_BACKENDS.get(secrets.get("backend"))
    if prop:
        ref["property"] = prop
    return ref


def secret_store_ref(secrets):
    """secretStoreRef of every ExternalSecret of the stack."""
    return {"name": str((secrets or {}).get("store") or "llmaas"), "kind": "ClusterSecretStore"}


class FilterModule(object):
    def filters(self):
        return {"secret_remote_ref": secret_remote_ref, "secret_store_ref": secret_store_ref}
