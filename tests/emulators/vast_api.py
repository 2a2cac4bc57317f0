# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Vast.ai API EMULATOR for unit tests: a threaded http.server on 127.0.0.1 (ephemeral port), not the real API.

What it covers, and where the shapes were checked (stored copies of vast-ai/docs and vast-ai/vast-cli, 2026):

- ``POST /api/v0/bundles/`` (and ``GET /api/v0/bundles/?q=<json>``): query object of ``field: {op: value}``
  with ops eq, neq, gt, gte, lt, lte, in, notin plus the special keys ``order`` ([[field, "asc"|"desc"]]),
  ``type`` and ``limit``; answer ``{"offers": [...]}``; a non-dict query answers 400
  "Invalid query: must be dict of conditions".
  Checked: docs ``api-reference/creating-instances-with-api.mdx`` (POST body example),
  ``api-reference/openapi/yaml/auto_get_api_v0_bundles_*.yaml`` (operators, offer fields id, gpu_name,
  num_gpus, dph_total, reliability, gpu_ram in MB, disk_space in GB), vast-cli ``vast.py`` ``offers_fields``
  and ``search__offers`` (rentable/rented/verified/external defaults, order format).
- ``PUT /api/v0/asks/{offer_id}/``: body image, label, disk, runtype, env (dict), onstart, vm, client_id;
  answer ``{"success": true, "new_contract": <instance id>}``.
  Checked: docs ``creating-instances-with-api.mdx`` (fields table, ``new_contract``), vast-cli ``create__instance``.
- ``GET /api/v0/instances/?owner=me``: ``{"instances_found": n, "instances": [...]}``;
  ``GET /api/v0/instances/{id}/``: ``{"instances": {...} | null}``.
  Checked: OpenAPI ``auto_get_api_v0_instances_*.yaml`` and vast-cli ``show__instances``/``instance_fields``
  (id, machine_id, actual_status, num_gpus, gpu_name, ssh_host, ssh_port, dph_total, image_uuid, label,
  reliability2, ...). ``ports`` uses the Docker map shape {"22/tcp": [{"HostIp", "HostPort"}]} as seen in
  public client code reading the real API.
- ``PUT /api/v0/instances/{id}/`` with ``{"label": ...}``: ``{"success": true}`` (vast-cli ``label__instance``).
- ``DELETE /api/v0/instances/{id}/``: ``{"success": true}``; unknown id answers 404
  ``{"success": false, "error": "no_such_instance", "msg": "Instance {id} not found."}``
  (OpenAPI ``auto_delete_api_v0_instances_id_*.yaml``).

Not checked against the real service (assumptions, kept simple on purpose): the exact body of a 401 for a bad
key (here ``{"success": false, "error": "auth_error", "msg": ...}``), the error body when renting an offer that
is gone, and the status sequence while starting (here ``loading`` for ``loading_polls`` reads of the instance,
then ``running``; ``stuck_in_loading=True`` never leaves ``loading``).

