# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""EMULATOR of the LiteLLM proxy management API (keys, teams, model info). Not LiteLLM.

What it is for: unit tests and benchmarks of the llmaas.platform litellm_* modules on a machine without a
database-backed LiteLLM proxy. What makes it trustworthy:

- every request body is validated with the installed ``litellm`` package's own request models
  (GenerateKeyRequest, UpdateKeyRequest, KeyRequest, NewTeamRequest, UpdateTeamRequest, DeleteTeamRequest,
  TeamMemberAddRequest, TeamMemberDeleteRequest, TeamMemberUpdateRequest from ``litellm.proxy._types``);
  a validation failure answers 422 ``{"detail": [...]}`` as FastAPI does;
- keys are stored by ``litellm.proxy._types.hash_token`` (sha256 hex), the raw key is returned only by
  /key/generate, as in LiteLLM;
- key_alias uniqueness is enforced by the application (a lookup before insert), as LiteLLM does; it can be
  switched off (``enforce_unique_alias=False``) to emulate the race the database does not prevent;
- fields LiteLLM keeps inside metadata (guardrails, model_rpm_limit, ...) are moved there, and a metadata
  update replaces the stored metadata, as ``prepare_metadata_fields`` does;
- errors use LiteLLM's two shapes: ``{"error": {"message", "type", "param", "code"}}`` and ``{"detail": ...}``;
- the master key is checked on every request (401 otherwise).

- /key/generate accepts a caller-chosen ``key`` (``sk-`` prefix, at least MINIMUM_CUSTOM_KEY_LENGTH
  characters) and fails like the database's unique index when the token exists;
- /key/{key}/regenerate (and /key/regenerate) is refused as LiteLLM 1.108 refuses it without an Enterprise
  licence (HTTP 500 naming the feature) unless ``premium=True``; then the row keeps its fields and gets a new
  token (``new_key`` or a generated one), the body's fields are applied, and with ``grace_period`` the old
  token is kept in ``deprecated_keys`` as LiteLLM's deprecated-key table does.

Test hooks: a request log and counter, and fault injection: the next N requests answer 5xx, time out after
being applied, or are slow; a probability "storm" of those; faults on one endpoint only (``fault_on``); and
the gateway going down after N key creations (``down_after_creations``: later connections are refused or
reset until ``come_up()``; ``wipe=True`` on come_up loses the database, as a restart without its state).

Use as a context manager (``with LiteLLMEmulator() as emu: emu.url``) or run
``python -m emulators.litellm_api [PORT]`` from tests/ (port 0 or absent: ephemeral).
"""

import json
import os
import random
import secrets
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import

from pydantic import ValidationError  # noqa: E402

from litellm.litellm_core_utils.duration_parser import duration_in_seconds  # noqa: E402
from litellm.proxy._types import (  # noqa: E402
    DeleteTeamRequest,
    GenerateKeyRequest,
    KeyRequest,
    LiteLLM_ManagementEndpoint_MetadataFields,
    LiteLLM_ManagementEndpoint_MetadataFields_Premium,
    NewTeamRequest,
    RegenerateKeyRequest,
    TeamMemberAddRequest,
    TeamMemberDeleteRequest,
    TeamMemberUpdateRequest,
    UpdateKeyRequest,
    UpdateTeamRequest,
    hash_token,
)
from litellm.constants import MINIMUM_CUSTOM_KEY_LENGTH  # noqa: E402
from litellm.proxy.common_utils.timezone_utils import budget_duration_error  # noqa: E402
from litellm.types.proxy.common_proxy_errors import CommonProxyErrors  # noqa: E402

BANNER = "[LiteLLM management-API EMULATOR]"
METADATA_FIELDS = (tuple(LiteLLM_ManagementEndpoint_MetadataFields)
                   + tuple(LiteLLM_ManagementEndpoint_MetadataFields_Premium))
DEFAULT_MASTER_KEY = "sk-emulator-master-key"


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


def proxy_error(status, message, type_="bad_request_error", param=None):
    """LiteLLM's ProxyException shape (code is a string)."""
    return ApiError(status, {"error": {"message": str(message), "type": type_, "param": param, "code": str(status)}})


