#!/usr/bin/env python3
"""Pin every image of playbooks/vars/versions.yml by digest as well as tag: `repo:tag@sha256:...`.

    python tools/pin_image_digests.py            # resolve each tag at its registry, write the digests
    python tools/pin_image_digests.py --check    # write nothing; exit 1 if an image is unpinned or its tag moved

Each tag is resolved with the OCI distribution API (HEAD /v2/<repository>/manifests/<tag>, the digest from the
Docker-Content-Digest header, or the sha256 of the manifest when a registry omits it), with the anonymous Bearer
token flow the public registries use (a 401 names the token realm in WWW-Authenticate). The digest is the one of
what the tag points at (an image index for multi-arch images), the value `docker pull repo:tag` verifies.
All tags are resolved before the file is touched: one failure writes nothing and names every image it could not
resolve. Only the image lines change; comments and layout stay. `--mirror docker.io=https://mirror.example`
resolves through a registry mirror (or, in the tests, the registry emulator).
"""

import argparse
import hashlib
import json
import re
import sys
import urllib.parse
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))  # the checkout as ansible_collections.llmaas.platform (make setup)
from ansible_collections.llmaas.platform.plugins.module_utils._http import (  # noqa: E402
    HttpUnreachable,
    RetryingHttp,
    RetryPolicy,
)

VERSIONS = ROOT / "playbooks" / "vars" / "versions.yml"
# What a pull accepts, index first, so the digest is the multi-arch one.
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
DOCKER_HUB = "registry-1.docker.io"
RETRIES = 2
TIMEOUT = 20
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse(reference):
    """(registry, repository, tag, digest or None) of an image reference."""
    name, _, digest = reference.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", name  # docker.io is implied
    repository, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if first == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    if not tag:
        raise ValueError(f"{reference}: no tag to resolve")
    return first, repository, tag, digest or None


def _token(http, challenge, repository):
    """An anonymous pull token from the realm a 401's `WWW-Authenticate: Bearer realm=...,service=...` names."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if not challenge.lower().startswith("bearer ") or "realm" not in fields:
        raise PermissionError(f"unsupported authentication challenge {challenge!r}")
    query = {"scope": fields.get("scope") or f"repository:{repository}:pull"}
    if fields.get("service"):
        query["service"] = fields["service"]
    answer = http.send("GET", f"{fields['realm']}?{urllib.parse.urlencode(query)}")
    if answer.status != 200:
        raise PermissionError(f"token endpoint {fields['realm']} answered {answer.status}")
    data = json.loads(answer.body)
    return data.get("token") or data["access_token"]


def resolve(http, reference, mirrors):
    registry, repository, tag, _ = parse(reference)
    base = mirrors.get(registry) or f"https://{DOCKER_HUB if registry == 'docker.io' else registry}"
    url = f"{base.rstrip('/')}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": ACCEPT}
    for method in ("HEAD", "GET"):  # GET when a registry's HEAD carries no digest
        answer = http.send(method, url, headers=headers)
        if answer.status == 401:
            headers["Authorization"] = f"Bearer {_token(http, answer.headers.get('WWW-Authenticate', ''), repository)}"
            answer = http.send(method, url, headers=headers)
        if answer.status != 200:
            raise LookupError(f"{url} answered {answer.status}")
        digest = answer.headers.get("Docker-Content-Digest")
        if digest is None and method == "GET":
            digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        if digest:
            if not DIGEST.fullmatch(digest):
                raise LookupError(f"{url}: digest {digest!r} is not a sha256 digest")
            return digest
    raise AssertionError("unreachable")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on an unpinned or moved tag")
    parser.add_argument("--file", type=Path, default=VERSIONS)
    parser.add_argument("--mirror", action="append", default=[], metavar="REGISTRY=URL")
    opts = parser.parse_args(argv)
    mirrors = dict(m.split("=", 1) for m in opts.mirror if "=" in m)
    if len(mirrors) != len(opts.mirror) or not all(u.startswith(("http://", "https://")) for u in mirrors.values()):
        parser.error(f"--mirror: got {opts.mirror}; allowed: REGISTRY=http(s)://HOST[:PORT]")
    text = opts.file.read_text()
    images = yaml.safe_load(text)["llmaas_images"]

    # the collection's one retry policy: 429/5xx and lost connections retried, Retry-After honoured, one budget
    http = RetryingHttp(RetryPolicy(retries=RETRIES), timeout=TIMEOUT)
    pinned, failures = {}, []
    for key, reference in sorted(images.items()):
        try:
            pinned[key] = (reference, f"{reference.partition('@')[0]}@{resolve(http, reference, mirrors)}")
        except HttpUnreachable as err:
            failures.append(f"llmaas_images.{key}: {reference}: registry unreachable ({err.reason})")
        except (ValueError, LookupError, PermissionError) as err:
            failures.append(f"llmaas_images.{key}: {err}")
    if failures:
        print("\n".join(failures) + f"\nnothing written to {opts.file}", file=sys.stderr)
        return 2

    moved = {key: pair for key, pair in pinned.items() if pair[0] != pair[1]}
    for key, (old, new) in sorted(moved.items()):
        print(f"llmaas_images.{key}: {old} -> {new}")
    if opts.check:
        return 1 if moved else 0
    for key, (old, new) in moved.items():
        line = re.compile(rf"^([ \t]+{re.escape(key)}:[ \t]+){re.escape(old)}[ \t]*$", re.MULTILINE)
        text, count = line.subn(lambda m, new=new: m.group(1) + new, text)
        if count != 1:
            print(f"llmaas_images.{key}: expected one line '{key}: {old}' in {opts.file}; nothing written",
                  file=sys.stderr)
            return 2
    if moved:
        opts.file.write_text(text)
    print(f"{len(moved)} of {len(pinned)} images updated in {opts.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
