"""A small secret-shape scanner for the rendered trees and the repository's tracked files."""

import base64
import re
from pathlib import Path

import yaml

# Each pattern describes a value, never a placeholder: references like $VAR, {{ var }} or secretKeyRef pass.
PATTERNS = {
    "openai-style key": re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "Slack token": re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"),
    "password in URL": re.compile(r"://[^/\s:@]+:[^/\s@{}$<]{6,}@"),
}
SECRET_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|MASTER_KEY|SALT)", re.I)
PLACEHOLDER = re.compile(r"^(\$\{?\w+\}?|\{\{.*\}\}|<[^>]+>|os\.environ/\w+|replace-with-.*|changeme-in-.*|)$")


def _walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
        if isinstance(node.get("name"), str) and "value" in node and not isinstance(node.get("value"), (dict, list)):
            yield ("env", path, node)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")


def scan_text(text, origin):
    findings = []
    for label, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            findings.append(f"{origin}: {label}: {match.group(0)[:12]}...")
    return findings


def scan_object(obj, origin):
    findings = []
    if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
        for key in {**(obj.get("data") or {}), **(obj.get("stringData") or {})}:
            findings.append(f"{origin}: Secret carries a value for {key!r}")
    for _, path, env in _walk(obj):
        name, value = env["name"], env.get("value")
        if SECRET_ENV.search(str(name)) and value is not None and not PLACEHOLDER.match(str(value)):
            findings.append(f"{origin}{path}: env {name} has an inline value")
    return findings


def looks_like_base64_secret(value):
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return len(decoded) >= 12


def scan_tree(root):
    findings = []
    for path in sorted(Path(root).rglob("*.yaml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        findings.extend(scan_text(text, str(path)))
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict):
                findings.extend(scan_object(doc, str(path)))
    return findings
