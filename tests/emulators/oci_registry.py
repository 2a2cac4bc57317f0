# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OCI registry EMULATOR for unit tests: a threaded http.server on 127.0.0.1 (ephemeral port), not a registry.

What it covers (the part of the contract tools/pin_image_digests.py uses), and where it was read:
- ``HEAD`` and ``GET /v2/<name>/manifests/<tag>``: 200 with Content-Type, Content-Length and Docker-Content-Digest
  (the sha256 of the manifest bytes), 404 with a MANIFEST_UNKNOWN error for an unknown name or tag
  (opencontainers/distribution-spec spec.md, "Pulling an image manifest" and "Existing Manifests").
- Anonymous token auth as the public registries run it: a request without a valid bearer answers 401 with
  ``WWW-Authenticate: Bearer realm="<base>/token",service="registry.emulator",scope="repository:<name>:pull"``;
  ``GET /token?service=...&scope=...`` answers ``{"token": ..., "access_token": ...}`` and the token is valid for
  that repository only (distribution/distribution docs/spec/auth/token.md, the flow docker, crane and skopeo use).

Fault injection: ``omit_head_digest`` (a registry whose HEAD carries no digest: the client must GET and hash);
``throttle_next(times)`` answers the next manifest requests 429 with Retry-After: 0.
"""

import hashlib
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INDEX = "application/vnd.oci.image.index.v1+json"


class OciRegistry:
    def __init__(self):
        self.manifests = {}  # (name, tag) -> bytes
        self.tokens = {}  # token -> repository name
        self.omit_head_digest = False
        self.throttled = 0
        self.requests = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def push(self, reference):
        """Store a deterministic image index under name:tag (a new push of the same tag moves its digest)."""
        name, tag = reference.rsplit(":", 1)
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [],
                           "annotations": {"push": str(len(self.manifests)), "ref": reference}},
                          sort_keys=True).encode()
        self.manifests[(name, tag)] = body
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def throttle_next(self, times):
        self.throttled = times

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body=b"", headers=None, send_body=True):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _serve(self, send_body):
                url = urllib.parse.urlsplit(self.path)
                registry.requests.append((self.command, url.path))
                if url.path == "/token":
                    query = dict(urllib.parse.parse_qsl(url.query))
                    repo = query.get("scope", "").split(":")[1] if query.get("scope", "").count(":") == 2 else ""
                    token = secrets.token_hex(8)
                    registry.tokens[token] = repo
                    return self._answer(200, json.dumps({"token": token, "access_token": token}).encode(),
                                        {"Content-Type": "application/json"})
                if not (url.path.startswith("/v2/") and "/manifests/" in url.path):
                    return self._answer(404, send_body=send_body)
                name, tag = url.path[len("/v2/"):].split("/manifests/", 1)
                auth = self.headers.get("Authorization", "")
                if registry.tokens.get(auth.removeprefix("Bearer ")) != name:
                    challenge = (f'Bearer realm="{registry.url}/token",service="registry.emulator",'
                                 f'scope="repository:{name}:pull"')
                    return self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                        {"WWW-Authenticate": challenge}, send_body)
                if registry.throttled:
                    registry.throttled -= 1
                    return self._answer(429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}', {"Retry-After": "0"},
                                        send_body)
                body = registry.manifests.get((name, tag))
                if body is None:
                    return self._answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}',
                                        {"Content-Type": "application/json"}, send_body)
                headers = {"Content-Type": INDEX}
                if send_body or not registry.omit_head_digest:
                    headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
                return self._answer(200, body, headers, send_body)

            def do_GET(self):  # noqa: N802 - http.server API
                self._serve(send_body=True)

            def do_HEAD(self):  # noqa: N802 - http.server API
                self._serve(send_body=False)

        return Handler
