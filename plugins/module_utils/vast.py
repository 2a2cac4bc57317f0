# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One Vast.ai API client for the vast_instance module and the vast inventory plugin.

Built on ansible.module_utils.urls only (no extra Python dependency), retrying through _http.py.
Endpoints used, all under
``<api_url>/api/v0`` (checked against docs.vast.ai "Creating Instances with the API", the
vast-ai/docs OpenAPI endpoint files and the vast-ai/vast-cli ``vast.py`` source):

- ``POST /bundles/``            search offers; body is the query object, answer ``{"offers": [...]}``
- ``PUT /asks/{offer_id}/``     create an instance from an offer; answer ``{"success": true, "new_contract": id}``
- ``GET /instances/?owner=me``  list instances; answer ``{"instances": [...]}``
- ``GET /instances/{id}/``      one instance; answer ``{"instances": {...} | null}``
- ``PUT /instances/{id}/``      set the label; body ``{"label": "..."}``
- ``DELETE /instances/{id}/``   destroy; 404 with ``error: no_such_instance`` when it is already gone
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible_collections.llmaas.platform.plugins.module_utils._http import HttpUnreachable, RetryingHttp, RetryPolicy

DEFAULT_API_URL = "https://console.vast.ai"


def vast_argument_spec():
    """Connection options every Vast module shares (documented in the llmaas.platform.vast doc fragment)."""
    return dict(
        api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["VAST_API_KEY"])),
        api_url=dict(type="str", fallback=(env_fallback, ["VAST_API_URL"])),
        timeout=dict(type="int", default=30),
        validate_certs=dict(type="bool", default=True),
        retries=dict(type="int", default=3),
    )


def generate_argspec(**kwargs):
    """Merge module options with the shared connection spec (module options win)."""
    spec = vast_argument_spec()
    spec.update(kwargs)
    return spec


class VastError(Exception):
    """Any failure talking to the Vast API; ``status`` is the HTTP status or None for transport errors."""

    def __init__(self, msg, status=None, body=None):
        super(VastError, self).__init__(msg)
        self.status = status
        self.body = body


class VastAuthError(VastError):
    """The API answered 401/403: the key is missing, wrong or lacks the permission."""


class VastNotFound(VastError):
    """The API answered 404 (for example an instance that is already destroyed)."""


def _error_text(body):
    """Pull the human part out of a Vast error body ({"error": ..., "msg": ...} or {"detail": ...})."""
    if isinstance(body, dict):
        parts = [to_text(body[k]) for k in ("error", "msg", "detail") if body.get(k)]
        if parts:
            return ": ".join(parts)
    if body:
        return to_text(body)[:300]
    return ""