def detail_error(status, detail):
    return ApiError(status, {"detail": detail})


def validate(model, body):
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            value = err.get("input")
            errors.append({"type": err["type"], "loc": ["body", *err["loc"]], "msg": err["msg"],
                           "input": value if isinstance(value, (str, int, float, bool, type(None))) else None})
        raise detail_error(422, errors) from None
    except ValueError as exc:  # model validators raising outside pydantic's wrapper
        raise detail_error(422, [{"type": "value_error", "loc": ["body"], "msg": str(exc)}]) from None


def now_iso():
    return datetime.now(timezone.utc).isoformat()


class LiteLLMEmulator:
    """EMULATOR of the LiteLLM management API on 127.0.0.1 (see the module docstring)."""

    def __init__(self, port=0, master_key=DEFAULT_MASTER_KEY, models=("qwen2.5-coder", "gemma3-270m"),
                 enforce_unique_alias=True, verbose=False, premium=False):
        self.master_key = master_key
        self.models = list(models)
        self.enforce_unique_alias = enforce_unique_alias
        self.verbose = verbose
        self.lock = threading.RLock()
        self.premium = premium
        self.keys = {}  # token hash -> row
        self.deprecated_keys = {}  # old token hash -> {"active_token": new hash, "revoke_at": iso}
        self._endpoint_faults = []  # dicts with path, method, remaining and the fault
        self._down_after = None  # creations left before the gateway goes down
        self.down = False
        self.creations = 0
        self.teams = {}  # team_id -> row
        self.request_log = []
        self._faults = []  # queue of dicts
        self._storm = None
        self._rng = random.Random(0)
        self._port = port
        self._server = None
        self._thread = None
        self._seq = 0

    # ------------------------------------------------------------ lifecycle
    def start(self):
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._last_port = self._server.server_address[1]
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self._thread = threading.Thread(target=self._server.serve_forever, name="litellm-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._last_port = self.port
            if self._server.socket.fileno() != -1:
                self._server.shutdown()
                self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        if self._server is None:
            return self._last_port
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    # ------------------------------------------------------------ test hooks
    @property
    def request_count(self):
        return len(self.request_log)

    def reset_log(self):
        with self.lock:
            self.request_log.clear()

    def requests_to(self, path, method=None):
        return [r for r in self.request_log if r["path"] == path and (method is None or r["method"] == method)]

    def fail_next(self, count=1, status=503, retry_after=None):
        """The next `count` requests answer `status` without being applied (with Retry-After if given)."""
        with self.lock:
            self._faults.extend({"kind": "5xx", "status": status, "retry_after": retry_after} for _ in range(count))

    def timeout_next(self, count=1, delay=2.0, applied=True):
        """The next `count` requests answer only after `delay` seconds; by default they are applied first."""
        with self.lock:
            self._faults.extend({"kind": "timeout", "delay": delay, "applied": applied} for _ in range(count))

    def slow_next(self, count=1, delay=0.2):
        """The next `count` requests are applied and answered after `delay` seconds."""
        with self.lock:
            self._faults.extend({"kind": "slow", "delay": delay} for _ in range(count))

    def storm(self, probability, kinds=("5xx", "timeout"), delay=1.0, seed=0):
        """Each request independently hits a random fault of `kinds` with `probability` (None stops the storm)."""
        with self.lock:
            self._storm = None if probability is None else {"p": probability, "kinds": kinds, "delay": delay}
            self._rng = random.Random(seed)

    def reset(self):
        """Forget every key, team, logged request and pending fault."""
        with self.lock:
            self.keys.clear()
            self.teams.clear()
            self.deprecated_keys.clear()
            self.request_log.clear()
            self._faults.clear()
            self._endpoint_faults.clear()
            self._storm = None
            self._down_after = None
            self.down = False
            self.creations = 0
            self.enforce_unique_alias = True
            self.premium = False

    def clear_faults(self):
        with self.lock:
            self._faults.clear()
            self._endpoint_faults.clear()
            self._storm = None
            self._down_after = None

    def fault_on(self, path, kind="5xx", count=1, status=503, delay=2.0, applied=True, method=None):
        """The next `count` requests to `path` (prefix match) get a fault of `kind` (5xx, timeout, slow)."""
        with self.lock:
            self._endpoint_faults.append({"path": path, "method": method, "remaining": count,
                                          "fault": {"kind": kind, "status": status, "delay": delay,
                                                    "applied": applied}})

    def down_after_creations(self, count, mode="refuse"):
        """After `count` more successful /key/generate, the gateway is down: mode refuse closes the listening
        socket (connection refused), mode reset accepts and closes connections without an answer."""
        with self.lock:
            self._down_after = (count, mode)

    def go_down(self, mode="refuse"):
        with self.lock:
            self.down = True
        if mode == "refuse" and self._server is not None:
            # from another thread: shutdown() waits for serve_forever, which may be running this very handler
            self._closer = threading.Thread(target=self._close_listener, daemon=True)
            self._closer.start()

    def _close_listener(self):
        server = self._server
        if server is not None:
            server.shutdown()
            server.server_close()

    def come_up(self, wipe=False):
        """Serve again on the same port; wipe=True forgets every key and team (a restart without its state)."""
        with self.lock:
            if wipe:
                self.keys.clear()
                self.teams.clear()
                self.deprecated_keys.clear()
            self.down = False
            self._down_after = None
        closer = getattr(self, "_closer", None)
        if closer is not None:
            closer.join(5)
            self._closer = None
        port = self.port
        if self._server is not None and self._server.socket.fileno() != -1:
            return self  # it never stopped listening (mode reset)
        for _ in range(50):
            try:
                self._port = port
                return self.start()
            except OSError:
                time.sleep(0.1)  # the old socket is still closing
        raise RuntimeError("cannot listen on port %d again" % port)

    def _endpoint_fault(self, method, path):
        for entry in self._endpoint_faults:
            if entry["remaining"] > 0 and path.startswith(entry["path"]) \
                    and entry["method"] in (None, method):
                entry["remaining"] -= 1
                return dict(entry["fault"])
        return None

    def _next_fault(self, method=None, path=None):
        with self.lock:
            fault = self._endpoint_fault(method, path) if path is not None else None
            if fault:
                return fault
            if self._faults:
                return self._faults.pop(0)
            if self._storm and self._rng.random() < self._storm["p"]:
                kind = self._rng.choice(self._storm["kinds"])
                return {"kind": kind, "status": self._rng.choice((500, 502, 503)), "delay": self._storm["delay"],
                        "applied": self._rng.random() < 0.5}
        return None

    def aliases(self):
        with self.lock:
            return [row["key_alias"] for row in self.keys.values()]

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps({"keys": self.keys, "teams": self.teams}, sort_keys=True))

    # direct seeding for tests and benchmarks (no HTTP)
    def seed_key(self, **fields):
        with self.lock:
            return self._generate(validate(GenerateKeyRequest, fields), check_alias=False)

    # ------------------------------------------------------------ dispatch
    def handle(self, method, path, query, body, headers):
        fault = self._next_fault(method, path)
        if fault and fault["kind"] == "5xx":
            answer = {"error": {"message": "EMULATOR injected fault", "type": "internal_server_error",
                                "param": None, "code": str(fault["status"])}}
            if fault.get("retry_after") is not None:
                answer["_retry_after"] = str(fault["retry_after"])
            return fault["status"], answer, 0.0
        if fault and fault["kind"] == "timeout" and not fault.get("applied", True):
            return 504, {"detail": "EMULATOR injected timeout"}, fault["delay"]
        status, answer = self._route(method, path, query, body, headers)
        delay = fault["delay"] if fault else 0.0
        return status, answer, delay

    def _route(self, method, path, query, body, headers):
        auth = headers.get("Authorization", "") or ""
        token = auth[7:] if auth.lower().startswith("bearer ") else headers.get("x-litellm-api-key")
        if token != self.master_key:
            shown = (token[:5] + "..." + token[-4:]) if token else "None"
            return 401, {"error": {"message": "Authentication Error, Invalid proxy server token passed. "
                                              "Received API Key = %s" % shown,
                                   "type": "auth_error", "param": "None", "code": "401"}}
        routes = {
            ("GET", "/key/list"): self.key_list,
            ("GET", "/key/info"): self.key_info,
            ("POST", "/key/generate"): self.key_generate,
            ("POST", "/key/update"): self.key_update,
            ("POST", "/key/delete"): self.key_delete,
            ("GET", "/model/info"): self.model_info,
            ("GET", "/team/info"): self.team_info,
            ("POST", "/team/new"): self.team_new,
            ("POST", "/team/update"): self.team_update,
            ("POST", "/team/delete"): self.team_delete,
            ("POST", "/team/member_add"): self.team_member_add,
            ("POST", "/team/member_delete"): self.team_member_delete,
            ("POST", "/team/member_update"): self.team_member_update,
        }
        handler = routes.get((method, path))
        if handler is None and method == "POST" and (path == "/key/regenerate"
                                                     or path.startswith("/key/") and path.endswith("/regenerate")):
            key_in_path = path[len("/key/"):-len("/regenerate")] or None
            handler = lambda q, b: self.key_regenerate(key_in_path, b)  # noqa: E731
        if handler is None:
            return 404, {"detail": "Not Found"}
        try:
            with self.lock:
                answer = handler(query, body)
                if path == "/key/generate":
                    self._count_creation()
                return 200, answer
        except ApiError as exc:
            return exc.status, exc.body

    def _count_creation(self):
        self.creations += 1
        if self._down_after is not None:
            left, mode = self._down_after
            left -= 1
            self._down_after = (left, mode) if left > 0 else None
            if left <= 0:
                # this creation is applied and answered; every later request finds the gateway down
                self.go_down(mode)

    # ------------------------------------------------------------ keys
    @staticmethod
    def _public_row(row):
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def _find_alias(self, alias, exclude=None):
        return [r for t, r in self.keys.items() if r["key_alias"] == alias and t != exclude]

    @staticmethod
    def _move_metadata_fields(data, metadata):
        for field in METADATA_FIELDS:
            if data.get(field) is not None:
                metadata[field] = data.pop(field)
            else:
                data.pop(field, None)
        return metadata

    @staticmethod
    def _check_budget(data):
        mb = data.get("max_budget")
        if mb is not None and (mb != mb or mb < 0 or mb == float("inf")):
            raise detail_error(400, {"error": "max_budget must be a non-negative finite number. Received: %s" % mb})
        error = budget_duration_error(data.get("budget_duration"))
        if error:
            raise proxy_error(400, error, param="budget_duration")

    def key_generate(self, query, body):
        return self._generate(validate(GenerateKeyRequest, body))

    def _generate(self, req, check_alias=True):
        data = req.model_dump(exclude_unset=True, exclude_none=True)
        self._check_budget(data)
        alias = data.get("key_alias")
        if alias is not None and ("\n" in alias or "\t" in alias or ".." in alias):
            raise proxy_error(400, 'Invalid key_alias: must not contain control characters (such as tab or newline) '
                                   'or a ".." path segment', param="key_alias")
        if check_alias and self.enforce_unique_alias and alias is not None and self._find_alias(alias):
            raise proxy_error(400, "Key with alias '%s' already exists. Unique key aliases across all keys are "
                                   "required." % alias, param="key_alias")
        team_id = data.get("team_id")
        if team_id is not None and team_id not in self.teams:
            # LiteLLM lets a proxy admin create a key for an unknown team; keep that behaviour
            pass
        raw = data.pop("key", None)
        if raw is not None:
            self._check_custom_key(raw, "Invalid key format. LiteLLM Virtual Key")
        raw = raw or "sk-" + secrets.token_urlsafe(16)
        token = hash_token(raw)
        if token in self.keys:
            # the token is the table's primary key: Prisma's unique constraint error, answered as a 500
            raise proxy_error(500, "Unique constraint failed on the fields: (`token`)", type_="internal_server_error")
        metadata = self._move_metadata_fields(data, dict(data.pop("metadata", None) or {}))
        expires = None
        if data.get("duration"):
            expires = (datetime.now(timezone.utc)
                       + timedelta(seconds=duration_in_seconds(data["duration"]))).isoformat()
        self._seq += 1
        created = now_iso()
        row = {
            "token": token,
            "key_name": "sk-...%s" % raw[-4:],
            "key_alias": alias,
            "spend": 0.0,
            "expires": expires,
            "models": data.get("models", []),
            "aliases": {},
            "config": {},
            "user_id": data.get("user_id"),
            "team_id": team_id,
            "permissions": {},
            "max_parallel_requests": data.get("max_parallel_requests"),
            "metadata": metadata,
            "blocked": data.get("blocked"),
            "tpm_limit": data.get("tpm_limit"),
            "rpm_limit": data.get("rpm_limit"),
            "max_budget": data.get("max_budget"),
            "budget_duration": data.get("budget_duration"),
            "budget_reset_at": None,
            "allowed_cache_controls": [],
            "model_spend": {},
            "model_max_budget": {},
            "soft_budget_cooldown": False,
            "organization_id": None,
            "object_permission_id": None,
            "created_at": created,
            "updated_at": created,
            "created_by": "default_user_id",
            "updated_by": "default_user_id",
            "_seq": self._seq,
        }
        self.keys[token] = row
        answer = self._public_row(row)
        answer.update({"key": raw, "token": token, "token_id": token, "key_type": "default"})
        return answer

    @staticmethod
    def _check_custom_key(raw, what):
        if not raw.startswith("sk-"):
            raise detail_error(400, {"error": "%s must start with 'sk-'." % what})
        if len(raw) < MINIMUM_CUSTOM_KEY_LENGTH:
            raise detail_error(400, {"error": "%s must be at least %d characters long."
                                     % (what, MINIMUM_CUSTOM_KEY_LENGTH)})

    def key_regenerate(self, key_in_path, body):
        req = validate(RegenerateKeyRequest, body) if body else RegenerateKeyRequest()
        if not self.premium:
            # litellm 1.108 regenerate_key_fn: ValueError -> handle_exception_on_proxy -> 500
            raise proxy_error(500, "Regenerating Virtual Keys is an Enterprise feature, %s"
                              % CommonProxyErrors.not_premium_user.value, type_="internal_server_error",
                              param="None")
        key = req.key or key_in_path
        if not key:
            raise detail_error(400, {"error": "No key passed in."})
        old_token = hash_token(key) if "sk" in key else key
        row = self.keys.get(old_token)
        if row is None:
            raise detail_error(404, {"error": "Key %s not found." % key})
        if req.new_key is not None:
            self._check_custom_key(req.new_key, "New key")
        raw = req.new_key or "sk-" + secrets.token_urlsafe(16)
        new_token = hash_token(raw)
        data = req.model_dump(exclude_unset=True, exclude_none=True)
        for field in ("key", "new_key", "new_master_key", "grace_period"):
            data.pop(field, None)
        self._check_budget(data)
        if "metadata" in data:
            row["metadata"] = self._move_metadata_fields(data, dict(data.pop("metadata")))
        else:
            self._move_metadata_fields(data, row["metadata"])
        for field, value in data.items():
            if field in row and field not in ("token", "created_at"):
                row[field] = value
        del self.keys[old_token]
        row.update(token=new_token, key_name="sk-...%s" % raw[-4:], updated_at=now_iso())
        self.keys[new_token] = row
        if req.grace_period:
            revoke_at = datetime.now(timezone.utc) + timedelta(seconds=duration_in_seconds(req.grace_period))
            self.deprecated_keys[old_token] = {"active_token": new_token, "revoke_at": revoke_at.isoformat()}
        answer = self._public_row(row)
        answer.pop("token")
        answer.update({"key": raw, "token_id": new_token})
        return answer

    def _lookup(self, key=None, alias=None):
        if key is not None:
            row = self.keys.get(hash_token(key) if key.startswith("sk-") else key)
            if row is None:
                raise proxy_error(404, "Key not found in database", type_="not_found_error", param="key")
            return row
        rows = self._find_alias(alias)
        if not rows:
            raise proxy_error(404, "Key not found. No key with key_alias='%s'." % alias, type_="not_found_error",
                              param="key_alias")
        if len(rows) > 1:
            raise proxy_error(400, "Multiple keys share key_alias='%s', so it cannot be used as an identifier."
                              % alias, param="key_alias")
        return rows[0]

    def key_info(self, query, body):
        key = query.get("key")
        if not key:
            raise proxy_error(404, "Key not found in database", type_="not_found_error", param="key")
        row = self._lookup(key=key)
        info = self._public_row(row)
        info.pop("token")
        info["status"] = "revoked" if row.get("blocked") else "active"
        return {"key": key, "info": info}

    def key_list(self, query, body):
        try:
            page = int(query.get("page", 1))
            size = int(query.get("size", 10))
        except ValueError:
            raise detail_error(422, [{"type": "int_parsing", "loc": ["query", "page"], "msg": "Input should be a "
                                      "valid integer"}]) from None
        if page < 1:
            raise detail_error(422, [{"type": "greater_than_equal", "loc": ["query", "page"],
                                      "msg": "Input should be greater than or equal to 1"}])
        if not 1 <= size <= 100:
            raise detail_error(422, [{"type": "less_than_equal", "loc": ["query", "size"],
                                      "msg": "Input should be less than or equal to 100"}])
        rows = list(self.keys.values())
        for field in ("key_alias", "team_id", "user_id"):
            if query.get(field) is not None:
                rows = [r for r in rows if r.get(field) == query[field]]
        if query.get("key_hash") is not None:
            rows = [r for r in rows if r["token"] == query["key_hash"]]
        rows.sort(key=lambda r: (r["created_at"], r["_seq"]), reverse=True)
        total = len(rows)
        chunk = rows[(page - 1) * size: page * size]
        full = str(query.get("return_full_object", "false")).lower() == "true"
        keys = []
        for r in chunk:
            if full:
                obj = self._public_row(r)
                obj["api_key"] = r["token"]
                keys.append(obj)
            else:
                keys.append(r["token"])
        return {"keys": keys, "total_count": total, "current_page": page, "total_pages": -(-total // size)}

    def key_update(self, query, body):
        req = validate(UpdateKeyRequest, body)
        data = req.model_dump(exclude_unset=True)
        row = self._lookup(key=req.key, alias=None if req.key else req.key_alias)
        data.pop("key", None)
        if req.key is None:
            data.pop("key_alias", None)
        self._check_budget({k: v for k, v in data.items() if v is not None})
        new_alias = data.get("key_alias")
        if (new_alias is not None and self.enforce_unique_alias
                and self._find_alias(new_alias, exclude=row["token"])):
            raise proxy_error(400, "Key with alias '%s' already exists. Unique key aliases across all keys are "
                                   "required." % new_alias, param="key_alias")
        metadata = dict(data["metadata"]) if data.get("metadata") is not None else dict(row["metadata"] or {})
        data.pop("metadata", None)
        self._move_metadata_fields(data, metadata)
        row["metadata"] = metadata
        if data.get("duration"):
            row["expires"] = (datetime.now(timezone.utc)
                              + timedelta(seconds=duration_in_seconds(data.pop("duration")))).isoformat()
        for field, value in data.items():
            if field in row and field not in ("token", "created_at"):
                row[field] = value
        row["updated_at"] = now_iso()
        answer = self._public_row(row)
        answer.pop("token")
        return {"key": req.key or row["token"], **answer}

    def key_delete(self, query, body):
        req = validate(KeyRequest, body)
        if req.keys:
            tokens = [hash_token(k) if k.startswith("sk-") else k for k in req.keys]
            found = [t for t in tokens if t in self.keys]
            deleted = req.keys
        else:
            found = [t for t, r in self.keys.items() if r["key_alias"] in req.key_aliases]
            deleted = req.key_aliases
        if not found:
            raise proxy_error(404, "{'error': 'No keys found'}", type_="internal_server_error", param="None")
        for t in found:
            del self.keys[t]
        return {"deleted_keys": deleted}

    def model_info(self, query, body):
        return {"data": [{"model_name": m, "litellm_params": {"model": "openai/" + m},
                          "model_info": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, m)), "db_model": False}}
                         for m in self.models]}

    # ------------------------------------------------------------ teams
    def _team(self, team_id):
        team = self.teams.get(team_id)
        if team is None:
            raise proxy_error(404, "{'message': 'Team not found, passed team id: %s.'}" % team_id,
                              type_="auth_error", param="None")
        return team

    def team_info(self, query, body):
        team_id = query.get("team_id")
        if not team_id:
            raise proxy_error(422, "{'message': 'Malformed request. No team id passed in.'}", type_="auth_error")
        team = self._team(team_id)
        keys = [{k: v for k, v in self._public_row(r).items() if k != "token"}
                for r in self.keys.values() if r["team_id"] == team_id]
        return {"team_id": team_id, "team_info": dict(team), "keys": keys, "team_memberships": []}

    def team_new(self, query, body):
        req = validate(NewTeamRequest, body)
        data = req.model_dump(exclude_unset=True, exclude_none=True)
        self._check_budget(data)
        team_id = data.get("team_id") or str(uuid.uuid4())
        if team_id in self.teams:
            raise detail_error(400, {"error": "Team id = %s already exists. Please use a different team id." % team_id})
        members = [m for m in (data.get("members_with_roles") or [])]
        metadata = dict(data.get("metadata") or {})
        for field in ("guardrails", "tags", "model_rpm_limit", "model_tpm_limit"):
            if data.get(field) is not None:
                metadata[field] = data[field]
        created = now_iso()
        team = {
            "team_id": team_id,
            "team_alias": data.get("team_alias"),
            "organization_id": data.get("organization_id"),
            "admins": [],
            "members": [],
            "members_with_roles": members,
            "metadata": metadata,
            "tpm_limit": data.get("tpm_limit"),
            "rpm_limit": data.get("rpm_limit"),
            "max_budget": data.get("max_budget"),
            "budget_duration": data.get("budget_duration"),
            "models": data.get("models", []),
            "blocked": data.get("blocked", False),
            "spend": 0.0,
            "max_parallel_requests": None,
            "budget_reset_at": None,
            "model_id": None,
            "created_at": created,
            "updated_at": created,
        }
        self.teams[team_id] = team
        return dict(team)

    def team_update(self, query, body):
        req = validate(UpdateTeamRequest, body)
        data = req.model_dump(exclude_unset=True)
        team = self._team(req.team_id)
        self._check_budget({k: v for k, v in data.items() if v is not None})
        for field, value in data.items():
            if field in team and field != "team_id":
                team[field] = value
        team["updated_at"] = now_iso()
        return {"team_id": req.team_id, "data": dict(team)}

    def team_delete(self, query, body):
        req = validate(DeleteTeamRequest, body)
        for team_id in req.team_ids:
            self._team(team_id)
        for team_id in req.team_ids:
            del self.teams[team_id]
            for row in self.keys.values():
                if row["team_id"] == team_id:
                    row["team_id"] = None
        return {"deleted_teams": req.team_ids}

    def team_member_add(self, query, body):
        req = validate(TeamMemberAddRequest, body)
        team = self._team(req.team_id)
        members = req.member if isinstance(req.member, list) else [req.member]
        for m in members:
            if any(x.get("user_id") == m.user_id for x in team["members_with_roles"]):
                raise proxy_error(400, "User=%s already in team. Existing members=%s"
                                  % (m.user_id, team["members_with_roles"]), param="member")
            team["members_with_roles"].append({"user_id": m.user_id, "user_email": m.user_email, "role": m.role})
        return dict(team, updated_users=[], updated_team_memberships=[])

    def team_member_delete(self, query, body):
        req = validate(TeamMemberDeleteRequest, body)
        team = self._team(req.team_id)
        before = len(team["members_with_roles"])
        team["members_with_roles"] = [m for m in team["members_with_roles"] if m.get("user_id") != req.user_id]
        if len(team["members_with_roles"]) == before:
            raise detail_error(400, {"error": "User=%s not found in team" % req.user_id})
        return dict(team)

    def team_member_update(self, query, body):
        req = validate(TeamMemberUpdateRequest, body)
        team = self._team(req.team_id)
        for m in team["members_with_roles"]:
            if m.get("user_id") == req.user_id:
                if req.role is not None:
                    m["role"] = req.role
                return {"team_id": req.team_id, "user_id": req.user_id, "user_email": m.get("user_email")}
        raise detail_error(400, {"error": "User=%s not found in team" % req.user_id})


