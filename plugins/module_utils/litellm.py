# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One client for the LiteLLM proxy management API, shared by the llmaas.platform litellm_* modules.

Contents:
- ``litellm_argument_spec(**module_options)``: the shared connection options merged with a module's own.
- ``LiteLLMClient``: JSON over HTTP with the master key, the collection's one retry policy (_http.py: 429,
  5xx, connection errors and timeouts, Retry-After, one budget per run), both LiteLLM error shapes turned into
  one message; ``LiteLLMUnavailable`` when the gateway is down.
- ``Reconciler``: the read -> compare -> write core (present/absent) that sets changed and diff and does
  nothing in check mode.
- key helpers shared by litellm_key, litellm_keys and litellm_key_info (validation, desired state,
  comparison where LiteLLM really stores each field); the reconcile and delivery core is _key_fleet.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import json
import math
import re
import time

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible_collections.llmaas.platform.plugins.module_utils._http import (
    RETRYABLE_STATUS,
    HttpUnreachable,
    RetryingHttp,
    RetryPolicy,
)

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "llmaas.platform"
# Our other entries in a key's metadata (see _key_fleet.py): the last on-demand rotation applied, and when the
# current value was issued.
ROTATION_KEY = "rotation"
ROTATED_AT_KEY = "rotated-at"
RESERVED_METADATA = (MANAGED_BY_KEY, ROTATION_KEY, ROTATED_AT_KEY)

# LiteLLM copies these request fields into the key's metadata instead of its own columns
# (LiteLLM_ManagementEndpoint_MetadataFields[_Premium] in litellm/proxy/_types.py).
KEY_FIELDS_IN_METADATA = ("guardrails",)

# Fields a module compares as sets: LiteLLM keeps the order it was given but it carries no meaning.
UNORDERED_FIELDS = ("models", "guardrails")

KEY_FIELDS = (
    "models",
    "max_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "team_id",
    "metadata",
    "guardrails",
    "blocked",
)

# LiteLLM's duration parser: a positive integer and one of s, m, h, d, w, mo; plus four word aliases.
_DURATION_RE = re.compile(r"^[1-9][0-9]*(s|m|h|d|w|mo)$")
_DURATION_WORDS = ("hourly", "daily", "weekly", "monthly")


def litellm_argument_spec(**module_options):
    """Return the shared connection options merged with the module's own options."""
    spec = dict(
        api_url=dict(type="str", fallback=(env_fallback, ["LITELLM_API_URL"])),
        master_key=dict(type="str", no_log=True, fallback=(env_fallback, ["LITELLM_MASTER_KEY"])),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="float", default=30.0),
        retries=dict(type="int", default=3),
        retry_backoff=dict(type="float", default=1.0),
        retry_budget=dict(type="float", default=60.0),
    )
    spec.update(module_options)
    return spec


def spend_options():
    """State, models, budget and rate limits: the options a team and a virtual key have in common."""
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        models=dict(type="list", elements="str"),
        max_budget=dict(type="float"),
        budget_duration=dict(type="str"),
        tpm_limit=dict(type="int"),
        rpm_limit=dict(type="int"),
        max_parallel_requests=dict(type="int"),
    )


def key_options():
    """The options of one virtual key, shared by litellm_key and each entry of litellm_keys."""
    return dict(
        spend_options(),
        key_alias=dict(type="str", required=True, no_log=False),
        team_id=dict(type="str"),
        metadata=dict(type="dict"),
        guardrails=dict(type="list", elements="str"),
        duration=dict(type="str"),
        blocked=dict(type="bool"),
        rotation=dict(type="str", no_log=False),
    )


def delivery_options():
    """Where created key values go and how keys rotate (documented in the litellm.delivery doc fragment)."""
    return dict(
        delivery=dict(type="dict", options=dict(
            mode=dict(type="str", choices=["file", "secret"], default="file"),
            path=dict(type="path"),
            namespace=dict(type="str"),
            secret_prefix=dict(type="str", default="litellm-key-", no_log=False),
            api_base=dict(type="str"),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
        ), required_if=[("mode", "file", ["path"]), ("mode", "secret", ["namespace"])]),
        missing_value=dict(type="str", choices=["fail", "regenerate"], default="fail"),
        rotate_after=dict(type="str"),
        rotation_method=dict(type="str", choices=["auto", "regenerate", "recreate"], default="auto"),
        grace_period=dict(type="str"),
    )


class LiteLLMError(Exception):
    """An answer or a transport failure, carrying what a user needs to act on it."""

    def __init__(self, message, status=None, method=None, path=None, error_type=None, param=None, body=None):
        self.status = status
        self.method = method
        self.path = path
        self.error_type = error_type
        self.param = param
        self.body = body
        self.detail = message
        where = "%s %s" % (method, path) if method else ""
        if status is not None:
            text = "LiteLLM API %s answered %s: %s" % (where, status, message)
        else:
            text = "LiteLLM API %s failed: %s" % (where, message)
        if status == 401:
            text += " (check master_key / LITELLM_MASTER_KEY)"
        super(LiteLLMError, self).__init__(text)