class VastClient(object):
    """Thin JSON client: Bearer auth; retries are the collection's one policy (_http.py: 429 and 5xx answers,
    transport errors, Retry-After, one retry budget per client)."""

    def __init__(self, api_key, api_url=None, timeout=30, validate_certs=True, retries=3, backoff=1.0,
                 retry_budget=120.0, sleep=None):
        if not api_key:
            raise VastAuthError("No Vast API key: set api_key or the VAST_API_KEY environment variable.")
        self.api_key = api_key
        self.base = (api_url or DEFAULT_API_URL).rstrip("/")
        if not self.base.endswith("/api/v0"):
            self.base += "/api/v0"
        self.timeout = timeout
        self.http = RetryingHttp(RetryPolicy(retries, backoff, budget=retry_budget, sleep=sleep or time.sleep),
                                 timeout=timeout, validate_certs=validate_certs)

    @classmethod
    def from_params(cls, params, **kwargs):
        return cls(
            api_key=params.get("api_key"),
            api_url=params.get("api_url"),
            timeout=params.get("timeout") or 30,
            validate_certs=params.get("validate_certs", True),
            retries=params.get("retries", 3) if params.get("retries") is not None else 3,
            **kwargs
        )

    # -- transport ---------------------------------------------------------------------------------------

    def request(self, method, path, body=None, query=None):
        url = self.base + path
        if query:
            url += "?" + urlencode(query)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {
            "Authorization": "Bearer %s" % self.api_key,
            "Accept": "application/json",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        what = "%s %s" % (method, path)
        try:
            answer = self.http.send(method, url, data=data, headers=headers)
        except HttpUnreachable as e:
            raise VastError("Cannot reach the Vast API at %s (%s) after %d attempt(s): %s"
                            % (self.base, what, e.attempts, to_native(e.reason)))
        status = answer.status
        parsed = self._parse(answer.body)
        if 200 <= status < 300:
            return parsed
        detail = _error_text(parsed)
        if status in (401, 403):
            raise VastAuthError(
                "Vast API key rejected (HTTP %d on %s)%s. Check api_key / VAST_API_KEY and that the key "
                "has the instance read/write permissions." % (status, what, ": " + detail if detail else ""),
                status=status, body=parsed)
        if status == 404:
            raise VastNotFound("Vast API: not found (HTTP 404 on %s)%s" % (what, ": " + detail if detail else ""),
                               status=status, body=parsed)
        tail = " after %d attempts" % answer.attempts if answer.attempts > 1 else ""
        raise VastError("Vast API error HTTP %d on %s%s%s" % (status, what, tail, ": " + detail if detail else ""),
                        status=status, body=parsed)

    @staticmethod
    def _parse(raw):
        if not raw:
            return {}
        try:
            return json.loads(to_text(raw))
        except ValueError:
            return to_text(raw)

    # -- API ---------------------------------------------------------------------------------------------

    def search_offers(self, query):
        """POST /bundles/ with a Vast query object; returns the list of offers."""
        answer = self.request("POST", "/bundles/", body=query)
        offers = answer.get("offers") if isinstance(answer, dict) else None
        if offers is None:
            raise VastError("Vast API: unexpected answer to offer search (no 'offers' key): %s" % _error_text(answer))
        return offers

    def create_instance(self, offer_id, payload):
        """PUT /asks/{offer_id}/; returns the new instance (contract) id."""
        body = dict(payload)
        body.setdefault("client_id", "me")
        answer = self.request("PUT", "/asks/%d/" % int(offer_id), body=body)
        if not isinstance(answer, dict) or not answer.get("success") or not answer.get("new_contract"):
            raise VastError("Vast API refused to create an instance from offer %s: %s"
                            % (offer_id, _error_text(answer) or answer))
        return int(answer["new_contract"])

    def list_instances(self):
        answer = self.request("GET", "/instances/", query={"owner": "me"})
        instances = answer.get("instances") if isinstance(answer, dict) else None
        if instances is None:
            raise VastError("Vast API: unexpected answer to instance list: %s" % _error_text(answer))
        return instances

    def get_instance(self, instance_id):
        """GET /instances/{id}/; None when the instance does not exist (any more)."""
        try:
            answer = self.request("GET", "/instances/%d/" % int(instance_id), query={"owner": "me"})
        except VastNotFound:
            return None
        return answer.get("instances") if isinstance(answer, dict) else None

    def set_label(self, instance_id, label):
        return self.request("PUT", "/instances/%d/" % int(instance_id), body={"label": label})

    def destroy_instance(self, instance_id):
        """DELETE /instances/{id}/; returns False when it was already gone."""
        try:
            answer = self.request("DELETE", "/instances/%d/" % int(instance_id), body={})
        except VastNotFound:
            return False
        if isinstance(answer, dict) and answer.get("success") is False:
            if answer.get("error") == "no_such_instance":
                return False
            raise VastError("Vast API refused to destroy instance %s: %s" % (instance_id, _error_text(answer)))
        return True

    def instances_by_label(self, label):
        return [i for i in self.list_instances() if (i.get("label") or "") == label]


def build_offer_query(gpu_name=None, num_gpus=None, max_dph=None, min_reliability=None, min_disk=None,
                      verified=True, vm=False, min_cuda=None, extra_filters=None, limit=20):
    """The query object for POST /bundles/: Vast field names with {op: value} filters, cheapest first."""
    query = {
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "external": {"eq": False},
    }
    if verified:
        query["verified"] = {"eq": True}
    if gpu_name:
        names = gpu_name if isinstance(gpu_name, list) else [gpu_name]
        query["gpu_name"] = {"in": [n.replace("_", " ") for n in names]}
    if num_gpus:
        query["num_gpus"] = {"eq": int(num_gpus)}
    if max_dph is not None:
        query["dph_total"] = {"lte": float(max_dph)}
    if min_reliability is not None:
        query["reliability"] = {"gte": float(min_reliability)}
    if min_disk is not None:
        query["disk_space"] = {"gte": float(min_disk)}
    if min_cuda is not None:
        query["cuda_max_good"] = {"gte": float(min_cuda)}
    if vm:
        query["vms_enabled"] = {"eq": True}
    for field, cond in (extra_filters or {}).items():
        query[field] = cond if isinstance(cond, dict) else {"eq": cond}
    query["order"] = [["dph_total", "asc"]]
    query["type"] = "ondemand"
    query["limit"] = int(limit)
    return query


def describe_filters(query):
    """A short human sentence of the filters in a query, for 'no offer matches' errors."""
    parts = []
    for field in sorted(query):
        if field in ("order", "type", "limit"):
            continue
        cond = query[field]
        if isinstance(cond, dict):
            parts.extend("%s %s %s" % (field, op, json.dumps(val)) for op, val in sorted(cond.items()))
        else:
            parts.append("%s = %s" % (field, json.dumps(cond)))
    return ", ".join(parts)


def ssh_endpoint(instance, mode="ssh"):
    """(host, port) to reach an instance over SSH, as the API reports it.

    mode ``ssh`` uses ssh_host/ssh_port (the Vast SSH address, proxy or direct); mode ``direct`` uses
    public_ipaddr and the host port mapped to 22/tcp, falling back to ssh_host/ssh_port.
    """
    if mode == "direct":
        port = mapped_ports(instance).get("22/tcp")
        if instance.get("public_ipaddr") and port:
            return instance["public_ipaddr"].strip(), port
    host = instance.get("ssh_host")
    port = instance.get("ssh_port")
    return (host.strip() if isinstance(host, str) else host), (int(port) if port else None)


def mapped_ports(instance):
    """{"22/tcp": 41022, ...} from the Docker-style ports map the API reports."""
    result = {}
    for key, bindings in (instance.get("ports") or {}).items():
        if isinstance(bindings, list) and bindings:
            host_port = bindings[0].get("HostPort") if isinstance(bindings[0], dict) else None
            if host_port:
                try:
                    result[key] = int(host_port)
                except (TypeError, ValueError):
                    continue
    return result


INSTANCE_SUMMARY_FIELDS = (
    "id", "label", "actual_status", "intended_status", "cur_state", "status_msg", "machine_id",
    "gpu_name", "num_gpus", "gpu_ram", "cuda_max_good", "driver_version", "dph_total", "disk_space",
    "ssh_host", "ssh_port", "public_ipaddr", "image_uuid", "geolocation",
)


def summarize_instance(instance):
    """The instance fields a playbook needs, in a stable shape."""
    if not instance:
        return {}
    summary = dict((k, instance.get(k)) for k in INSTANCE_SUMMARY_FIELDS)
    summary["ports"] = mapped_ports(instance)
    return summary