Fault injection: ``fail_next(status, times, path_prefix)`` answers the next matching requests with that status;
``drop_next(times)`` closes the connection without an answer (a transport error for the client).
"""

import contextlib
import copy
import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

DEFAULT_OFFERS = [
    {"id": 1001, "machine_id": 501, "gpu_name": "RTX 4090", "num_gpus": 2, "gpu_ram": 24564, "dph_total": 0.82,
     "reliability": 0.995, "disk_space": 400.0, "cuda_max_good": 12.8, "driver_version": "570.124.04",
     "verified": True, "verification": "verified", "rentable": True, "rented": False, "external": False,
     "vms_enabled": True, "geolocation": "Germany, DE", "public_ipaddr": "203.0.113.11"},
    {"id": 1002, "machine_id": 502, "gpu_name": "RTX 4090", "num_gpus": 2, "gpu_ram": 24564, "dph_total": 0.64,
     "reliability": 0.991, "disk_space": 250.0, "cuda_max_good": 12.4, "driver_version": "550.54.15",
     "verified": True, "verification": "verified", "rentable": True, "rented": False, "external": False,
     "vms_enabled": True, "geolocation": "Netherlands, NL", "public_ipaddr": "203.0.113.12"},
    {"id": 1003, "machine_id": 503, "gpu_name": "RTX 4090", "num_gpus": 2, "gpu_ram": 24564, "dph_total": 0.40,
     "reliability": 0.90, "disk_space": 500.0, "cuda_max_good": 12.8, "driver_version": "570.124.04",
     "verified": True, "verification": "verified", "rentable": True, "rented": False, "external": False,
     "vms_enabled": False, "geolocation": "Poland, PL", "public_ipaddr": "203.0.113.13"},
    {"id": 1004, "machine_id": 504, "gpu_name": "L40S", "num_gpus": 1, "gpu_ram": 46068, "dph_total": 0.95,
     "reliability": 0.998, "disk_space": 800.0, "cuda_max_good": 12.8, "driver_version": "570.124.04",
     "verified": True, "verification": "verified", "rentable": True, "rented": False, "external": False,
     "vms_enabled": True, "geolocation": "United States, US", "public_ipaddr": "203.0.113.14"},
    {"id": 1005, "machine_id": 505, "gpu_name": "RTX 3090", "num_gpus": 1, "gpu_ram": 24576, "dph_total": 0.21,
     "reliability": 0.985, "disk_space": 120.0, "cuda_max_good": 12.2, "driver_version": "535.104.05",
     "verified": False, "verification": "unverified", "rentable": True, "rented": False, "external": False,
     "vms_enabled": False, "geolocation": "Canada, CA", "public_ipaddr": "203.0.113.15"},
]

_OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_SPECIAL_KEYS = {"order", "type", "limit", "disable_bundling", "allocated_storage"}


class VastAPIEmulator:
    """Vast.ai API EMULATOR. Use as a context manager; ``url`` is the base to give as api_url."""

    def __init__(self, api_key="emulator-key", offers=None, loading_polls=1, stuck_in_loading=False):
        self.api_key = api_key
        self.offers = copy.deepcopy(DEFAULT_OFFERS if offers is None else offers)
        self.loading_polls = loading_polls
        self.stuck_in_loading = stuck_in_loading
        self.instances = {}
        self.requests = []  # (method, path, body) of every request that passed the fault layer
        self._ids = itertools.count(7000001)
        self._faults = []  # [status, remaining, path_prefix]
        self._drops = 0
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self):
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vast-api-emulator", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % (host, port)

    # -- fault injection ---------------------------------------------------------------------------------

    def fail_next(self, status, times=1, path_prefix="", retry_after=None):
        """The next `times` requests under path_prefix answer `status` (with a Retry-After header if given)."""
        with self._lock:
            self._faults.append([status, times, path_prefix, retry_after])

    def drop_next(self, times=1):
        with self._lock:
            self._drops += times

    def _take_fault(self, path):
        with self._lock:
            if self._drops:
                self._drops -= 1
                return "drop"
            for fault in self._faults:
                status, remaining, prefix, retry_after = fault
                if remaining > 0 and path.startswith("/api/v0" + prefix):
                    fault[1] -= 1
                    return status, retry_after
        return None

    # -- state -------------------------------------------------------------------------------------------

    def add_instance(self, label, actual_status="running", **fields):
        """Seed an instance directly (as if rented earlier, possibly by hand)."""
        offer = dict(self.offers[0])
        with self._lock:
            instance = self._new_instance(offer, {"label": label, "image": "ubuntu:22.04", "runtype": "ssh_direct"})
            instance["actual_status"] = actual_status
            if actual_status == "running":
                self._make_running(instance)
            instance.update(fields)
        return instance

    def _new_instance(self, offer, body):
        iid = next(self._ids)
        idx = iid % 20
        instance = {
            "id": iid,
            "machine_id": offer.get("machine_id"),
            "label": body.get("label"),
            "actual_status": "loading",
            "intended_status": "running",
            "cur_state": "running",
            "next_state": "running",
            "status_msg": "Pulling image %s" % (body.get("image") or ""),
            "image_uuid": body.get("image"),
            "image_runtype": body.get("runtype"),
            "onstart": body.get("onstart"),
            "extra_env": [[k, v] for k, v in sorted((body.get("env") or {}).items())],
            "gpu_name": offer.get("gpu_name"),
            "num_gpus": offer.get("num_gpus"),
            "gpu_ram": offer.get("gpu_ram"),
            "gpu_totalram": (offer.get("gpu_ram") or 0) * (offer.get("num_gpus") or 0),
            "cuda_max_good": offer.get("cuda_max_good"),
            "driver_version": offer.get("driver_version"),
            "dph_total": offer.get("dph_total"),
            "disk_space": body.get("disk"),
            "reliability2": offer.get("reliability"),
            "geolocation": offer.get("geolocation"),
            "public_ipaddr": offer.get("public_ipaddr"),
            "ssh_idx": str(idx),
            "ssh_host": "ssh%d.vast.ai" % idx,
            "ssh_port": 10000 + iid % 50000,
            "ports": {},
            "vm": bool(body.get("vm")),
            "start_date": 1767225600.0,
            "_reads": 0,
            "_env": body.get("env") or {},
        }
        self.instances[iid] = instance
        return instance

    @staticmethod
    def _make_running(instance):
        instance["actual_status"] = "running"
        instance["status_msg"] = "success, running %s" % (instance.get("image_uuid") or "")
        base = 40000 + instance["id"] % 10000
        ports = {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(base)}]}
        for n, key in enumerate(sorted(instance.get("_env") or {})):
            m = re.match(r"^-p\s+(\d+):(\d+)(/udp|/tcp)?$", key.strip())
            if m:
                proto = (m.group(3) or "/tcp")[1:]
                ports["%s/%s" % (m.group(2), proto)] = [{"HostIp": "0.0.0.0", "HostPort": str(base + 1 + n)}]
        instance["ports"] = ports

    def _read(self, instance):
        """Every read of an instance advances the start-up state machine."""
        instance["_reads"] += 1
        if (instance["actual_status"] == "loading" and not self.stuck_in_loading
                and instance["_reads"] > self.loading_polls):
            self._make_running(instance)
        return {k: v for k, v in instance.items() if not k.startswith("_")}

    # -- endpoints ---------------------------------------------------------------------------------------

    def handle(self, method, path, query, body):
        if method in ("POST", "GET") and path == "/api/v0/bundles/":
            if method == "GET":
                try:
                    body = json.loads(query.get("q", ["{}"])[0])
                except ValueError:
                    return 400, {"error": "invalid_args", "msg": "Invalid json body"}
            return self._search(body)
        m = re.match(r"^/api/v0/asks/(\d+)/$", path)
        if m and method == "PUT":
            return self._create(int(m.group(1)), body)
        if path == "/api/v0/instances/" and method == "GET":
            with self._lock:
                rows = [self._read(i) for i in self.instances.values()]
            return 200, {"instances_found": len(rows), "instances": rows}
        m = re.match(r"^/api/v0/instances/([^/]+)/$", path)
        if m:
            if not m.group(1).isdigit():
                return 400, {"success": False, "error": "invalid_args", "msg": "invalid instance_id"}
            iid = int(m.group(1))
            with self._lock:
                instance = self.instances.get(iid)
                if method == "GET":
                    return 200, {"instances": self._read(instance) if instance else None}
                if instance is None:
                    return 404, {"success": False, "error": "no_such_instance", "msg": "Instance %d not found." % iid}
                if method == "PUT":
                    if not isinstance(body, dict):
                        return 400, {"success": False, "error": "invalid_args", "msg": "Invalid json body"}
                    if "label" in body:
                        instance["label"] = body["label"]
                    return 200, {"success": True}
                if method == "DELETE":
                    del self.instances[iid]
                    return 200, {"success": True}
        return 404, {"success": False, "error": "not_found", "msg": "No route for %s %s (emulator)" % (method, path)}

    def _search(self, query):
        if not isinstance(query, dict):
            return 400, {"error": "invalid_args", "msg": "Invalid query: must be dict of conditions"}
        for field, cond in query.items():
            if field in _SPECIAL_KEYS:
                continue
            if not isinstance(cond, dict) or any(op not in _OPS for op in cond):
                return 400, {"error": "invalid_args", "msg": "Invalid query condition for %s: %r" % (field, cond)}
        with self._lock:
            rows = [o for o in self.offers if self._matches(o, query)]
        for field, direction in reversed(query.get("order") or []):
            rows.sort(key=lambda o, f=field: (o.get(f) is None, o.get(f)), reverse=(direction == "desc"))
        limit = query.get("limit")
        if limit:
            rows = rows[: int(limit)]
        return 200, {"offers": copy.deepcopy(rows)}

    @staticmethod
    def _matches(offer, query):
        for field, cond in query.items():
            if field in _SPECIAL_KEYS:
                continue
            value = offer.get(field)
            for op, target in cond.items():
                if not _OPS[op](value, target):
                    return False
        return True

    def _create(self, offer_id, body):
        if not isinstance(body, dict):
            return 400, {"success": False, "error": "invalid_args", "msg": "Invalid json body"}
        if not (body.get("image") or body.get("template_hash_id")):
            return 400, {"success": False, "error": "invalid_args", "msg": "image or template_hash_id is required"}
        if body.get("env") is not None and not isinstance(body["env"], dict):
            return 400, {"success": False, "error": "invalid_args", "msg": "env must be an object"}
        with self._lock:
            offer = next((o for o in self.offers if o["id"] == offer_id), None)
            if offer is None or offer.get("rented"):
                return 400, {"success": False, "error": "invalid_args",
                             "msg": "Offer %d is no longer available." % offer_id}
            if body.get("vm") and not offer.get("vms_enabled"):
                return 400, {"success": False, "error": "invalid_args", "msg": "Offer %d does not host VMs." % offer_id}
            offer["rented"] = True
            instance = self._new_instance(offer, body)
        return 200, {"success": True, "new_contract": instance["id"]}


class _Handler(BaseHTTPRequestHandler):
    emulator = None
    server_version = "VastAPIEmulator/1.0"

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def _dispatch(self, method):
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fault = self.emulator._take_fault(parsed.path)
        if fault == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        if fault:
            status, retry_after = fault
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return self._send(status, {"success": False, "error": "emulated_fault", "msg": "Injected HTTP %d" % status},
                              headers)
        if self.headers.get("Authorization") != "Bearer %s" % self.emulator.api_key:
            return self._send(401, {"success": False, "error": "auth_error", "msg": "Invalid user key (emulator)"})
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._send(400, {"error": "invalid_args", "msg": "Invalid json body"})
        self.emulator.requests.append((method, parsed.path, body))
        status, answer = self.emulator.handle(method, parsed.path, parse_qs(parsed.query), body)
        self._send(status, answer)

    def _send(self, status, payload, headers=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")


if __name__ == "__main__":  # manual poking: python tests/emulators/vast_api.py
    import time

    with VastAPIEmulator() as emu:
        print("Vast API EMULATOR on %s (api key %r); Ctrl-C to stop" % (emu.url, emu.api_key))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
