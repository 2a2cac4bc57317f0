#!/usr/bin/env bash
# ansible-test bootstraps pip in its sanity virtualenvs with a script it downloads from a host this network
# cannot reach; it accepts a pre-seeded copy in its cache. Ours uses ensurepip, then pins the pip it expects.
set -euo pipefail
version="${ANSIBLE_TEST_PIP_VERSION:-24.2}"   # the pip ansible-test 2.19 asks for
cache="${HOME}/.ansible/test/cache"
target="$cache/get_pip_${version//./_}.py"
mkdir -p "$cache"
[ -f "$target" ] && exit 0
cat >"$target" <<PY
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "pip==${version}"])
PY