class _Handler(BaseHTTPRequestHandler):
    emu = None
    server_version = "litellm-management-api-EMULATOR"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the delayed-ACK stall

    def log_message(self, fmt, *args):
        if self.emu.verbose:
            sys.stderr.write("%s %s\n" % (BANNER, fmt % args))

    def _serve(self, method):
        if self.emu.down:
            # a gateway that is down: close without an answer (the client sees a reset / remote disconnect)
            self.close_connection = True
            return
        parsed = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(422, {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]})
                return
        with self.emu.lock:
            self.emu.request_log.append({"method": method, "path": parsed.path, "query": query, "body": body})
        status, answer, delay = self.emu.handle(method, parsed.path, query, body if body is not None else {},
                                                self.headers)
        if delay:
            time.sleep(delay)
        self._send(status, answer)

    def _send(self, status, answer):
        retry_after = answer.pop("_retry_after", None) if isinstance(answer, dict) else None
        payload = json.dumps(answer).encode()
        try:
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Emulator", "litellm-management-api")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout fault): its answer is lost, as in real life

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    port = int(argv[0]) if argv else 0
    master_key = os.environ.get("LITELLM_MASTER_KEY", DEFAULT_MASTER_KEY)
    emu = LiteLLMEmulator(port=port, master_key=master_key, verbose=True).start()
    print("%s listening on %s (master key from LITELLM_MASTER_KEY or the default test key); this is not LiteLLM"
          % (BANNER, emu.url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("%s stopped" % BANNER, flush=True)
    finally:
        emu.stop()


if __name__ == "__main__":
    main()


def run_module(module, args, check_mode=False, diff=False):
    """Run an Ansible module's main() with `args` (ansible-core 2.19 patch_module_args); return its JSON result.

    A test helper living next to the emulator so every litellm test drives modules the same way.
    """
    import contextlib
    import io

    from ansible.module_utils.testing import patch_module_args

    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        module.main()
    text = out.getvalue()
    return json.loads(text[text.index("{"):])
