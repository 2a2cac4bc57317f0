# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a LiteLLM key value goes, written by the module that creates the key (never returned by it).

Each alias has two slots at its destination:
- ``pending``: a value chosen by the module and written durably BEFORE it asks LiteLLM to create (or rotate
  to) a key with that value (LiteLLM accepts a caller-chosen ``key`` / ``new_key`` starting with ``sk-``);
- ``current``: the value of the alias's key on the gateway, promoted from pending once LiteLLM confirmed it.

An interruption anywhere therefore leaves the value on disk: a re-run compares sha256(value), LiteLLM's
token, with the gateway's key and promotes the pending value, or reuses it for the create.

Stores:
- FileKeyStore: ``<dir>/<alias>/key`` and ``<dir>/<alias>/key.pending`` (folder 0700, files 0600), each write
  a temp file + fsync + rename + fsync of the folder, so a crash leaves the old or the new file, never half.
- SecretKeyStore: Kubernetes Secrets ``<prefix><alias>`` (LITELLM_API_KEY, OPENAI_API_BASE) and
  ``<prefix><alias>-pending``, through the kubernetes Python client.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import re
import secrets
import tempfile


# LiteLLM's own generated keys are "sk-" + token_urlsafe(LENGTH_OF_LITELLM_GENERATED_KEY=16); custom values must
# start with "sk-" and be at least MINIMUM_CUSTOM_KEY_LENGTH=16 long (litellm 1.108, litellm/constants.py and
# key_management_endpoints._common_key_generation_helper). 32 random bytes is well above both.
def new_key_value():
    return "sk-" + secrets.token_urlsafe(32)


