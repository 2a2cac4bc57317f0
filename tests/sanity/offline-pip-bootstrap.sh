#!/usr/bin/env bash
# ansible-test bootstraps pip in its sanity virtualenvs with a script it downloads from a host this network
# cannot reach; it accepts a pre-seeded copy in its cache. Ours uses ensurepip, then pins the pip it expects.
set -euo pipefail
cache="${HOME}/.ansible/test/cache"
mkdir -p "$cache"
for version in 24.2; do
  target="$cache/get_pip_${version//./_}.py"
  [ -f "$target" ] && continue
  cat >"$target" <<PY
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "pip==${version}"])
PY
done