class LiteLLMUnavailable(LiteLLMError):
    """The gateway is down or overloaded (no answer, 429 or 5xx after the retries the budget allowed)."""


class LiteLLMTimeout(LiteLLMUnavailable):
    """The request was sent but no answer came in time: the server may have applied it."""


def _unwrap_message(message):
    """LiteLLM often renders a dict detail as its Python repr: "{'error': 'No keys found'}"."""
    if isinstance(message, str) and message.startswith("{") and message.endswith("}"):
        try:
            parsed = ast.literal_eval(message)
        except (ValueError, SyntaxError):
            return message
        return _unwrap_message(parsed)
    if isinstance(message, dict):
        for field in ("error", "message", "msg"):
            if field in message:
                return _unwrap_message(message[field])
        return json.dumps(message, sort_keys=True)
    if isinstance(message, list):
        # FastAPI validation errors: [{"loc": [...], "msg": "...", "type": "..."}]
        parts = []
        for item in message:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append("%s: %s" % (loc, item["msg"]) if loc else item["msg"])
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(message)


def parse_error_body(raw):
    """Return (message, type, param) from either LiteLLM error shape, or the raw text."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return _unwrap_message(err.get("message")), err.get("type"), err.get("param")
    if isinstance(body, dict) and "detail" in body:
        return _unwrap_message(body["detail"]), None, None
    if isinstance(body, dict) and "error" in body:
        return _unwrap_message(body["error"]), None, None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
    return (text.strip()[:500] or "empty answer"), None, None


class LiteLLMClient:
    """JSON client for the LiteLLM management API, authenticated with the master key.

    Transport and retries are the collection's one policy (_http.RetryingHttp): 429 and 5xx answers,
    connection errors and timeouts are retried within one retry budget for the client's whole life.
    """

    def __init__(self, api_url, master_key, validate_certs=True, timeout=30.0, retries=3, retry_backoff=1.0,
                 retry_budget=60.0, sleep=time.sleep):
        self.base = api_url.rstrip("/")
        self.master_key = master_key
        self.http = RetryingHttp(RetryPolicy(retries, retry_backoff, retry_budget, sleep=sleep), timeout=timeout,
                                 validate_certs=validate_certs)

    @property
    def requests_sent(self):
        return self.http.requests_sent

    @property
    def timeout(self):
        return self.http.timeout

    @timeout.setter
    def timeout(self, seconds):
        self.http.timeout = seconds

    @classmethod
    def from_module(cls, module):
        params = module.params
        if not params.get("api_url"):
            module.fail_json(msg="api_url is required: set the option or the LITELLM_API_URL environment variable")
        if not params.get("master_key"):
            module.fail_json(msg="master_key is required: set the option or the LITELLM_MASTER_KEY environment "
                                 "variable")
        if params["retries"] < 0 or params["timeout"] <= 0 or params["retry_backoff"] < 0 \
                or params["retry_budget"] < 0:
            module.fail_json(msg="retries, retry_backoff and retry_budget must be >= 0 and timeout > 0")
        return cls(params["api_url"], params["master_key"], params["validate_certs"], params["timeout"],
                   params["retries"], params["retry_backoff"], params["retry_budget"])

    def request(self, method, path, params=None, body=None, idempotent=True):
        """Send one request; return the decoded JSON answer or raise LiteLLMError.

        idempotent=False for key creation and rotation (the server may have applied a request whose answer was
        lost): only refused connections and 429 are retried; the caller looks the result up, then retries
        with retry_wait().
        """
        url = self.base + path
        shown_path = path
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None])
            url += "?" + query
            # the query never carries secrets: aliases, ids and paging only
            shown_path = path + "?" + query
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Authorization": "Bearer %s" % self.master_key, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = self.http.send(method, url, data=data, headers=headers, idempotent=idempotent)
        except HttpUnreachable as exc:
            tail = " (after %d attempts)" % exc.attempts if exc.attempts > 1 else ""
            if exc.timed_out:
                raise LiteLLMTimeout("no answer within %ss%s" % (self.timeout, tail), method=method, path=shown_path)
            raise LiteLLMUnavailable("cannot reach %s: %s%s" % (self.base, exc.reason, tail), method=method,
                                     path=shown_path)
        if 200 <= answer.status < 300:
            try:
                return json.loads(answer.body) if answer.body else {}
            except ValueError:
                raise LiteLLMError("answer is not JSON: %r" % answer.body[:200], status=answer.status,
                                   method=method, path=shown_path)
        message, err_type, param = parse_error_body(answer.body)
        if answer.attempts > 1:
            message = "%s (after %d attempts)" % (message, answer.attempts)
        error_class = LiteLLMUnavailable if answer.status in RETRYABLE_STATUS else LiteLLMError
        raise error_class(message, status=answer.status, method=method, path=shown_path, error_type=err_type,
                          param=param, body=answer.body)

    def get(self, path, params=None):
        return self.request("GET", path, params=params)

    def post(self, path, body, idempotent=True):
        return self.request("POST", path, body=body, idempotent=idempotent)

    def retry_wait(self, attempt):
        return self.http.retry_wait(attempt)


# ---------------------------------------------------------------- comparison and reconcile core


def normalize(field, value):
    if value is None:
        return None
    if field in UNORDERED_FIELDS and isinstance(value, list):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def changed_fields(current, desired):
    """Fields whose desired value (None = not managed) differs from the current one."""
    changes = {}
    for field, want in desired.items():
        if want is None:
            continue
        if normalize(field, want) != normalize(field, current.get(field)):
            changes[field] = want
    return changes


class Reconciler:
    """read -> compare -> write for one object; nothing is written in check mode.

    current: the object as read (None when absent), already reduced to comparable, non-secret fields.
    desired: the fields the user manages (None values are left alone).
    """

    def __init__(self, module):
        self.module = module

    def ensure(self, state, current, desired, create, update, delete):
        check = self.module.check_mode
        result = dict(changed=False, action="none")
        if state == "absent":
            if current is None:
                return result
            result.update(changed=True, action="delete", diff=dict(before=current, after={}))
            if not check:
                delete()
            return result
        if current is None:
            after = dict((k, v) for k, v in desired.items() if v is not None)
            result.update(changed=True, action="create", diff=dict(before={}, after=after))
            if not check:
                result["response"] = create()
            return result
        changes = changed_fields(current, desired)
        if not changes:
            return result
        before = dict((k, current.get(k)) for k in changes)
        result.update(changed=True, action="update", changes=sorted(changes),
                      diff=dict(before=before, after=changes))
        if not check:
            result["response"] = update(changes)
        return result


# ---------------------------------------------------------------- keys


def validate_key_spec(spec, allowed_models=None, label=None):
    """Return a list of problems with one key spec; empty when it is usable."""
    where = "key %r: " % label if label else ""
    problems = []
    alias = spec.get("key_alias")
    if alias is None or not str(alias).strip():
        problems.append(where + "key_alias must be a non-empty string (LiteLLM identifies keys by alias here)")
    elif alias != alias.strip() or any(ord(c) < 32 for c in alias) or ".." in alias:
        problems.append(where + "key_alias %r must not contain control characters, surrounding spaces or '..'"
                        % alias)
    for field in ("max_budget",):
        value = spec.get(field)
        if value is not None and (not math.isfinite(value) or value < 0):
            problems.append(where + "%s must be a finite number >= 0, got %s" % (field, value))
    for field in ("tpm_limit", "rpm_limit", "max_parallel_requests"):
        value = spec.get(field)
        if value is not None and value < 0:
            problems.append(where + "%s must be >= 0, got %s" % (field, value))
    for field in ("budget_duration", "duration"):
        value = spec.get(field)
        if value is not None and not valid_duration(value):
            problems.append(where + "%s %r is not a LiteLLM duration: use a positive number followed by "
                                    "s, m, h, d, w or mo (e.g. 30s, 30m, 24h, 30d, 1mo), or hourly/daily/weekly/"
                                    "monthly" % (field, value))
    if allowed_models is not None and spec.get("models"):
        unknown = sorted(set(spec["models"]) - set(allowed_models))
        if unknown:
            problems.append(where + "unknown model(s) %s; known models: %s"
                            % (", ".join(unknown), ", ".join(sorted(allowed_models)) or "none"))
    meta = spec.get("metadata")
    if meta is not None and MANAGED_BY_KEY in meta and meta[MANAGED_BY_KEY] != MANAGED_BY_VALUE:
        problems.append(where + "metadata.%s is reserved for the %s marker" % (MANAGED_BY_KEY, MANAGED_BY_VALUE))
    for field in (ROTATION_KEY, ROTATED_AT_KEY):
        if meta is not None and field in meta:
            problems.append(where + "metadata.%s is reserved (set the key's rotation option instead)" % field)
    if spec.get("rotation") is not None and not str(spec["rotation"]).strip():
        problems.append(where + "rotation must be a non-empty string when set")
    return problems


def validate_delivery_options(params, aliases, store):
    """Problems with the delivery and rotation options for these aliases (no API call, nothing written)."""
    problems = []
    for field in ("rotate_after", "grace_period"):
        if params.get(field) is not None and not valid_duration(params[field]):
            problems.append("%s %r is not a LiteLLM duration: use a positive number followed by s, m, h, d, w or mo "
                            "(e.g. 24h, 90d)" % (field, params[field]))
    if store is not None:
        for alias in aliases:
            problem = store.check_alias(alias) if alias else None
            if problem:
                problems.append(problem)
    return problems


def valid_duration(value):
    value = str(value).strip()
    return bool(_DURATION_RE.match(value)) or value.lower() in _DURATION_WORDS


def key_current_view(row):
    """Reduce a LiteLLM key row (from /key/info or /key/list) to the fields we compare, never secrets."""
    if row is None:
        return None
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = {}
    view = dict((f, row.get(f)) for f in KEY_FIELDS if f not in KEY_FIELDS_IN_METADATA and f != "metadata")
    for field in KEY_FIELDS_IN_METADATA:
        view[field] = metadata.get(field)
    view["metadata"] = dict((k, v) for k, v in metadata.items() if k not in KEY_FIELDS_IN_METADATA)
    view["blocked"] = bool(row.get("blocked"))
    view["key_alias"] = row.get("key_alias")
    return view


def key_desired(spec, current_view=None):
    """Desired comparable state for a key spec.

    metadata is merged: keys the user sets (and our managed-by marker) are enforced, other keys already on
    the key are kept, so what LiteLLM or another tool wrote there survives.
    """
    desired = dict((f, spec.get(f)) for f in KEY_FIELDS)
    metadata = dict((current_view or {}).get("metadata") or {})
    metadata.update(spec.get("metadata") or {})
    metadata[MANAGED_BY_KEY] = MANAGED_BY_VALUE
    desired["metadata"] = metadata
    return desired


def key_update_body(token, changes, current_view):
    """Body for /key/update: only changed fields, by token hash.

    When metadata is sent LiteLLM replaces it wholesale, so fields it keeps inside metadata (guardrails) are
    carried along or they would be lost.
    """
    body = {"key": token}
    body.update(changes)
    if "metadata" in changes:
        for field in KEY_FIELDS_IN_METADATA:
            value = changes.get(field, current_view.get(field))
            if value is not None:
                body["metadata"] = dict(body["metadata"], **{field: value})
    return body


def key_create_body(spec, desired):
    body = dict((k, v) for k, v in desired.items() if v is not None)
    body["key_alias"] = spec["key_alias"]
    if spec.get("duration"):
        body["duration"] = spec["duration"]
    return body


def key_public(row):
    """What modules return about a key: never the key value."""
    view = key_current_view(row) or {}
    out = dict(view)
    for field in ("token", "expires", "spend", "created_at", "updated_at", "user_id", "key_name"):
        if field in row:
            out[field] = row[field]
    return out


def alias_exists_error(exc):
    return isinstance(exc, LiteLLMError) and exc.status == 400 and "already exists" in str(exc.detail)


def find_keys_by_alias(client, alias):
    answer = client.get("/key/list", params={"key_alias": alias, "return_full_object": "true", "size": 100})
    return [k for k in answer.get("keys", []) if isinstance(k, dict) and k.get("key_alias") == alias]


def list_all_keys(client, team_id=None, page_size=100):
    """Every key (full objects), following /key/list pagination (LiteLLM caps size at 100)."""
    keys = []
    page = 1
    while True:
        answer = client.get("/key/list", params={"page": page, "size": page_size, "return_full_object": "true",
                                                 "team_id": team_id})
        batch = answer.get("keys", [])
        keys.extend(k for k in batch if isinstance(k, dict))
        total_pages = answer.get("total_pages") or 0
        if page >= total_pages or not batch:
            return keys
        page += 1


def known_models(client):
    """Model names the proxy serves (model_name of /model/info), or None when it cannot tell."""
    try:
        answer = client.get("/model/info")
    except LiteLLMError:
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not data:
        return None
    return sorted(set(m.get("model_name") for m in data if isinstance(m, dict) and m.get("model_name")))


def key_store(params):
    """The delivery store for a module's ``delivery`` option (NoDelivery when it is not set)."""
    from ansible_collections.llmaas.platform.plugins.module_utils._key_delivery import (
        FileKeyStore,
        NoDelivery,
        SecretKeyStore,
    )

    delivery = params.get("delivery")
    if not delivery:
        return NoDelivery()
    if delivery["mode"] == "file":
        return FileKeyStore(delivery["path"])
    return SecretKeyStore(delivery["namespace"], prefix=delivery["secret_prefix"], api_base=delivery["api_base"],
                          kubeconfig=delivery["kubeconfig"], context=delivery["context"],
                          labels={"app.kubernetes.io/part-of": "llmaas",
                                  "app.kubernetes.io/managed-by": "llmaas.platform"})