def key_token(value):
    """LiteLLM's identifier of a key: the sha256 hex of its value (litellm.proxy._types.hash_token)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# A Kubernetes object name (DNS subdomain, without its length): the Secret a key goes to; the contract checks the
# inventory's names and aliases with it (plugins/plugin_utils/contract.py).
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class DeliveryError(Exception):
    """The destination cannot be read or written."""


class FileKeyStore(object):
    kind = "file"

    def __init__(self, root):
        self.root = os.path.abspath(os.path.expanduser(root))

    def check_alias(self, alias):
        if "/" in alias or alias.startswith(".") or "\0" in alias:
            return "key_alias %r cannot name a folder under %s (no '/', no leading '.')" % (alias, self.root)
        return None

    def where(self, alias):
        return os.path.join(self.root, alias, "key")

    def _path(self, alias, pending):
        return self.where(alias) + (".pending" if pending else "")

    def _read(self, path):
        try:
            with open(path, "r") as handle:
                return handle.read().strip() or None
        except (IOError, OSError) as exc:
            if getattr(exc, "errno", None) == 2:
                return None
            raise DeliveryError("cannot read %s: %s" % (path, exc))

    def read(self, alias):
        return self._read(self._path(alias, False))

    def read_pending(self, alias):
        return self._read(self._path(alias, True))

    def _atomic_write(self, path, value):
        folder = os.path.dirname(path)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o700)
            os.chmod(folder, 0o700)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key-")  # created 0600
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(value + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o600)
                os.rename(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            self._fsync_dir(folder)
        except (IOError, OSError) as exc:
            raise DeliveryError("cannot write %s: %s" % (path, exc))

    @staticmethod
    def _fsync_dir(folder):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def stage(self, alias, value):
        self._atomic_write(self._path(alias, True), value)

    def commit(self, alias):
        """Promote the pending value to current (one rename: atomic)."""
        pending = self._path(alias, True)
        try:
            os.rename(pending, self._path(alias, False))
            self._fsync_dir(os.path.dirname(pending))
        except (IOError, OSError) as exc:
            raise DeliveryError("cannot promote %s: %s" % (pending, exc))

    def discard_pending(self, alias):
        self._remove(self._path(alias, True))

    def remove(self, alias):
        self._remove(self._path(alias, True))
        self._remove(self._path(alias, False))

    def _remove(self, path):
        try:
            os.unlink(path)
        except (IOError, OSError) as exc:
            if getattr(exc, "errno", None) != 2:
                raise DeliveryError("cannot remove %s: %s" % (path, exc))


class SecretKeyStore(object):
    """Kubernetes Secrets in one namespace; needs the kubernetes Python client (as kubernetes.core does)."""

    kind = "secret"
    FIELD = "LITELLM_API_KEY"

    def __init__(self, namespace, prefix="litellm-key-", api_base=None, kubeconfig=None, context=None,
                 labels=None):
        self.namespace = namespace
        self.prefix = prefix
        self.api_base = api_base
        self.labels = dict(labels or {})
        self._kubeconfig = kubeconfig
        self._context = context
        self._api = None

    def check_alias(self, alias):
        name = self.prefix + alias + "-pending"
        if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            return ("key_alias %r cannot name a Secret %r: lowercase letters, digits, '-' and '.', at most %d "
                    "characters" % (alias, self.prefix + alias, 253 - len(self.prefix) - len("-pending")))
        return None

    def where(self, alias):
        return "Secret %s/%s%s" % (self.namespace, self.prefix, alias)

    @property
    def api(self):
        if self._api is None:
            try:
                from kubernetes import client, config
            except ImportError:
                raise DeliveryError("delivery mode secret needs the kubernetes Python package (pip install kubernetes)")
            try:
                if self._kubeconfig or self._context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                    api_client = config.new_client_from_config(config_file=self._kubeconfig, context=self._context)
                else:
                    config.load_incluster_config()
                    api_client = client.ApiClient()
            except Exception as exc:  # kubernetes raises several unrelated types for a bad kubeconfig
                raise DeliveryError("cannot load the Kubernetes configuration: %s" % exc)
            self._api = client.CoreV1Api(api_client)
        return self._api

    def _name(self, alias, pending):
        return self.prefix + alias + ("-pending" if pending else "")

    def _read(self, name):
        from kubernetes.client.rest import ApiException
        try:
            secret = self.api.read_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise DeliveryError("cannot read Secret %s/%s: %s %s" % (self.namespace, name, exc.status, exc.reason))
        data = secret.data or {}
        if not data.get(self.FIELD):
            return None
        return base64.b64decode(data[self.FIELD]).decode("utf-8").strip() or None

    def read(self, alias):
        return self._read(self._name(alias, False))

    def read_pending(self, alias):
        return self._read(self._name(alias, True))

    def _put(self, name, alias, value):
        from kubernetes import client
        from kubernetes.client.rest import ApiException
        string_data = {self.FIELD: value}
        if self.api_base:
            string_data["OPENAI_API_BASE"] = self.api_base
        labels = dict(self.labels, **{"llmaas.platform/key-alias": alias})
        body = client.V1Secret(api_version="v1", kind="Secret", type="Opaque", string_data=string_data,
                               metadata=client.V1ObjectMeta(name=name, namespace=self.namespace, labels=labels))
        try:
            try:
                self.api.create_namespaced_secret(self.namespace, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                self.api.replace_namespaced_secret(name, self.namespace, body)
        except ApiException as exc:
            raise DeliveryError("cannot write Secret %s/%s: %s %s" % (self.namespace, name, exc.status, exc.reason))

    def _delete(self, name):
        from kubernetes.client.rest import ApiException
        try:
            self.api.delete_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise DeliveryError("cannot delete Secret %s/%s: %s %s"
                                    % (self.namespace, name, exc.status, exc.reason))

    def stage(self, alias, value):
        self._put(self._name(alias, True), alias, value)

    def commit(self, alias):
        value = self.read_pending(alias)
        if value is None:
            raise DeliveryError("pending Secret %s/%s vanished" % (self.namespace, self._name(alias, True)))
        self._put(self._name(alias, False), alias, value)
        self._delete(self._name(alias, True))

    def discard_pending(self, alias):
        self._delete(self._name(alias, True))

    def remove(self, alias):
        self._delete(self._name(alias, True))
        self._delete(self._name(alias, False))


class NoDelivery(object):
    """Stand-in when a run only deletes keys: nothing to read, nowhere to write."""

    kind = "none"

    def check_alias(self, alias):
        return None

    def where(self, alias):
        return "(no delivery set)"

    def read(self, alias):
        return None

    read_pending = read

    def stage(self, alias, value):
        raise DeliveryError("the delivery option is required to create or rotate keys (the value goes there)")

    def commit(self, alias):
        raise DeliveryError("the delivery option is required to create or rotate keys")

    def discard_pending(self, alias):
        return None

    remove = discard_pending
